using PaliGemma.Inference.Masks;
using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Tests.Masks;

/// <summary>Hand-worked placements: pixel (x, y) is in the box when its centre is; bilinear at pixel centres; logit &gt; 0.</summary>
public sealed class MaskPlacementTests
{
    [Fact]
    public void Positive_logits_fill_exactly_the_pixels_whose_centres_are_in_the_box()
    {
        // 10 wide, 8 tall; box x 2..6, y 1..5 -> columns 2..5, rows 1..4 (16 pixels).
        // Column-major runs: 2 empty columns (16) + row 0 of column 2 = 17 zeros; then per box column 4 ones and
        // 3 + 1 zeros between columns; after column 5: 3 + 4 x 8 = 35 zeros.
        var rle = MaskPlacement.Place(Filled(1f), 64, Box(2, 1, 6, 5), 10, 8);

        Assert.Equal(CocoRle.EncodeCounts([17, 4, 4, 4, 4, 4, 4, 4, 35]), rle.Counts);
        Assert.Equal((8, 10), (rle.Height, rle.Width));
        Assert.Equal(16, rle.Area);
    }

    [Fact]
    public void Negative_logits_give_an_empty_mask()
    {
        var rle = MaskPlacement.Place(Filled(-0.5f), 64, Box(2, 1, 6, 5), 10, 8);
        // One run of 80 = 16 + 2 x 32: low group 16 (its 0x10 bit would read as a sign, so a group must follow):
        // (16 | 0x20) + 48 = '`', then 2 -> '2'.
        Assert.Equal("`2", rle.Counts);
        Assert.Equal([80L], CocoRle.DecodeCounts(rle.Counts));
        Assert.Equal(0, rle.Area);
    }

    [Fact]
    public void Left_half_of_the_grid_maps_to_the_left_half_of_the_box()
    {
        // Grid columns 0..31 positive, 32..63 negative. Box 8 px wide from x = 0: pixel p samples grid column
        // (p + 0.5) / 8 * 64 - 0.5 = 8p + 3.5, so p = 0..3 land in 3.5..27.5 (positive), p = 4..7 in 35.5..59.5.
        var logits = new float[64 * 64];
        for (var r = 0; r < 64; r++)
        {
            for (var c = 0; c < 64; c++)
            {
                logits[(r * 64) + c] = c < 32 ? 1f : -1f;
            }
        }

        var mask = MaskPlacement.Place(logits, 64, Box(0, 0, 8, 2), 8, 2).ToRowMajor();

        Assert.Equal(new byte[] { 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0 }, mask);
    }

    [Fact]
    public void Bilinear_weights_decide_between_neighbouring_cells()
    {
        // Grid column 0 is +1, column 1 is -3, the rest -3. Box 128 px wide: pixel p samples column (p + 0.5) / 2 - 0.5.
        // p = 0, 1 -> column clamped at 0 / 0.25 -> 1 + 0.25 x (-4) = 0 (not > 0): only p = 0 is in the mask.
        var logits = Filled(-3f);
        for (var r = 0; r < 64; r++)
        {
            logits[r * 64] = 1f;
        }

        var mask = MaskPlacement.Place(logits, 64, Box(0, 0, 128, 1), 128, 1).ToRowMajor();

        Assert.Equal(1, mask[0]);
        Assert.Equal(0, mask[1]);
        Assert.Equal(1, mask.Sum(b => b));
    }

    [Fact]
    public void A_box_that_covers_no_pixel_centre_gives_an_empty_mask()
    {
        // x from 2.6 to 3.4: the only nearby centre, 3.5, is outside.
        var rle = MaskPlacement.Place(Filled(1f), 64, Box(2.6f, 0, 3.4f, 8), 10, 8);
        Assert.Equal(0, rle.Area);
        Assert.Equal((3, 3), MaskPlacement.PixelSpan(2.6, 3.4, 10));
        Assert.Equal((0, 10), MaskPlacement.PixelSpan(-1, 12, 10));
    }

    private static float[] Filled(float v) => Enumerable.Repeat(v, 64 * 64).ToArray();

    private static DetectedObject Box(float x1, float y1, float x2, float y2) => new("o", x1, y1, x2, y2, new int[16]);
}

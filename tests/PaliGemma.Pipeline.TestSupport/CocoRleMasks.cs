using System.Text;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// Test-side COCO RLE encoder (pycocotools maskApi.c rleToString over column-major runs), used only to put masks of
/// known shape into the store; the page's decoder is checked separately against a hand-worked string.
/// </summary>
public static class CocoRleMasks
{
    /// <summary>Encodes a mask that is 1 inside [x1, x2) x [y1, y2) of an h x w image.</summary>
    public static string Rectangle(int h, int w, int x1, int y1, int x2, int y2)
    {
        var counts = new List<long>();
        var value = 0;
        long run = 0;
        for (var x = 0; x < w; x++)
        {
            for (var y = 0; y < h; y++)
            {
                var bit = x >= x1 && x < x2 && y >= y1 && y < y2 ? 1 : 0;
                if (bit != value)
                {
                    counts.Add(run);
                    run = 0;
                    value = bit;
                }

                run++;
            }
        }

        counts.Add(run);
        return Encode(counts);
    }

    private static string Encode(IReadOnlyList<long> counts)
    {
        var s = new StringBuilder();
        for (var i = 0; i < counts.Count; i++)
        {
            var x = counts[i];
            if (i > 2)
            {
                x -= counts[i - 2];
            }

            var more = true;
            while (more)
            {
                var c = (int)(x & 0x1f);
                x >>= 5;
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more)
                {
                    c |= 0x20;
                }

                s.Append((char)(c + 48));
            }
        }

        return s.ToString();
    }
}

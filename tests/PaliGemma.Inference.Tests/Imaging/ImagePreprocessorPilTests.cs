using PaliGemma.Inference.Imaging;
using Xunit.Abstractions;

namespace PaliGemma.Inference.Tests.Imaging;

/// <summary>Our decode + RGB conversion + bicubic resize against PIL (Hugging Face's reference) on generated images.</summary>
public sealed class ImagePreprocessorPilTests(ITestOutputHelper output)
{
    internal static ImagePreprocessor Create(int width, int height) =>
        new(new ImageProcessorConfig(height, width, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], 1f / 255f, true, true, true, 3, 256));

    [PilTheory]
    [InlineData("photo_512x384.jpg", 56, 56)]
    [InlineData("photo_512x384.jpg", 112, 112)]
    [InlineData("photo_512x384.jpg", 224, 224)]
    [InlineData("photo_512x384.jpg", 448, 448)]
    [InlineData("photo_512x384.jpg", 224, 112)]
    [InlineData("graphic_451x300.png", 56, 56)]
    [InlineData("graphic_451x300.png", 112, 112)]
    [InlineData("graphic_451x300.png", 224, 224)]
    [InlineData("graphic_451x300.png", 448, 448)]
    [InlineData("graphic_451x300.png", 140, 252)]
    [InlineData("tall_200x517.png", 224, 224)]
    [InlineData("tiny_37x29.png", 56, 56)]
    [InlineData("tiny_37x29.png", 224, 224)]
    [InlineData("big_1000x750.jpg", 224, 224)]
    [InlineData("big_1000x750.jpg", 448, 448)]
    public void Resize_matches_PIL_bicubic_within_one_level(string fixture, int width, int height)
    {
        // Given an image and PIL's BICUBIC resize of it
        byte[] expected = PilReference.Resize(fixture, width, height);

        // When we decode and resize it
        byte[] actual = Create(width, height).DecodeResizeRgb24(PilReference.ReadFixture(fixture), out _);

        // Then the mean absolute difference over all channels is under one 8-bit level
        double mad = PilReference.MeanAbsDiff(actual, expected);
        output.WriteLine($"{fixture} -> {width}x{height}: mean abs diff {mad:F3} levels");
        Assert.True(mad < 1.0, $"{fixture} -> {width}x{height}: mean abs diff {mad:F3} >= 1.0 levels against PIL BICUBIC");
    }

    [PilTheory]
    [InlineData("gray_300x200.png", 0.0)]
    [InlineData("palette_160x120.png", 0.0)]
    [InlineData("gray_alpha_120x90.png", 0.0)] // every alpha 0..255 occurs: our rounding equals alpha_composite's
    [InlineData("rgba_120x90.png", 0.0)]
    [InlineData("palette_transparent_160x120.png", 0.0)]
    [InlineData("gray16_200x150.png", 0.0)]
    [InlineData("cmyk_240x160.jpg", 0.5)] // naive CMYK->RGB in both; the two JPEG decoders' IDCT rounding differs (measured 0.02)
    [InlineData("animated_40x30.gif", 0.0)] // first frame only
    [InlineData("photo_512x384.jpg", 1.0)] // 4:4:4 JPEG: libjpeg and ImageSharp differ only in IDCT rounding
    [InlineData("big_1000x750.jpg", 2.5)] // 4:2:0: the decoders upsample chroma differently at hard colour edges (measured 1.9)
    public void Rgb_conversion_matches_PIL_at_original_size(string fixture, double tolerance)
    {
        // Given PIL's RGB conversion (white compositing for alpha, v/257 for 16-bit)
        (byte[] expected, int width, int height) = PilReference.Convert(fixture);

        // When we decode at the same size (no resize happens)
        byte[] actual = Create(width, height).DecodeResizeRgb24(PilReference.ReadFixture(fixture), out ImageInfo info);

        // Then sizes agree and pixels agree within the tolerance
        Assert.Equal(new ImageInfo(width, height), info);
        double mad = PilReference.MeanAbsDiff(actual, expected);
        int maxDiff = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            maxDiff = Math.Max(maxDiff, Math.Abs(actual[i] - expected[i]));
        }

        output.WriteLine($"{fixture}: mean abs diff {mad:F3}, max {maxDiff}");
        Assert.True(mad <= tolerance, $"{fixture}: mean abs diff {mad:F3} > {tolerance} against PIL's conversion (max {maxDiff})");
        if (tolerance < 1.0)
        {
            Assert.True(maxDiff <= 1, $"{fixture}: a pixel differs by {maxDiff} levels from PIL's lossless conversion");
        }
    }

    [PilFact]
    public void Fully_transparent_pixels_become_white()
    {
        // rgba_120x90.png: the generator sets alpha 0 in the 10x10 top-left corner over a coloured scene.
        byte[] rgb = Create(120, 90).DecodeResizeRgb24(PilReference.ReadFixture("rgba_120x90.png"), out _);
        Assert.Equal(new byte[] { 255, 255, 255 }, rgb[..3]);
        int corner = ((9 * 120) + 9) * 3;
        Assert.Equal(new byte[] { 255, 255, 255 }, rgb[corner..(corner + 3)]);
    }

    [PilFact]
    public void Exif_orientation_is_applied_and_reported_size_is_as_displayed()
    {
        // Stored 64x32 with orientation 6 (rotate 90 degrees clockwise to display): left half red, right half blue.
        // Displayed: 32 wide, 64 tall; the stored left half (red) ends up on top, the blue half at the bottom.
        byte[] encoded = PilReference.ReadFixture("exif_rot90_64x32.jpg");
        ImagePreprocessor pre = Create(32, 64);

        byte[] rgb = pre.DecodeResizeRgb24(encoded, out ImageInfo info);

        Assert.Equal(new ImageInfo(32, 64), info);
        AssertColor(rgb, 32, x: 16, y: 8, r: 255, g: 0, b: 0);   // top: red
        AssertColor(rgb, 32, x: 16, y: 56, r: 0, g: 0, b: 255);  // bottom: blue
        (byte[] pil, int w, int h) = PilReference.Convert("exif_rot90_64x32.jpg");
        Assert.Equal((32, 64), (w, h));
        Assert.True(PilReference.MeanAbsDiff(rgb, pil) < 1.5);

        // The public API reports the same oriented size, also when resizing to a square.
        PreprocessedImage square = Create(28, 28).Preprocess(encoded);
        Assert.Equal((32, 64), (square.OriginalWidth, square.OriginalHeight));
    }

    [PilTheory]
    [InlineData(1, 48, 30)]
    [InlineData(2, 48, 30)]
    [InlineData(3, 48, 30)]
    [InlineData(4, 48, 30)]
    [InlineData(5, 30, 48)]
    [InlineData(6, 30, 48)]
    [InlineData(7, 30, 48)]
    [InlineData(8, 30, 48)]
    public void Every_exif_orientation_matches_PIL_exif_transpose(int orientation, int width, int height)
    {
        // Orientations 5-8 swap width and height (the picture is stored 48x30).
        string fixture = $"orient{orientation}_48x30.png";
        (byte[] expected, int w, int h) = PilReference.Convert(fixture);
        Assert.Equal((width, height), (w, h));

        byte[] actual = Create(width, height).DecodeResizeRgb24(PilReference.ReadFixture(fixture), out ImageInfo info);

        Assert.Equal(new ImageInfo(width, height), info);
        Assert.Equal(expected, actual); // lossless: exact
    }

    [PilFact]
    public void Parallel_calls_on_one_instance_give_identical_results()
    {
        ImagePreprocessor pre = Create(112, 112);
        string[] fixtures = ["photo_512x384.jpg", "graphic_451x300.png", "rgba_120x90.png", "cmyk_240x160.jpg"];
        float[][] sequential = fixtures.Select(f => pre.Preprocess(PilReference.ReadFixture(f)).PixelValues).ToArray();
        byte[][] inputs = fixtures.Select(PilReference.ReadFixture).ToArray();

        float[][] parallel = new float[32][];
        Parallel.For(0, parallel.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            parallel[i] = pre.Preprocess(inputs[i % inputs.Length]).PixelValues);

        for (int i = 0; i < parallel.Length; i++)
        {
            Assert.Equal(sequential[i % inputs.Length], parallel[i]);
        }
    }

    [PilFact]
    public void Without_do_resize_a_wrong_sized_image_is_refused()
    {
        var pre = new ImagePreprocessor(new ImageProcessorConfig(56, 56, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], 1f / 255f, false, true, true, 3, 16));
        var ex = Assert.Throws<ImageDecodeException>(() => pre.Preprocess(PilReference.ReadFixture("tiny_37x29.png")));
        Assert.Equal(ImageFailureReason.Unsupported, ex.Reason);
        Assert.Contains("do_resize=false", ex.Message, StringComparison.Ordinal);
    }

    [PilFact]
    public void Image_already_at_model_size_passes_through_unresampled()
    {
        // A lossless PNG already 224x224: the bytes must equal the decoded file exactly (no resampling blur).
        (byte[] pil, _, _) = PilReference.Convert("exact_224x224.png");
        byte[] rgb = Create(224, 224).DecodeResizeRgb24(PilReference.ReadFixture("exact_224x224.png"), out _);
        Assert.Equal(pil, rgb);
    }

    [PilFact]
    public void Pixel_values_are_chw_rescaled_and_normalized()
    {
        // mean 0.5, std 0.5, rescale 1/255: value = (v / 255 - 0.5) / 0.5 = v / 127.5 - 1; planes R, G, B.
        (byte[] pil, _, _) = PilReference.Convert("exact_224x224.png");
        PreprocessedImage image = Create(224, 224).Preprocess(PilReference.ReadFixture("exact_224x224.png"));

        Assert.Equal(3 * 224 * 224, image.PixelValues.Length);
        const int Plane = 224 * 224;
        foreach (int i in new[] { 0, 1, 223, 224, 5000, Plane - 1 })
        {
            for (int c = 0; c < 3; c++)
            {
                float expected = (pil[(i * 3) + c] / 127.5f) - 1f;
                Assert.Equal(expected, image.PixelValues[(c * Plane) + i], 5);
            }
        }

        Assert.InRange(image.PixelValues.Min(), -1f, 1f);
        Assert.InRange(image.PixelValues.Max(), -1f, 1f);
    }

    [PilFact]
    public void Writes_into_a_slice_of_a_batch_buffer()
    {
        ImagePreprocessor pre = Create(56, 56);
        float[] batch = new float[2 * pre.PixelValueCount];
        Array.Fill(batch, float.NaN);

        ImageInfo info = pre.Preprocess(PilReference.ReadFixture("graphic_451x300.png"), batch.AsSpan(pre.PixelValueCount), CancellationToken.None);

        Assert.Equal(new ImageInfo(451, 300), info);
        Assert.All(batch.AsSpan(0, pre.PixelValueCount).ToArray(), v => Assert.True(float.IsNaN(v)));
        Assert.All(batch.AsSpan(pre.PixelValueCount).ToArray(), v => Assert.InRange(v, -1f, 1f));
    }

    private static void AssertColor(byte[] rgb, int width, int x, int y, int r, int g, int b)
    {
        int i = ((y * width) + x) * 3;
        // JPEG (quality 95) of flat colour: within a few levels.
        Assert.InRange(rgb[i], r - 8, r + 8);
        Assert.InRange(rgb[i + 1], g - 8, g + 8);
        Assert.InRange(rgb[i + 2], b - 8, b + 8);
    }
}

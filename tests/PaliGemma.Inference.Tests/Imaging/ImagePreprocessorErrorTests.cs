using System.Diagnostics;
using System.Text;
using PaliGemma.Inference.Imaging;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Png;
using SixLabors.ImageSharp.PixelFormats;

namespace PaliGemma.Inference.Tests.Imaging;

/// <summary>Bad inputs: each must end in an <see cref="ImageDecodeException"/> with the right reason, never a crash.</summary>
public sealed class ImagePreprocessorErrorTests
{
    private static readonly ImagePreprocessor Pre = ImagePreprocessorPilTests.Create(56, 56);

    [Fact]
    public void Empty_input_is_Empty()
    {
        var ex = Assert.Throws<ImageDecodeException>(() => Pre.Preprocess(ReadOnlySpan<byte>.Empty));
        Assert.Equal(ImageFailureReason.Empty, ex.Reason);
    }

    [Fact]
    public void Text_bytes_are_NotAnImage()
    {
        byte[] text = Encoding.UTF8.GetBytes("{\"hello\": \"this is JSON, not a picture\"}\n");
        var ex = Assert.Throws<ImageDecodeException>(() => Pre.Preprocess(text));
        Assert.Equal(ImageFailureReason.NotAnImage, ex.Reason);
        Assert.Contains("not in a recognised image format", ex.Message, StringComparison.Ordinal);
    }

    [PilFact]
    public void Decompression_bomb_is_refused_from_the_header_without_decoding()
    {
        // A 100-byte PNG whose IHDR declares 50000x50000 RGB (7.5 GB of pixels).
        byte[] bomb = PilReference.ReadFixture("bomb_50000x50000.png");
        Assert.True(bomb.Length < 1024);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();

        var ex = Assert.Throws<ImageDecodeException>(() => Pre.Preprocess(bomb));

        sw.Stop();
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.Equal(ImageFailureReason.TooLarge, ex.Reason);
        Assert.Contains("50000x50000", ex.Message, StringComparison.Ordinal);
        Assert.True(allocated < 16 * 1024 * 1024, $"refusing the bomb allocated {allocated} bytes");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"refusing the bomb took {sw.Elapsed}");
    }

    [PilFact]
    public void Image_over_the_pixel_limit_is_TooLarge()
    {
        var pre = new ImagePreprocessor(
            new ImageProcessorConfig(56, 56, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], 1f / 255f, true, true, true, 3, 16),
            new ImageDecodeLimits(MaxPixels: 100_000));
        // 512 * 384 = 196608 pixels > 100000
        var ex = Assert.Throws<ImageDecodeException>(() => pre.Preprocess(PilReference.ReadFixture("photo_512x384.jpg")));
        Assert.Equal(ImageFailureReason.TooLarge, ex.Reason);
        Assert.Contains("512x384", ex.Message, StringComparison.Ordinal);
    }

    [PilFact]
    public void Input_over_the_byte_limit_is_TooLarge()
    {
        var pre = new ImagePreprocessor(
            new ImageProcessorConfig(56, 56, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], 1f / 255f, true, true, true, 3, 16),
            new ImageDecodeLimits(MaxBytes: 1000));
        var ex = Assert.Throws<ImageDecodeException>(() => pre.Preprocess(PilReference.ReadFixture("photo_512x384.jpg")));
        Assert.Equal(ImageFailureReason.TooLarge, ex.Reason);
        Assert.Contains("MaxBytes", ex.Message, StringComparison.Ordinal);
    }

    [PilTheory]
    [InlineData("graphic_451x300.png", 0.5)]
    [InlineData("graphic_451x300.png", 0.05)]
    [InlineData("photo_512x384.jpg", 0.003)]
    [InlineData("photo_512x384.jpg", 0.5)]
    [InlineData("big_1000x750.jpg", 0.99)]
    [InlineData("cmyk_240x160.jpg", 0.7)]
    [InlineData("gray16_200x150.png", 0.9)]
    [InlineData("palette_160x120.png", 0.1)]
    public void Truncated_file_is_Corrupt(string fixture, double keepFraction)
    {
        byte[] full = PilReference.ReadFixture(fixture);
        byte[] truncated = full[..(int)(full.Length * keepFraction)];
        var ex = Assert.Throws<ImageDecodeException>(() => Pre.Preprocess(truncated));
        Assert.Equal(ImageFailureReason.Corrupt, ex.Reason);
    }

    [PilTheory]
    [InlineData("photo_512x384.jpg")]
    [InlineData("progressive_320x240.jpg")]
    [InlineData("graphic_451x300.png")]
    public void Data_after_the_end_marker_is_ignored(string fixture)
    {
        // Motion photos and some cameras append data (video, maker blobs) after EOI / IEND: the image itself is whole.
        byte[] full = PilReference.ReadFixture(fixture);
        byte[] withTrailer = [.. full, .. System.Text.Encoding.ASCII.GetBytes("ftypmp42 trailing video \xFF\xD8"), 0xFF, 0xDA, 0x00, 0x04, 1, 2];

        PreprocessedImage a = Pre.Preprocess(full);
        PreprocessedImage b = Pre.Preprocess(withTrailer);

        Assert.Equal(a.PixelValues, b.PixelValues);
    }

    [PilFact]
    public void Truncated_progressive_jpeg_is_Corrupt()
    {
        byte[] full = PilReference.ReadFixture("progressive_320x240.jpg");
        Assert.Equal((320, 240), (Pre.Preprocess(full).OriginalWidth, Pre.Preprocess(full).OriginalHeight));
        var ex = Assert.Throws<ImageDecodeException>(() => Pre.Preprocess(full.AsSpan(0, full.Length - 3)));
        Assert.Equal(ImageFailureReason.Corrupt, ex.Reason);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
    }

    [PilFact]
    public void Damaged_png_data_is_Corrupt()
    {
        // Overwrite bytes in the middle of the IDAT stream: the chunk CRC no longer matches.
        byte[] bytes = PilReference.ReadFixture("graphic_451x300.png");
        for (int i = bytes.Length / 2; i < (bytes.Length / 2) + 64; i++)
        {
            bytes[i] ^= 0x5A;
        }

        var ex = Assert.Throws<ImageDecodeException>(() => Pre.Preprocess(bytes));
        Assert.Equal(ImageFailureReason.Corrupt, ex.Reason);
    }

    [Fact]
    public void Sixteen_bit_rgb_png_is_scaled_to_eight_bits_by_rounding_v_over_257()
    {
        // Given a 48-bit PNG with known samples. Expected by hand: round(v / 257):
        // 65535 -> 255, 0 -> 0, 32896 -> 128 (32896/257 = 128.0), 1000 -> 4 (3.89), 40000 -> 156 (155.64).
        using var source = new Image<Rgb48>(2, 1);
        source[0, 0] = new Rgb48(65535, 0, 32896);
        source[1, 0] = new Rgb48(1000, 40000, 65535);
        using var ms = new MemoryStream();
        source.SaveAsPng(ms, new PngEncoder { BitDepth = PngBitDepth.Bit16, ColorType = PngColorType.Rgb });

        byte[] rgb = ImagePreprocessorPilTests.Create(2, 1).DecodeResizeRgb24(ms.ToArray(), out ImageInfo info);

        Assert.Equal(new ImageInfo(2, 1), info);
        Assert.Equal(new byte[] { 255, 0, 128, 4, 156, 255 }, rgb);
    }

    [Fact]
    public void Destination_too_small_is_an_argument_error()
    {
        float[] small = new float[Pre.PixelValueCount - 1];
        Assert.Throws<ArgumentException>(() => Pre.Preprocess(new byte[] { 1, 2, 3 }, small, CancellationToken.None));
    }

    [Fact]
    public void Cancelled_token_stops_before_decoding()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.Throws<OperationCanceledException>(() => Pre.Preprocess(new byte[] { 0x89, 0x50 }, cts.Token));
    }
}

using System.Text.Json;
using PaliGemma.Inference.Imaging;
using Xunit.Abstractions;

namespace PaliGemma.Inference.Tests.Imaging;

/// <summary>
/// Every file of the committed bad-input corpus (tests/fixtures/bad-inputs, made by tools/gen_bad_inputs.py) through the
/// preprocessor: each one either decodes to what PIL makes of it (size after EXIF orientation, first frame, pixels) or
/// is refused with exactly the reason its manifest names. The manifest's expectations come from PIL and hand reasoning.
/// </summary>
public sealed class BadInputCorpusTests(ITestOutputHelper output)
{
    /// <summary>Reason codes of the manifest (the worker's failure vocabulary) to the preprocessor's reasons.</summary>
    private static readonly Dictionary<string, ImageFailureReason> Reasons = new(StringComparer.Ordinal)
    {
        ["empty"] = ImageFailureReason.Empty,
        ["not_an_image"] = ImageFailureReason.NotAnImage,
        ["corrupt"] = ImageFailureReason.Corrupt,
        ["too_large"] = ImageFailureReason.TooLarge,
        ["unsupported_format"] = ImageFailureReason.UnsupportedFormat,
    };

    private static ImagePreprocessor Create(int width, int height, ImageDecodeLimits? limits = null) =>
        new(new ImageProcessorConfig(height, width, [0.5f, 0.5f, 0.5f], [0.5f, 0.5f, 0.5f], 1f / 255f, true, true, true, 3, 256), limits);

    public static TheoryData<string> Files => [.. Corpus.Value.Entries.Select(e => e.File)];

    private static readonly Lazy<(long MaxObjectBytes, List<Entry> Entries)> Corpus = new(Load);

    [Fact]
    public void The_corpus_has_at_least_30_files_each_with_one_expected_outcome()
    {
        var entries = Corpus.Value.Entries;
        Assert.True(entries.Count >= 30, $"{entries.Count} files");
        Assert.All(entries, e => Assert.True(File.Exists(Path.Combine(Folder, e.File)), e.File));
        Assert.All(entries, e => Assert.True(e.Outcome == "result" ? e.Width > 0 && e.Height > 0 : Reasons.ContainsKey(e.Reason!), e.File));
        Assert.Equal(entries.Count, entries.Select(e => e.Key).Distinct(StringComparer.Ordinal).Count());
    }

    [PilTheory]
    [MemberData(nameof(Files))]
    public void Each_file_gives_PILs_pixels_or_exactly_its_expected_reason(string file)
    {
        var entry = Corpus.Value.Entries.Single(e => e.File == file);
        var bytes = File.ReadAllBytes(Path.Combine(Folder, file));
        var limits = new ImageDecodeLimits(MaxBytes: Corpus.Value.MaxObjectBytes);
        if (entry.Outcome == "failure")
        {
            // Given a file the manifest says must be refused, when it is preprocessed, then it fails with that reason.
            var ex = Assert.Throws<ImageDecodeException>(() => Create(56, 56, limits).Preprocess(bytes));
            output.WriteLine($"{file}: {ex.Reason}: {ex.Message}");
            Assert.Equal(Reasons[entry.Reason!], ex.Reason);
            return;
        }

        // Given PIL's RGB conversion at the original size (EXIF-transposed, first frame), when we decode at that size
        // (no resampling involved), then size and pixels agree.
        (byte[] expected, int width, int height) = PilReference.Convert(Path.Combine(Folder, file));
        Assert.Equal((entry.Width, entry.Height), (width, height));
        byte[] actual = Create(width, height, limits).DecodeResizeRgb24(bytes, out ImageInfo info);
        Assert.Equal((width, height), (info.OriginalWidth, info.OriginalHeight));
        double mad = PilReference.MeanAbsDiff(actual, expected);

        // And through the model's resize (56 x 56 bicubic) it still matches PIL's BICUBIC.
        byte[] expectedResized = PilReference.Resize(Path.Combine(Folder, file), 56, 56);
        byte[] actualResized = Create(56, 56, limits).DecodeResizeRgb24(bytes, out _);
        double madResized = PilReference.MeanAbsDiff(actualResized, expectedResized);
        output.WriteLine($"{file} ({entry.Kind}) {width}x{height}: mean abs diff {mad:F3} at original size, {madResized:F3} at 56x56");
        double tolerance = ToleranceFor(entry.Kind);
        Assert.True(mad <= tolerance, $"{file}: mean abs diff {mad:F3} > {tolerance} against PIL at original size");
        // Bicubic implementations differ by a fraction of a level (ImageSharp's bicubic is 0.09-0.33 levels from PIL's; measured at most 0.16 here).
        Assert.True(madResized <= tolerance + 0.5, $"{file}: mean abs diff {madResized:F3} > {tolerance + 0.5} against PIL BICUBIC at 56x56");
    }

    [PilTheory]
    [InlineData("exif-rotate-6.jpg", 96, 48)]
    [InlineData("exif-rotate-3.jpg", 80, 60)]
    public void Exif_orientation_is_applied_not_ignored(string file, int storedWidth, int storedHeight)
    {
        // Given a JPEG stored as four coloured quadrants with an EXIF orientation tag
        var bytes = File.ReadAllBytes(Path.Combine(Folder, file));
        (byte[] transposed, int width, int height) = PilReference.Convert(Path.Combine(Folder, file));

        // When we decode it
        byte[] actual = Create(width, height).DecodeResizeRgb24(bytes, out _);

        // Then it matches PIL's exif_transpose closely and the stored (unrotated) orientation not at all
        byte[] stored = UnrotatedReading(storedWidth, storedHeight, width, height);
        double toTransposed = PilReference.MeanAbsDiff(actual, transposed);
        double toStored = PilReference.MeanAbsDiff(actual, stored);
        output.WriteLine($"{file}: {toTransposed:F2} levels from exif_transpose, {toStored:F2} from the stored orientation");
        Assert.True(toTransposed < 1.5, $"{toTransposed:F2}");
        Assert.True(toStored > 40, $"{toStored:F2}: the decoded image looks like the unrotated one");
    }

    [PilFact]
    public void Animated_gif_and_multipage_tiff_use_the_first_frame()
    {
        // Frame/page 1 is four coloured quadrants, the later ones solid blue or green (see the generator).
        foreach (var file in new[] { "animated.gif", "multipage.tiff" })
        {
            var bytes = File.ReadAllBytes(Path.Combine(Folder, file));
            (byte[] first, int width, int height) = PilReference.Convert(Path.Combine(Folder, file));
            byte[] actual = Create(width, height).DecodeResizeRgb24(bytes, out _);
            Assert.Equal(first, actual);
            // Top-left quadrant red (below the white mark), bottom-right yellow: not a solid later frame.
            int Px(int x, int y, int c) => actual[(((y * width) + x) * 3) + c];
            Assert.Equal((255, 0, 0), (Px(2, height / 2 - 2, 0), Px(2, height / 2 - 2, 1), Px(2, height / 2 - 2, 2)));
            Assert.Equal((255, 255, 0), (Px(width - 2, height - 2, 0), Px(width - 2, height - 2, 1), Px(width - 2, height - 2, 2)));
        }
    }

    [Theory]
    [InlineData("vector.svg", "SVG")]
    [InlineData("vector-no-prolog.svg", "SVG")]
    [InlineData("document.pdf", "PDF")]
    [InlineData("heic-header.heic", "HEIC")]
    public void Svg_pdf_and_heic_are_refused_by_name(string file, string format)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Folder, file));
        var ex = Assert.Throws<ImageDecodeException>(() => Create(56, 56).Preprocess(bytes));
        Assert.Equal(ImageFailureReason.UnsupportedFormat, ex.Reason);
        Assert.Contains($"The input is {format}", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("<!DOCTYPE html><html><body><svg width=\"1\" height=\"1\"></svg></body></html>")] // inline SVG in HTML is a page
    [InlineData("<?xml version=\"1.0\"?><rss version=\"2.0\"></rss>")]
    [InlineData("svg")]
    [InlineData("<svg")] // no name terminator: still the svg root element
    public void Html_and_other_xml_are_not_an_image_except_an_svg_root(string text)
    {
        var ex = Assert.Throws<ImageDecodeException>(() => Create(56, 56).Preprocess(System.Text.Encoding.UTF8.GetBytes(text)));
        Assert.Equal(text == "<svg" ? ImageFailureReason.UnsupportedFormat : ImageFailureReason.NotAnImage, ex.Reason);
    }

    /// <summary>
    /// Lossless formats decode exactly. JPEG and lossy WebP may differ from libjpeg/libwebp by IDCT rounding (measured
    /// at most 0.02 levels on this corpus; 0.5 leaves room for other decoder builds).
    /// </summary>
    private static double ToleranceFor(string kind) => kind.StartsWith("jpeg", StringComparison.Ordinal) || kind == "webp_lossy" ? 0.5 : 0.0;

    /// <summary>
    /// What a decoder that ignored the EXIF tag would show, at the displayed size: the stored quadrant picture scaled
    /// (not rotated) onto width x height.
    /// </summary>
    private static byte[] UnrotatedReading(int storedWidth, int storedHeight, int width, int height)
    {
        var a = new byte[width * height * 3];
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int sx = x * storedWidth / width, sy = y * storedHeight / height;
                (byte r, byte g, byte b) = Quadrant(sx, sy, storedWidth, storedHeight);
                a[(((y * width) + x) * 3) + 0] = r;
                a[(((y * width) + x) * 3) + 1] = g;
                a[(((y * width) + x) * 3) + 2] = b;
            }
        }

        return a;
    }

    /// <summary>The generator's quadrant picture (gen_bad_inputs.py quadrants()) at stored pixel (x, y).</summary>
    private static (byte, byte, byte) Quadrant(int x, int y, int w, int h)
    {
        if (y >= 1 && y < Math.Max(2, h / 8) && x >= 1 && x < Math.Max(2, w / 4))
        {
            return (255, 255, 255);
        }

        return (y < h / 2, x < w / 2) switch
        {
            (true, true) => (255, 0, 0),
            (true, false) => (0, 255, 0),
            (false, true) => (0, 0, 255),
            _ => (255, 255, 0),
        };
    }

    internal static string Folder { get; } = FindFolder();

    private static string FindFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "bad-inputs");
            if (File.Exists(Path.Combine(candidate, "manifest.json")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"tests/fixtures/bad-inputs/manifest.json not found above {AppContext.BaseDirectory}; regenerate with tools/gen_bad_inputs.py.");
    }

    private static (long, List<Entry>) Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "manifest.json")));
        var root = doc.RootElement;
        var entries = new List<Entry>();
        foreach (var f in root.GetProperty("files").EnumerateArray())
        {
            var expected = f.GetProperty("expected");
            var outcome = expected.GetProperty("outcome").GetString()!;
            entries.Add(new Entry(f.GetProperty("file").GetString()!, f.GetProperty("key").GetString()!, f.GetProperty("kind").GetString()!, outcome,
                outcome == "failure" ? expected.GetProperty("reason").GetString() : null,
                outcome == "result" ? expected.GetProperty("width").GetInt32() : 0,
                outcome == "result" ? expected.GetProperty("height").GetInt32() : 0));
        }

        return (root.GetProperty("max_object_bytes").GetInt64(), entries);
    }

    private sealed record Entry(string File, string Key, string Kind, string Outcome, string? Reason, int Width, int Height);
}

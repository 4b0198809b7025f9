using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using PaliGemma.Inference.Imaging;
using PaliGemma.Pipeline.Documents;
using PaliGemma.Pipeline.Hosting;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Png;

namespace PaliGemma.Pipeline.Benchmarks;

/// <summary>
/// <c>pgpipe-bench documents</c>: pages/s of open + render + preprocess for a scanned PDF, a born-digital PDF and a
/// G4 TIFF (tools/gen_documents.py), beside the decode+resize rate of ordinary images with the same pixels (each
/// rendered page encoded as JPEG or PNG and run through <see cref="ImagePreprocessor.Preprocess(ReadOnlySpan{byte}, CancellationToken)"/>),
/// with peak RSS and managed heap; then the peak RSS of rendering every page of a 10-page and a 1,000-page PDF.
/// Everything runs on one thread: PDF rendering is serialised per process anyway (one PDFium lock).
/// </summary>
internal static class DocumentsBenchmark
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir") { Description = "Folder written by tools/gen_documents.py with scanned_100.pdf, born_digital_100.pdf, g4_100.tif, scanned_10.pdf, scanned_1000.pdf.", Required = true };
        var model = new Option<string>("--model", "-m") { Description = "Model folder whose preprocessor_config.json is used (its size replaced by --size).", DefaultValueFactory = _ => "tests/fixtures/models/tiny" };
        var size = new Option<int>("--size") { Description = "Model input size (224 or 448).", DefaultValueFactory = _ => 448 };
        var command = new Command("documents", "Document pages/s (open + render + preprocess) vs the image decode+resize rate at the same pixel count; peak memory.");
        command.Add(dir);
        command.Add(model);
        command.Add(size);
        command.SetAction((r, ct) =>
        {
            Run(r.GetValue(dir)!, r.GetValue(model)!, r.GetValue(size), ct);
            return Task.CompletedTask;
        });
        return command;
    }

    private static void Run(string dir, string model, int size, CancellationToken ct)
    {
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(model, "preprocessor_config.json")))!;
        config["size"] = new JsonObject { ["height"] = size, ["width"] = size };
        string configPath = Path.Combine(Path.GetTempPath(), $"pgpipe-bench-preprocessor-{size}.json");
        File.WriteAllText(configPath, config.ToJsonString());
        var preprocessor = new ImagePreprocessor(ImageProcessorConfig.FromFile(configPath));
        var options = new DocumentOptions();

        Console.WriteLine($"Documents at {size}x{size} on {Environment.ProcessorCount} cores, one thread. Pages/s = open + render + preprocess; images/s = decode + resize of the same pages encoded as ordinary images.");
        Console.WriteLine();
        Console.WriteLine("| input | pages | rendered px/page | pages/s | peak RSS MB | peak managed MB | same-pixel images/s (format) | ratio |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (name, kind, format) in new[] { ("scanned_100.pdf", DocumentKind.Pdf, "jpeg"), ("born_digital_100.pdf", DocumentKind.Pdf, "png"), ("g4_100.tif", DocumentKind.Tiff, "png") })
        {
            string path = Path.Combine(dir, name);

            // Warm-up: JIT, native library loading, pools.
            Document(path, kind, options, preprocessor, 3, null, ct);
            var encoded = new List<byte[]>();
            ResetPeakRss();
            using var sampler = new ManagedMemorySampler();
            var sw = Stopwatch.StartNew();
            var (pages, pixels) = Document(path, kind, options, preprocessor, int.MaxValue, null, ct);
            double docRate = pages / sw.Elapsed.TotalSeconds;
            long rss = PeakRss();
            long managed = sampler.Peak;

            // The same pages as ordinary images: encoded once (not timed), then decoded and resized.
            Document(path, kind, options, preprocessor, int.MaxValue, encoded, ct, format);
            foreach (var bytes in encoded.Take(3))
            {
                preprocessor.Preprocess(bytes, ct);
            }

            sw.Restart();
            foreach (var bytes in encoded)
            {
                preprocessor.Preprocess(bytes, ct);
            }

            double imageRate = encoded.Count / sw.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {name} | {pages} | {pixels / pages / 1e6:F2} MP | {docRate:F1} | {rss / 1e6:F0} | {managed / 1e6:F0} | {imageRate:F1} ({format}) | {docRate / imageRate:F2} |"));
        }

        Console.WriteLine();
        Console.WriteLine("| PDF, every page rendered one at a time | pages | peak RSS MB |");
        Console.WriteLine("|---|---:|---:|");
        foreach (var name in new[] { "scanned_10.pdf", "scanned_1000.pdf" })
        {
            string path = Path.Combine(dir, name);
            ResetPeakRss();
            var (pages, _) = Document(path, DocumentKind.Pdf, options, preprocessor, int.MaxValue, null, ct);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} ({new FileInfo(path).Length / 1e6:F0} MB file) | {pages} | {PeakRss() / 1e6:F0} |"));
        }
    }

    private static (int Pages, long Pixels) Document(string path, DocumentKind kind, DocumentOptions options, ImagePreprocessor preprocessor, int maxPages,
        List<byte[]>? encodeInto, CancellationToken ct, string format = "png")
    {
        using var reader = DocumentReader.Open(path, kind, options, ct: ct);
        int pages = Math.Min(maxPages, reader.PageCount);
        long pixels = 0;
        for (int page = 1; page <= pages; page++)
        {
            using var rendered = reader.RenderPage(page, preprocessor.Width, preprocessor.Height, null, ct);
            pixels += (long)rendered.Width * rendered.Height;
            if (encodeInto is not null)
            {
                using var buffer = new MemoryStream();
                if (format == "jpeg")
                {
                    rendered.Image.Save(buffer, new JpegEncoder { Quality = 85 });
                }
                else
                {
                    rendered.Image.Save(buffer, new PngEncoder());
                }

                encodeInto.Add(buffer.ToArray());
            }
            else
            {
                preprocessor.PreprocessDecoded(rendered.Image, ct);
            }
        }

        return (pages, pixels);
    }

    /// <summary>Linux: writing 5 to clear_refs resets the process's peak resident set (VmHWM).</summary>
    private static void ResetPeakRss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        File.WriteAllText("/proc/self/clear_refs", "5");
    }

    private static long PeakRss()
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }
}

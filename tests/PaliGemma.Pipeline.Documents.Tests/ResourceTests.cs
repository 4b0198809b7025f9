using Microsoft.Extensions.Configuration;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.Documents.Tests;

/// <summary>What a document costs in memory, the PDFium lock's time limit, and the options' validation.</summary>
[Collection(DocumentCorpusCollection.Name)]
public sealed class ResourceTests(DocumentCorpus corpus, ITestOutputHelper output)
{
    [Fact]
    public void Opening_a_large_pdf_reads_neither_the_whole_file_nor_every_page()
    {
        string path = corpus[$"scanned_{DocumentCorpus.LargePdfPages}.pdf"];
        long fileBytes = new FileInfo(path).Length;
        string pdfinfo = DocumentCorpus.Run("pdfinfo", path);
        int popplerPages = int.Parse(pdfinfo.Split('\n').First(l => l.StartsWith("Pages:", StringComparison.Ordinal))[6..].Trim());

        // Warm the code paths on a small file first so that JIT and the native libraries' loading do not count.
        using (var warm = DocumentReader.Open(corpus["scanned.pdf"], DocumentKind.Pdf, new DocumentOptions()))
        {
            warm.RenderPage(1, 448, 448, null, CancellationToken.None).Dispose();
        }

        long before = Rss();
        using var reader = DocumentReader.Open(path, DocumentKind.Pdf, new DocumentOptions());
        long afterOpen = Rss();
        Assert.Equal(popplerPages, reader.PageCount);
        Assert.Equal(DocumentCorpus.LargePdfPages, reader.PageCount);

        // Every page, one at a time, each disposed. The first pages fill the image pools, PDFium's caches and the
        // allocator's arenas; after that, memory must stay flat rather than grow with every page rendered.
        var rss = new List<long>();
        for (int page = 1; page <= reader.PageCount; page++)
        {
            reader.RenderPage(page, 448, 448, null, CancellationToken.None).Dispose();
            if (page % 100 == 0)
            {
                rss.Add(Rss());
            }
        }

        output.WriteLine($"file {fileBytes / 1e6:F1} MB; RSS growth: open {(afterOpen - before) / 1e6:F1} MB, after pages 100/200/300 {string.Join(" / ", rss.Select(r => ((r - before) / 1e6).ToString("F1")))} MB");

        // The images are JPEG streams that take up almost the whole file: a reader that loaded it would grow by the
        // file's size at open. A quarter of it is a bound with a wide margin for allocator noise and still fails a
        // whole load. The last 200 pages may not add more than the same quarter either: pages kept alive (1 MB
        // each rendered) or the file accumulating page by page would add 100 MB or more.
        Assert.True(afterOpen - before < fileBytes / 4, $"opening grew RSS by {(afterOpen - before) / 1e6:F1} MB for a {fileBytes / 1e6:F1} MB file");
        Assert.True(rss[^1] - rss[0] < fileBytes / 4, $"pages 101-300 grew RSS by {(rss[^1] - rss[0]) / 1e6:F1} MB");
    }

    [Fact]
    public void Tiff_page_count_comes_from_the_directory_chain_alone()
    {
        // tiffinfo (libtiff) is the independent count; the reader does not decode any page to count.
        string info = DocumentCorpus.Run("tiffinfo", corpus["mixed_sizes.tif"]);
        int directories = info.Split('\n').Count(l => l.StartsWith("TIFF Directory", StringComparison.Ordinal));
        using var reader = DocumentReader.Open(corpus["mixed_sizes.tif"], DocumentKind.Tiff, new DocumentOptions());
        Assert.Equal(directories, reader.PageCount);
        Assert.Equal(3, reader.PageCount);
    }

    [Fact]
    public void A_call_past_the_time_limit_fails_at_once_and_keeps_the_lock_until_it_returns()
    {
        using var release = new ManualResetEventSlim();
        int discarded = 0;
        var abandonedDone = new TaskCompletionSource();

        // A stand-in for a native render that cannot be interrupted: it returns only when released.
        Assert.Throws<TimeoutException>(() => PdfiumGate.RunWithLimit(
            () =>
            {
                release.Wait();
                return new object();
            },
            _ => Interlocked.Increment(ref discarded),
            timeoutMs: 50,
            _ => abandonedDone.SetResult(),
            out var running,
            CancellationToken.None));

        // The lock is still held by the abandoned call: another call waits (here, until its token gives up).
        using (var shortWait = new CancellationTokenSource(200))
        {
            Assert.ThrowsAny<OperationCanceledException>(() => PdfiumGate.Run(() => 1, shortWait.Token));
        }

        release.Set();
        Assert.True(abandonedDone.Task.Wait(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, Volatile.Read(ref discarded));
        Assert.Equal(2, PdfiumGate.Run(() => 2, CancellationToken.None));
    }

    [Fact]
    public void Bad_options_stop_the_host_with_the_setting_to_fix()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Documents:MaxPages"] = "0" });
        builder.Services.AddDocuments();
        using var host = builder.Build();
        var failure = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<DocumentOptions>>().Value);
        Assert.Contains("MaxPages", failure.Message, StringComparison.Ordinal);

        var good = Host.CreateApplicationBuilder();
        good.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["Documents:PdfDpi"] = "150", ["Documents:MaxPagePixels"] = "1000000" });
        good.Services.AddDocuments();
        using var goodHost = good.Build();
        var options = goodHost.Services.GetRequiredService<IOptions<DocumentOptions>>().Value;
        Assert.Equal((150, 1_000_000L), (options.PdfDpi, options.MaxPagePixels));
    }

    private static long Rss()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var p = Process.GetCurrentProcess();
        return p.WorkingSet64;
    }
}

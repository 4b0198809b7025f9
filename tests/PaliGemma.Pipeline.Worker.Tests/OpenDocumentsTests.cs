using Microsoft.Extensions.Logging.Abstractions;
using PaliGemma.Pipeline.Documents;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>Readers shared across batches: one open per document while used, closed only when nobody holds them.</summary>
public sealed class OpenDocumentsTests
{
    [Fact]
    public void Concurrent_holders_share_one_reader_which_stays_usable_until_the_last_lets_go()
    {
        var corpus = DocumentCorpus.Generate();
        var options = new DocumentOptions();
        using var open = new OpenDocuments();
        var path = Path.Combine(corpus, "scanned.pdf");
        var first = open.Acquire(path, DocumentKind.Pdf, options, NullLogger.Instance, CancellationToken.None);
        var second = open.Acquire(path, DocumentKind.Pdf, options, NullLogger.Instance, CancellationToken.None);
        Assert.Same(first.Reader, second.Reader);

        // Five other documents pushed through while the first is held: the held reader must not be closed under it.
        foreach (var other in new[] { "born_digital.pdf", "rotated.pdf", "giant_page.pdf", "scanned_linearized.pdf", "many_pages.pdf" })
        {
            using var lease = open.Acquire(Path.Combine(corpus, other), DocumentKind.Pdf, options, NullLogger.Instance, CancellationToken.None);
        }

        first.Dispose();
        using (var page = second.Reader.RenderPage(1, 64, 64, null, CancellationToken.None))
        {
            Assert.True(page.Width >= 64 && page.Height >= 64);
        }

        second.Dispose();
        // Released and pushed out by newer ones: a later holder gets a fresh reader.
        foreach (var other in new[] { "born_digital.pdf", "rotated.pdf", "giant_page.pdf", "scanned_linearized.pdf", "many_pages.pdf" })
        {
            using var lease = open.Acquire(Path.Combine(corpus, other), DocumentKind.Pdf, options, NullLogger.Instance, CancellationToken.None);
        }

        using var third = open.Acquire(path, DocumentKind.Pdf, options, NullLogger.Instance, CancellationToken.None);
        Assert.NotSame(first.Reader, third.Reader);
        Assert.Equal(4, third.Reader.PageCount);
    }
}

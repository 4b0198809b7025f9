using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>What an export wrote, for the one-line summary on stderr.</summary>
/// <param name="Rows">(object or page, task) rows read from the store.</param>
/// <param name="Ok">Rows with a result (this run's or reused).</param>
/// <param name="Failed">Rows with only a failure.</param>
/// <param name="Pending">Rows with neither yet.</param>
/// <param name="Images">COCO images written (0 for JSON Lines).</param>
/// <param name="Annotations">COCO annotations written (0 for JSON Lines).</param>
/// <param name="Categories">COCO categories written (0 for JSON Lines).</param>
internal sealed record ExportSummary(long Rows, long Ok, long Failed, long Pending, long Images, long Annotations, int Categories)
{
    /// <summary>Documents written (the documents and text formats).</summary>
    public long Documents { get; init; }
}

/// <summary>Counts the rows an export read, for its summary.</summary>
internal sealed class ExportCounts
{
    private long _rows, _ok, _failed, _pending;

    public void Add(ExportRow row)
    {
        _rows++;
        switch (row.Status)
        {
            case ExportStatus.Ok: _ok++; break;
            case ExportStatus.Failed: _failed++; break;
            default: _pending++; break;
        }
    }

    public ExportSummary Summary() => new(_rows, _ok, _failed, _pending, 0, 0, 0);
}

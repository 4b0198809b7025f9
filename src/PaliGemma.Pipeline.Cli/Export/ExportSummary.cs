namespace PaliGemma.Pipeline.Cli.Export;

/// <summary>What an export wrote, for the one-line summary on stderr.</summary>
/// <param name="Rows">(object, task) rows read from the store.</param>
/// <param name="Ok">Rows with a result (this run's or reused).</param>
/// <param name="Failed">Rows with only a failure.</param>
/// <param name="Pending">Rows with neither yet.</param>
/// <param name="Images">COCO images written (0 for JSON Lines).</param>
/// <param name="Annotations">COCO annotations written (0 for JSON Lines).</param>
/// <param name="Categories">COCO categories written (0 for JSON Lines).</param>
internal sealed record ExportSummary(long Rows, long Ok, long Failed, long Pending, long Images, long Annotations, int Categories);

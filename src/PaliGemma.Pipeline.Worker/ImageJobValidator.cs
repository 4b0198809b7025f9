using System.Globalization;
using PaliGemma.Inference.Tasks;
using PaliGemma.Pipeline.Contracts;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Checks an <see cref="ImageJob"/> message for what no worker could ever process: missing fields, malformed prompts,
/// absurd token limits. Such a message is a producer bug or a hand-crafted message, not a bad image, so it goes to the
/// error queue with the problems in its fault headers instead of becoming a failure row.
/// </summary>
public static class ImageJobValidator
{
    /// <summary>Most tasks one job may carry; every task costs a decode row per image, and real runs use one to four.</summary>
    public const int MaxTasksPerJob = 32;

    /// <summary>Longest object URI accepted; S3 keys are at most 1024 bytes and paths at most 4096.</summary>
    public const int MaxUriLength = 4096;

    /// <summary>Lowest PDF rendering resolution a job may ask for.</summary>
    public const int MinPdfDpi = 10;

    /// <summary>Highest PDF rendering resolution a job may ask for; the per-page pixel cap applies on top.</summary>
    public const int MaxPdfDpi = 1200;

    /// <summary>What a job may say about PDF text layers: run the model on every page, or prefer a usable text layer for OCR.</summary>
    public static IReadOnlyList<string> PdfTextLayers { get; } = ["ocr", "prefer"];

    /// <summary>Every problem with <paramref name="job"/>, each a sentence naming the field; empty when it is valid.</summary>
    public static IReadOnlyList<string> Validate(ImageJob? job)
    {
        if (job is null)
        {
            return ["the message has no ImageJob body"];
        }

        var problems = new List<string>();
        if (job.RunId == Guid.Empty)
        {
            problems.Add("RunId is missing (an all-zero GUID)");
        }

        if (string.IsNullOrWhiteSpace(job.Uri))
        {
            problems.Add("Uri is missing or blank");
        }
        else if (job.Uri.Length > MaxUriLength || job.Uri.Contains('\0', StringComparison.Ordinal))
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"Uri must be at most {MaxUriLength} characters without NUL, got {job.Uri.Length} characters"));
        }

        if (string.IsNullOrWhiteSpace(job.ETag))
        {
            problems.Add("ETag is missing or blank");
        }

        if (job.Size < 0)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"Size must not be negative, got {job.Size}"));
        }

        if (string.IsNullOrWhiteSpace(job.Model))
        {
            problems.Add("Model is missing or blank");
        }

        if (job.Page is < 1)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"Page is 1-based when present, got {job.Page}"));
        }

        if (job.Documents is { } documents)
        {
            if (documents.PdfDpi is < MinPdfDpi or > MaxPdfDpi)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"Documents.PdfDpi must be {MinPdfDpi} to {MaxPdfDpi}, got {documents.PdfDpi}"));
            }

            if (documents.PdfTextLayer is { } layer && !PdfTextLayers.Contains(layer))
            {
                problems.Add($"Documents.PdfTextLayer must be one of {string.Join(", ", PdfTextLayers)}, got '{layer}'");
            }
        }

        if (job.Tasks is null || job.Tasks.Count == 0)
        {
            problems.Add("Tasks is missing or empty");
            return problems;
        }

        if (job.Tasks.Count > MaxTasksPerJob)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"Tasks holds {job.Tasks.Count} tasks; at most {MaxTasksPerJob} are allowed"));
        }

        for (var i = 0; i < job.Tasks.Count; i++)
        {
            if (TaskProblem(job.Tasks[i]) is { } problem)
            {
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"Tasks[{i}]: {problem}"));
            }
        }

        return problems;
    }

    /// <summary>What is wrong with one task (null when nothing), by the runtime's own task validation.</summary>
    public static string? TaskProblem(TaskSpec? task) =>
        task is null ? "the task is null" : TaskValidation.RequestProblem(task.Prompt, task.MaxNewTokens, "MaxNewTokens");
}

/// <summary>An <see cref="ImageJob"/> message that no worker can process; see <see cref="ImageJobValidator"/>.</summary>
public sealed class InvalidImageJobException : Exception
{
    /// <summary>Creates the exception for the job at <paramref name="uri"/> (null or blank when the URI itself is missing).</summary>
    public InvalidImageJobException(string? uri, IReadOnlyList<string> problems)
        : base($"Invalid ImageJob message{(string.IsNullOrWhiteSpace(uri) ? string.Empty : $" for '{uri}'")}: {string.Join("; ", problems ?? [])}.")
    {
        Problems = problems ?? [];
    }

    /// <summary>Each problem found, one sentence each.</summary>
    public IReadOnlyList<string> Problems { get; }
}

using Microsoft.Extensions.Logging;

namespace PaliGemma.Pipeline.Documents;

/// <summary>Log events of document reading (event ids 12000-12999).</summary>
internal static partial class DocumentsLog
{
    [LoggerMessage(EventId = 12000, EventName = "PdfRenderAbandoned", Level = LogLevel.Warning,
        Message = "Rendering page {Page} of {Path} passed the {TimeoutMs} ms limit; the page fails as timeout, and PDFium keeps running it and holds the process-wide PDF lock until it returns")]
    public static partial void PdfRenderAbandoned(ILogger logger, string path, int page, int timeoutMs);

    [LoggerMessage(EventId = 12001, EventName = "PdfRenderAbandonedDone", Level = LogLevel.Information,
        Message = "The abandoned render of page {Page} of {Path} returned after {Seconds:F1} s; the PDF lock is free again")]
    public static partial void PdfRenderAbandonedDone(ILogger logger, string path, int page, double seconds);
}

using System.Runtime.Versioning;

namespace PaliGemma.Pipeline.Documents;

/// <summary>
/// The one process-wide lock around every PDFium call. PDFium keeps global state (its library instance, font
/// caches, the last-error code) and is not thread-safe, so at most one PDF call runs in a process at a time: PDF
/// page rendering has a parallelism of 1 per process, whatever the worker's decode parallelism. TIFF pages do not
/// take this lock.
/// </summary>
internal static partial class PdfiumGate
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    /// <summary>
    /// True where the packaged PDFium and SkiaSharp native libraries exist (Linux, Windows, macOS). PDFtoImage marks
    /// its API platform-specific. Checking this at the top of each lambda that calls PDFium (the platform analyzer
    /// follows a guard within one body) satisfies the analyzer without declaring the whole assembly
    /// platform-specific, which would push the same check onto every caller of <see cref="DocumentReader"/>.
    /// </summary>
    [SupportedOSPlatformGuard("linux")]
    [SupportedOSPlatformGuard("windows")]
    [SupportedOSPlatformGuard("macos")]
    public static bool IsSupportedPlatform => OperatingSystem.IsLinux() || OperatingSystem.IsWindows() || OperatingSystem.IsMacOS();

    /// <summary>The error where no PDFium build is packaged.</summary>
    public static PlatformNotSupportedException Unsupported() =>
        new("PDF rendering needs PDFium, which is packaged for Linux, Windows and macOS only.");

    /// <summary>Runs <paramref name="call"/> under the lock, waiting for it as long as <paramref name="ct"/> allows.</summary>
    public static T Run<T>(Func<T> call, CancellationToken ct)
    {
        Gate.Wait(ct);
        try
        {
            return call();
        }
        finally
        {
            Gate.Release();
        }
    }

    /// <summary>
    /// Runs <paramref name="call"/> under the lock on a thread of its own and waits at most
    /// <paramref name="timeoutMs"/> for it. A managed time limit cannot interrupt a native call: past the limit the
    /// caller gets <see cref="TimeoutException"/> (or the cancellation) at once, while the abandoned call keeps
    /// running on its thread and keeps the lock until PDFium returns; only then is the lock released and its
    /// result disposed by <paramref name="discard"/>. Meanwhile every other PDF call in the process waits for the
    /// lock (cancellably), so a pathological page costs one thread and delays, but never fails, the PDF pages
    /// queued behind it.
    /// </summary>
    /// <param name="call">The PDFium work.</param>
    /// <param name="discard">Disposes a result that arrives after the caller gave up.</param>
    /// <param name="timeoutMs">The limit; 0 runs the call on the caller's thread with no limit.</param>
    /// <param name="onAbandonedDone">Told when an abandoned call has finally returned (for logging), with its running time.</param>
    /// <param name="running">The task that runs the call: still running when the caller gave up.</param>
    /// <param name="ct">Cancels waiting for the lock and for the call.</param>
    /// <returns>The call's result and the task that runs it (completed unless the caller gave up).</returns>
    public static T RunWithLimit<T>(Func<T> call, Action<T> discard, int timeoutMs, Action<TimeSpan> onAbandonedDone, out Task running, CancellationToken ct)
    {
        if (timeoutMs <= 0)
        {
            running = Task.CompletedTask;
            return Run(call, ct);
        }

        Gate.Wait(ct);
        var started = System.Diagnostics.Stopwatch.StartNew();
        Task<T> task;
        try
        {
            task = Task.Factory.StartNew(
                () =>
                {
                    try
                    {
                        return call();
                    }
                    finally
                    {
                        Gate.Release();
                    }
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default);
        }
        catch
        {
            Gate.Release();
            throw;
        }

        running = task;
        bool done;
        try
        {
            done = task.Wait(timeoutMs, ct);
        }
        catch (OperationCanceledException)
        {
            Abandon(task, discard, onAbandonedDone, started);
            throw;
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count == 1)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
            throw;
        }

        if (!done)
        {
            Abandon(task, discard, onAbandonedDone, started);
            throw new TimeoutException($"The PDFium call did not return within {timeoutMs} ms.");
        }

        return task.Result;
    }

    private static void Abandon<T>(Task<T> task, Action<T> discard, Action<TimeSpan> onAbandonedDone, System.Diagnostics.Stopwatch started) =>
        _ = task.ContinueWith(
            t =>
            {
                if (t.Status == TaskStatus.RanToCompletion)
                {
                    discard(t.Result);
                }

                onAbandonedDone(started.Elapsed);
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
}

using System.Diagnostics;
using System.Threading.Channels;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Producer;

/// <summary>
/// Lists a catalog and enqueues one job per image that still needs work, page by page, with a checkpoint after
/// each page so a crashed enumeration resumes where it stopped.
/// </summary>
/// <remarks>
/// Per page: supersede results of objects whose ETag changed and look up which (object, etag, model, task)
/// combinations already have results (one round trip together), send jobs for the rest with publisher confirms and a
/// bounded number in flight, then record the page's run items and resume key in one transaction, while the next page
/// is already being looked up (checkpoints stay in page order, each after its page's confirms). A crash between
/// the sends and the checkpoint re-sends at most that page on resume; workers skip combinations that already have
/// results and results are unique per key, so a re-sent job never duplicates a result. For the same reason a page
/// that fails on a database fault, or on a broker error that reaches a send, is retried whole with the
/// <see cref="RetryPolicyOptions.ProducerPage"/> backoff (MassTransit itself holds sends while it reconnects), and the
/// enumeration carries on without anyone re-running it.
/// </remarks>
public sealed partial class EnqueueService(
    ResultStore store,
    CatalogSourceFactory catalogs,
    IBus bus,
    PipelineMetrics metrics,
    IOptions<ProducerOptions> options,
    IOptionsMonitor<RetryPolicyOptions> retry,
    ILogger<EnqueueService> logger)
{
    /// <summary>Creates or resumes the run and enqueues everything that still needs work.</summary>
    public async Task<EnqueueSummary> EnqueueAsync(EnqueueRequest request, IProgress<EnqueueProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Tasks.Count == 0)
        {
            throw new ArgumentException("At least one task is required (--task).", nameof(request));
        }

        var o = options.Value;
        var source = catalogs.Create(request.Source);
        var runName = request.EffectiveRunName;
        var taskKeys = request.Tasks.Select(t => t.Prompt).ToList();
        var modelKey = request.Model.ToString();
        var run = await store.GetRunAsync(runName, cancellationToken).ConfigureAwait(false);
        var resumed = run is not null;
        if (run is null)
        {
            run = await store.CreateRunAsync(new RunDefinition(runName, source.Root, modelKey, taskKeys), cancellationToken).ConfigureAwait(false);
        }
        else if (!string.Equals(run.Model, modelKey, StringComparison.Ordinal) || !run.Tasks.Order(StringComparer.Ordinal).SequenceEqual(taskKeys.Order(StringComparer.Ordinal), StringComparer.Ordinal)
                 || !string.Equals(run.Source, source.Root, StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                $"Run '{runName}' already exists for source {run.Source}, model {run.Model} and tasks [{string.Join(", ", run.Tasks)}]; choose another --run name.");
        }

        string? startAfter = null;
        if (run.ListingCompleted)
        {
            // The same command again (e.g. nightly): a fresh pass that only enqueues new or changed objects.
            await store.RestartListingAsync(run.Id, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            startAfter = run.LastListedKey;
        }

        PassStarting(logger, runName, source.Root, modelKey, startAfter ?? "(start)");
        var endpoint = await bus.GetSendEndpoint(new Uri($"queue:{request.Model.QueueName}")).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        long listed, enqueued, reused;
        if (o.ListConcurrency > 1 && source is IPartitionedCatalogSource partitioned)
        {
            (listed, enqueued, reused) = await ListPartitionsAsync(run.Id, partitioned, request, endpoint, progress, clock, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            (listed, enqueued, reused) = await ListOneStreamAsync(run.Id, source, startAfter, request, endpoint, progress, clock, cancellationToken).ConfigureAwait(false);
        }

        await store.CompleteListingAsync(run.Id, cancellationToken).ConfigureAwait(false);
        // Objects this complete listing no longer found are gone from the catalog: their results stop being current.
        var superseded = await store.MarkSupersededMissingAsync(run.Id, cancellationToken).ConfigureAwait(false);
        var final = new EnqueueProgress(listed, enqueued, reused, clock.Elapsed);
        progress?.Report(final);
        PassFinished(logger, runName, listed, enqueued, reused, superseded, clock.ElapsedMilliseconds);
        return new EnqueueSummary(run.Id, runName, resumed, final, superseded);
    }

    /// <summary>
    /// The parallel listing: up to <see cref="ProducerOptions.ListConcurrency"/> partitions at once, each listed in key
    /// order from its own resume key, paged, looked up, sent and checkpointed like the one-stream listing; a partition
    /// listed to its end is marked so a resumed pass skips it. Memory: one page per partition in flight.
    /// </summary>
    private async Task<(long Listed, long Enqueued, long Reused)> ListPartitionsAsync(Guid runId, IPartitionedCatalogSource source, EnqueueRequest request,
        ISendEndpoint endpoint, IProgress<EnqueueProgress>? progress, Stopwatch clock, CancellationToken cancellationToken)
    {
        var o = options.Value;
        var resume = await store.GetListingPartitionsAsync(runId, cancellationToken).ConfigureAwait(false);
        long listed = 0, enqueued = 0, reused = 0, lastReportTicks = 0;
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = o.ListConcurrency, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(source.ListPartitionsAsync(request.Filter, cancellationToken), parallel, async (partition, ct) =>
        {
            var at = resume.GetValueOrDefault(partition.Id);
            if (at?.Completed == true)
            {
                return;
            }

            var page = new List<CatalogObject>(o.PageSize);
            async Task FlushAsync()
            {
                var (items, sent) = await ProcessPageWithRetryAsync(runId, page, request, endpoint, ct).ConfigureAwait(false);
                // Within a partition pages are checkpointed in order, each after its confirms: its resume key never
                // passes an unsent job.
                await CheckpointWithRetryAsync(runId, partition.Id, items, page[^1].Key, sent, ct).ConfigureAwait(false);
                Interlocked.Add(ref listed, page.Count);
                Interlocked.Add(ref enqueued, sent);
                Interlocked.Add(ref reused, page.Count - sent);
                page.Clear();
                var now = clock.Elapsed.Ticks;
                var last = Interlocked.Read(ref lastReportTicks);
                if (progress is not null && now - last >= TimeSpan.FromSeconds(o.ProgressIntervalSeconds).Ticks && Interlocked.CompareExchange(ref lastReportTicks, now, last) == last)
                {
                    progress.Report(new EnqueueProgress(Interlocked.Read(ref listed), Interlocked.Read(ref enqueued), Interlocked.Read(ref reused), clock.Elapsed));
                }
            }

            await foreach (var obj in source.ListAsync(request.Filter, partition, at?.LastKey, ct).ConfigureAwait(false))
            {
                page.Add(obj);
                if (page.Count == o.PageSize)
                {
                    await FlushAsync().ConfigureAwait(false);
                }
            }

            if (page.Count > 0)
            {
                await FlushAsync().ConfigureAwait(false);
            }

            await store.CompleteListingPartitionAsync(runId, partition.Id, ct).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return (listed, enqueued, reused);
    }

    /// <summary>The one-stream listing, resumed after <paramref name="startAfter"/>, with listing running ahead of publishing.</summary>
    private async Task<(long Listed, long Enqueued, long Reused)> ListOneStreamAsync(Guid runId, ICatalogSource source, string? startAfter, EnqueueRequest request,
        ISendEndpoint endpoint, IProgress<EnqueueProgress>? progress, Stopwatch clock, CancellationToken cancellationToken)
    {
        var o = options.Value;
        long listed = 0, enqueued = 0, reused = 0;
        var lastReport = TimeSpan.Zero;

        // Listing runs ahead of publishing through a bounded channel, so the next ListObjectsV2 page is in flight
        // while this page's confirms come back; memory stays bounded by the channel.
        var channel = Channel.CreateBounded<CatalogObject>(new BoundedChannelOptions(o.PageSize * 2) { SingleReader = true, SingleWriter = true });
        using var listingCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var listing = Task.Run(async () =>
        {
            try
            {
                await foreach (var obj in source.ListAsync(request.Filter, startAfter, listingCts.Token).ConfigureAwait(false))
                {
                    await channel.Writer.WriteAsync(obj, listingCts.Token).ConfigureAwait(false);
                }

                channel.Writer.Complete();
            }
            catch (Exception ex)
            {
                channel.Writer.Complete(ex);
            }
        }, listingCts.Token);

        // Page N's checkpoint is written while page N+1 is looked up and sent: at most one checkpoint in flight, and
        // checkpoints in page order, each after its own page's confirms (so the resume key never passes an unsent job).
        Task checkpoint = Task.CompletedTask;
        var page = new List<CatalogObject>(o.PageSize);
        async Task SendPageAsync()
        {
            var (items, sent) = await ProcessPageWithRetryAsync(runId, page, request, endpoint, cancellationToken).ConfigureAwait(false);
            await checkpoint.ConfigureAwait(false);
            checkpoint = CheckpointWithRetryAsync(runId, null, items, page[^1].Key, sent, cancellationToken);
            listed += page.Count;
            enqueued += sent;
            reused += page.Count - sent;
            page.Clear();
        }

        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (page.Count < o.PageSize && channel.Reader.TryRead(out var obj))
                {
                    page.Add(obj);
                }

                if (page.Count < o.PageSize && !channel.Reader.Completion.IsCompleted)
                {
                    continue;
                }

                await SendPageAsync().ConfigureAwait(false);
                if (progress is not null && clock.Elapsed - lastReport >= TimeSpan.FromSeconds(o.ProgressIntervalSeconds))
                {
                    lastReport = clock.Elapsed;
                    progress.Report(new EnqueueProgress(listed, enqueued, reused, clock.Elapsed));
                }
            }

            if (page.Count > 0)
            {
                await SendPageAsync().ConfigureAwait(false);
            }

            await checkpoint.ConfigureAwait(false);
            await listing.ConfigureAwait(false);
        }
        finally
        {
            await listingCts.CancelAsync().ConfigureAwait(false);
            // A failed pass still waits for its last checkpoint, so nothing writes after the caller saw it end.
            await checkpoint.ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
        }

        return (listed, enqueued, reused);
    }

    private async Task<(List<RunItemRecord> Items, int Sent)> ProcessPageWithRetryAsync(Guid runId, List<CatalogObject> page, EnqueueRequest request, ISendEndpoint endpoint,
        CancellationToken ct)
    {
        var delays = retry.Get(RetryPolicyOptions.ProducerPage).Delays();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await ProcessPageAsync(runId, page, request, endpoint, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (attempt < delays.Count && IsTransient(ex, ct))
            {
                PageRetrying(logger, page[0].Key, ex.GetType().Name, ex.Message, attempt + 1, delays.Count, (long)delays[attempt].TotalMilliseconds);
                await Task.Delay(delays[attempt], ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Records a sent page's run items and resume key; idempotent, so retried alone on a database fault.</summary>
    private async Task CheckpointWithRetryAsync(Guid runId, string? partition, List<RunItemRecord> items, string lastKey, int sent, CancellationToken ct)
    {
        var delays = retry.Get(RetryPolicyOptions.ProducerPage).Delays();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (partition is null)
                {
                    await store.RecordListedPageAsync(runId, items, lastKey, ct).ConfigureAwait(false);
                }
                else
                {
                    await store.RecordListedPartitionPageAsync(runId, partition, items, lastKey, ct).ConfigureAwait(false);
                }

                metrics.EnqueuedPage(items.Count, sent);
                return;
            }
            catch (Exception ex) when (attempt < delays.Count && IsTransient(ex, ct))
            {
                PageRetrying(logger, items[0].Uri, ex.GetType().Name, ex.Message, attempt + 1, delays.Count, (long)delays[attempt].TotalMilliseconds);
                await Task.Delay(delays[attempt], ct).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// True for faults of the broker or the database (connection refused or dropped, timeouts, a retry budget spent
    /// underneath), which a later attempt can get past; false for cancellation and for errors in the request itself.
    /// </summary>
    internal static bool IsTransient(Exception ex, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return false;
        }

        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is MassTransitException or System.Data.Common.DbException or Microsoft.EntityFrameworkCore.Storage.RetryLimitExceededException
                or RabbitMQ.Client.Exceptions.RabbitMQClientException or RabbitMQ.Client.Exceptions.OperationInterruptedException
                or TimeoutException or IOException or System.Net.Sockets.SocketException or OperationCanceledException)
            {
                return true;
            }
        }

        return false;
    }

    private async Task<(List<RunItemRecord> Items, int Sent)> ProcessPageAsync(Guid runId, List<CatalogObject> page, EnqueueRequest request, ISendEndpoint endpoint, CancellationToken ct)
    {
        using var activity = PipelineMetrics.ActivitySource.StartActivity("pgpipe.enqueue.page");
        var versions = page.Select(p => new ObjectVersion(p.Uri, p.ETag)).ToList();
        var modelKey = request.Model.ToString();
        var (_, existing) = await store.SupersedeAndFindExistingAsync(versions, modelKey, request.Tasks.Select(t => t.Prompt).ToList(), ct).ConfigureAwait(false);
        var items = new List<RunItemRecord>(page.Count);
        var sends = new List<Task>();
        using var gate = new SemaphoreSlim(options.Value.MaxInFlight);
        var now = DateTimeOffset.UtcNow;
        var sent = 0;
        foreach (var obj in page)
        {
            // A page with no results at all (a first pass) shares the task list instead of filtering it per object.
            IReadOnlyList<TaskSpec> pending = existing.Count == 0
                ? request.Tasks
                : request.Tasks.Where(t => !existing.Contains(new ExistingResult(obj.Uri, obj.ETag, t.Prompt))).ToList();
            items.Add(new RunItemRecord(obj.Uri, obj.ETag, obj.Size, pending.Count > 0));
            if (pending.Count == 0)
            {
                continue;
            }

            var job = new ImageJob
            {
                RunId = runId,
                Uri = obj.Uri,
                ETag = obj.ETag,
                Size = obj.Size,
                Model = modelKey,
                Tasks = pending,
                EnqueuedAt = now,
                Documents = request.Documents,
            };
            await gate.WaitAsync(ct).ConfigureAwait(false);
            sends.Add(SendAsync(endpoint, job, gate, TimeSpan.FromMilliseconds(options.Value.SendTimeoutMs), ct));
            sent++;
        }

        // Every confirm must be in before the checkpoint: a page is recorded only once the broker holds its jobs.
        await Task.WhenAll(sends).ConfigureAwait(false);
        return (items, sent);
    }

    private static async Task SendAsync(ISendEndpoint endpoint, ImageJob job, SemaphoreSlim gate, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            // WaitAsync, not only the token: a send whose confirm was lost with its connection may never observe it.
            using var expiry = CancellationTokenSource.CreateLinkedTokenSource(ct);
            expiry.CancelAfter(timeout);
            await endpoint.Send(job, expiry.Token).WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        finally
        {
            gate.Release();
        }
    }

    [LoggerMessage(EventId = 4003, EventName = "PageRetrying", Level = LogLevel.Warning,
        Message = "Page starting at {FirstKey} failed with {Error}: {Message}; retry {Attempt} of {Limit} in {DelayMs} ms")]
    private static partial void PageRetrying(ILogger logger, string firstKey, string error, string message, int attempt, int limit, long delayMs);

    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Run {Run}: listing {Source} for {Model}, starting after {StartAfter}")]
    private static partial void PassStarting(ILogger logger, string run, string source, string model, string startAfter);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Information,
        Message = "Run {Run}: listed {Listed}, enqueued {Enqueued}, reused {Reused}, superseded {Superseded} in {ElapsedMs} ms")]
    private static partial void PassFinished(ILogger logger, string run, long listed, long enqueued, long reused, int superseded, long elapsedMs);
}

using System.Diagnostics;
using System.Text.Json;
using Amazon.S3;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Tasks;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Documents;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Consumes a batch of image jobs: skips (image, task) combinations that already have results (redelivery after a
/// crash), fetches and decodes the rest on all cores, runs the model once per batch, and persists results, image
/// facts and failures in one transaction.
/// </summary>
/// <remarks>
/// A bad image (not found, not an image, too large, corrupt) becomes a failure row and never fails its batch
/// mates. Anything else (database or storage unreachable) throws, so the whole batch is retried and redelivered;
/// that is safe because every write is an upsert keyed by (object, etag, page, model, task).
/// A whole-object job that is a document (a PDF, or a TIFF of more than one page) produces no result itself: it is
/// expanded into one job per page (<see cref="DocumentStage"/>), and each page then runs like an image.
/// </remarks>
public sealed class ImageJobBatchConsumer(
    ModelHost modelHost,
    CatalogReader reader,
    DocumentStage documents,
    ResultStore store,
    PipelineMetrics metrics,
    IOptions<WorkerOptions> options,
    ILogger<ImageJobBatchConsumer> logger) : IConsumer<Batch<ImageJob>>
{
    /// <inheritdoc />
    public async Task Consume(ConsumeContext<Batch<ImageJob>> context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        var started = Stopwatch.StartNew();
        using var activity = PipelineMetrics.ActivitySource.StartActivity("pgpipe.batch");
        var model = modelHost.Model;
        var modelKey = modelHost.ModelKey;
        var now = DateTimeOffset.UtcNow;
        var jobs = new List<ImageJob>(context.Message.Length);
        foreach (var consumed in context.Message)
        {
            var job = consumed.Message;
            if (!string.Equals(job.Model, modelKey, StringComparison.Ordinal))
            {
                // A job routed to the wrong queue must not be processed by the wrong model; it is a producer bug.
                throw new MisroutedJobException(job.Model, modelKey);
            }

            jobs.Add(job);
            if (job.EnqueuedAt != default)
            {
                metrics.QueueWait(now - job.EnqueuedAt);
            }
        }

        // Every log line of the batch carries its runs and objects, so a line in a log store leads back to the work.
        using var scope = logger.BeginScope(new Dictionary<string, object>
        {
            ["RunIds"] = string.Join(',', jobs.Select(j => j.RunId).Distinct()),
            ["ObjectCount"] = jobs.Count,
            ["FirstObject"] = jobs.Count > 0 ? jobs[0].Uri : string.Empty,
        });
        activity?.SetTag("pgpipe.batch.size", jobs.Count);
        activity?.SetTag("pgpipe.model", modelKey);

        // Redelivered or duplicated jobs: only what has no result yet is worth computing.
        var prompts = jobs.SelectMany(j => j.Tasks.Select(t => t.Prompt)).Distinct(StringComparer.Ordinal).ToList();
        var existing = await store.FindExistingResultsAsync(
            jobs.Select(j => new ObjectVersion(j.Uri, j.ETag) { Page = PageOf(j) }).Distinct().ToList(), modelKey, prompts, ct).ConfigureAwait(false);
        var work = new List<(ImageJob Job, List<TaskSpec> Tasks)>();
        var skipped = 0;
        foreach (var job in jobs.DistinctBy(j => (j.Uri, j.ETag, j.Page)))
        {
            var pending = job.Tasks.Where(t => !existing.Contains(new ExistingResult(job.Uri, job.ETag, t.Prompt) { Page = PageOf(job) })).ToList();
            skipped += job.Tasks.Count - pending.Count;
            if (pending.Count > 0)
            {
                work.Add((job, pending));
            }
        }

        var failures = new List<FailureRecord>();
        var results = new List<ResultRecord>();
        var images = new List<ImageRecord>();
        var textLayer = new List<ResultRecord>();
        var brokenDocuments = new List<DocumentRecord>();
        if (work.Count > 0)
        {
            // A batch past Worker:MaxBatchDurationMs is stuck (a pathological image, a hung read): it is abandoned,
            // not retried in place, since a second attempt of the same length could outlive the broker's consumer
            // timeout. Its combinations get a 'timeout' failure, so the run accounts for them and the next pass
            // retries them. The final write keeps the consumer's own token: an outage there is an infrastructure fault.
            using var deadline = new BatchDeadline(TimeSpan.FromMilliseconds(options.Value.MaxBatchDurationMs), started, ct);
            try
            {
                var stage = new BatchStage(work, failures, textLayer, brokenDocuments, modelKey);
                var decoded = await FetchAndDecodeAsync(stage, model.Preprocessor, deadline).ConfigureAwait(false);
                deadline.ThrowIfPast();
                // A document's job ends with its page jobs sent; it has no model work of its own. Its expansion is
                // store and broker work, so it keeps the consumer's token like the final write.
                await documents.ExpandAsync(context, modelKey, stage.Documents, ct).ConfigureAwait(false);
                await GenerateAsync(model, work, decoded, modelKey, results, failures, images, deadline.Token).ConfigureAwait(false);
                // A stage that finished its last step after the limit still ran past it: the batch is abandoned all the same.
                deadline.ThrowIfPast();
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested && !ct.IsCancellationRequested)
            {
                results.Clear();
                AbandonTimedOut(work, failures, modelKey, started.ElapsedMilliseconds);
            }
        }

        // Text-layer answers were complete before any time limit could strike, so an abandoned batch keeps them.
        results.AddRange(textLayer);
        var write = Stopwatch.StartNew();
        await store.WriteBatchAsync(new ResultBatch(results, failures, images) { Documents = brokenDocuments }, ct).ConfigureAwait(false);
        metrics.DbWrite(write.Elapsed);

        // Counted per image or page; a document that expanded or failed to open has left the work list by now.
        var failedImages = failures.Select(f => (f.Uri, f.Page)).ToHashSet();
        metrics.ImagesProcessed(modelKey, "ok", work.Count(w => !failedImages.Contains((w.Job.Uri, PageOf(w.Job)))));
        metrics.ImagesProcessed(modelKey, "failed", failedImages.Count);
        foreach (var reason in failures.GroupBy(f => f.ReasonCode))
        {
            metrics.Failures(reason.Key, reason.Count());
        }

        metrics.Batch(jobs.Count, started.Elapsed);
        WorkerLog.BatchDone(logger, jobs.Count, results.Count, failures.Count, skipped, started.ElapsedMilliseconds);
    }

    private void AbandonTimedOut(List<(ImageJob Job, List<TaskSpec> Tasks)> work, List<FailureRecord> failures, string modelKey, long elapsedMs)
    {
        var limit = options.Value.MaxBatchDurationMs;
        WorkerLog.BatchTimedOut(logger, work.Count, elapsedMs, limit);
        var message = $"Its batch of {work.Count} images ran past Worker:MaxBatchDurationMs ({limit} ms) and was abandoned; the next pass retries it.";
        var recorded = failures.Select(f => (f.Uri, f.ETag, f.Page, f.Task)).ToHashSet();
        foreach (var (job, tasks) in work)
        {
            failures.AddRange(tasks.Where(t => !recorded.Contains((job.Uri, job.ETag, PageOf(job), t.Prompt)))
                .Select(t => new FailureRecord(job.Uri, job.ETag, modelKey, t.Prompt, "timeout", message, job.RunId) { Page = PageOf(job) }));
        }
    }

    /// <summary>What the fetch-and-decode stage of a batch works on and adds to.</summary>
    private sealed class BatchStage(List<(ImageJob Job, List<TaskSpec> Tasks)> work, List<FailureRecord> failures, List<ResultRecord> textLayer,
        List<DocumentRecord> brokenDocuments, string modelKey)
    {
        public List<(ImageJob Job, List<TaskSpec> Tasks)> Work { get; } = work;

        public List<FailureRecord> Failures { get; } = failures;

        public List<ResultRecord> TextLayer { get; } = textLayer;

        public List<DocumentRecord> BrokenDocuments { get; } = brokenDocuments;

        public List<(ImageJob Job, IReadOnlyList<TaskSpec> Tasks, int PageCount, Documents.DocumentKind Kind, long Size)> Documents { get; } = [];

        public string ModelKey { get; } = modelKey;
    }

    private async Task<PreprocessedImage?[]> FetchAndDecodeAsync(BatchStage stage, ImagePreprocessor preprocessor, BatchDeadline deadline)
    {
        var ct = deadline.Token;
        var work = stage.Work;
        var modelKey = stage.ModelKey;
        var decoded = new PreprocessedImage?[work.Count];
        var errors = new (string Reason, string Message)?[work.Count];
        var replaced = new (ImageJob Listed, string Message)?[work.Count];
        var outcomes = new ObjectOutcome?[work.Count];
        var fromText = new IReadOnlyList<(TaskSpec Task, string Text)>?[work.Count];
        var parallelism = options.Value.DecodeParallelism > 0 ? options.Value.DecodeParallelism : Environment.ProcessorCount;
        await Parallel.ForEachAsync(Enumerable.Range(0, work.Count), new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (i, token) =>
        {
            deadline.ThrowIfPast();
            var job = work[i].Job;
            try
            {
                if (job.Page is { } page)
                {
                    var rendered = await documents.RenderPageAsync(job, page, work[i].Tasks, preprocessor, token).ConfigureAwait(false);
                    work[i] = (job, rendered.ModelTasks.ToList());
                    fromText[i] = rendered.TextLayer;
                    decoded[i] = rendered.Pixels;
                    return;
                }

                if (DocumentStage.FetchesToDisk(job))
                {
                    outcomes[i] = await documents.FromFileAsync(job, preprocessor, options.Value.MaxImageBytes, token).ConfigureAwait(false);
                    decoded[i] = (outcomes[i] as ObjectOutcome.Image)?.Pixels;
                    return;
                }

                byte[] bytes;
                try
                {
                    bytes = await reader.ReadAsync(job.Uri, job.ETag, token).ConfigureAwait(false);
                }
                catch (CatalogObjectChangedException changed)
                {
                    // Overwritten since listing: the listed version is gone for good, so it gets its one 'changed'
                    // failure, and the bytes there now are processed under the ETag of those very bytes (never under
                    // the listed one). The next listing then finds the new version done instead of computing it again.
                    var current = await reader.ReadCurrentAsync(job.Uri, token).ConfigureAwait(false);
                    replaced[i] = (job, $"{changed.Message} Its current version (ETag {current.ETag}) was processed in its place.");
                    job = job with { ETag = current.ETag, Size = current.Bytes.LongLength };
                    work[i] = (job, work[i].Tasks);
                    bytes = current.Bytes;
                }

                outcomes[i] = await documents.FromBytesAsync(job, bytes, token).ConfigureAwait(false);
                decoded[i] = outcomes[i] is null ? preprocessor.Preprocess(bytes, token) : null;
            }
            catch (Exception ex) when (Classify(ex) is { } reason)
            {
                errors[i] = (reason, ex.Message);
            }
        }).ConfigureAwait(false);

        for (var i = 0; i < work.Count; i++)
        {
            var job = work[i].Job;
            var page = PageOf(job);
            if (replaced[i] is { } r)
            {
                WorkerLog.ImageFailed(logger, r.Listed.Uri, r.Listed.RunId, "changed", r.Message);
                stage.Failures.AddRange(work[i].Tasks.Select(t => new FailureRecord(r.Listed.Uri, r.Listed.ETag, modelKey, t.Prompt, "changed", r.Message, r.Listed.RunId)));
            }

            if (errors[i] is { } e)
            {
                WorkerLog.ImageFailed(logger, job.Uri, job.RunId, e.Reason, e.Message);
                stage.Failures.AddRange(work[i].Tasks.Select(t => new FailureRecord(job.Uri, job.ETag, modelKey, t.Prompt, e.Reason, e.Message, job.RunId) { Page = page }));
            }

            foreach (var (task, text) in fromText[i] ?? [])
            {
                stage.TextLayer.Add(new ResultRecord(job.Uri, job.ETag, modelKey, task.Prompt, StorableText(text), null, 0, 0, 0, job.RunId)
                {
                    Page = page,
                    Origin = DocumentStage.TextLayerOrigin,
                });
            }

            switch (outcomes[i])
            {
                case ObjectOutcome.Document d:
                    stage.Documents.Add((job, work[i].Tasks, d.PageCount, d.Kind, d.Size));
                    break;
                case ObjectOutcome.BrokenDocument b:
                    WorkerLog.ImageFailed(logger, job.Uri, job.RunId, b.ReasonCode, b.Message);
                    stage.BrokenDocuments.Add(new DocumentRecord(job.Uri, job.ETag, DocumentStage.KindName(b.Kind), null, b.Size, job.RunId));
                    stage.Failures.AddRange(work[i].Tasks.Select(t => new FailureRecord(job.Uri, job.ETag, modelKey, t.Prompt, b.ReasonCode, b.Message, job.RunId)));
                    break;
            }
        }

        // Documents and pages answered wholly from their text layer have nothing left for the model (or a time limit).
        var keep = Enumerable.Range(0, work.Count).Where(i => outcomes[i] is null or ObjectOutcome.Image && work[i].Tasks.Count > 0).ToList();
        var kept = keep.Select(i => work[i]).ToList();
        var keptDecoded = keep.Select(i => decoded[i]).ToArray();
        work.Clear();
        work.AddRange(kept);
        return keptDecoded;
    }

    /// <summary>The page a job's rows are stored under: its page, or 0 for a whole object.</summary>
    private static int PageOf(ImageJob job) => job.Page ?? 0;

    private async Task GenerateAsync(PaliGemmaModel model, List<(ImageJob Job, List<TaskSpec> Tasks)> work, PreprocessedImage?[] decoded, string modelKey,
        List<ResultRecord> results, List<FailureRecord> failures, List<ImageRecord> images, CancellationToken ct)
    {
        var batchImages = new List<PreprocessedImage>();
        var requests = new List<GenerationRequest>();
        var owners = new List<(ImageJob Job, TaskSpec Task)>();
        // An overwritten object processed under its new ETag can meet a job for that same version in this batch; one
        // statement must not upsert a key twice, so each (object, version, task) is computed once.
        var slots = new Dictionary<(string Uri, string ETag, int Page), int>();
        var seenTasks = new HashSet<(string Uri, string ETag, int Page, string Prompt)>();
        for (var i = 0; i < work.Count; i++)
        {
            if (decoded[i] is not { } image)
            {
                continue;
            }

            var job = work[i].Job;
            var page = PageOf(job);
            if (!slots.TryGetValue((job.Uri, job.ETag, page), out var slot))
            {
                slot = batchImages.Count;
                slots.Add((job.Uri, job.ETag, page), slot);
                images.Add(new ImageRecord(job.Uri, job.ETag, image.OriginalWidth, image.OriginalHeight, job.Size) { Page = page });
                batchImages.Add(image);
            }

            foreach (var spec in work[i].Tasks.Where(t => seenTasks.Add((job.Uri, job.ETag, page, t.Prompt))))
            {
                if (Validate(model, spec) is { } problem)
                {
                    failures.Add(new FailureRecord(job.Uri, job.ETag, modelKey, spec.Prompt, problem.Reason, problem.Message, job.RunId) { Page = page });
                    continue;
                }

                requests.Add(new GenerationRequest(slot, PaliGemmaTask.Parse(spec.Prompt), spec.MaxNewTokens));
                owners.Add((job, spec));
            }
        }

        if (requests.Count == 0)
        {
            return;
        }

        // Generation is CPU/GPU-bound and synchronous; running it off the consumer's thread lets the next batch
        // fetch and decode meanwhile (ConcurrencyLimit > 1). The call's own statistics: a model-wide before/after
        // difference would include whichever concurrent batch ran in between.
        var outputs = await Task.Run(() => model.Generate(batchImages, requests, ct), ct).ConfigureAwait(false);
        var stats = outputs.Statistics;
        metrics.Stage("vision", stats.Vision);
        metrics.Stage("prefill", stats.Prefill + stats.Embed);
        metrics.Stage("decode", stats.Decode);
        metrics.Tokens(outputs.Sum(o => (long)o.GeneratedTokens));
        if (model.MaskDecoder is null && requests.Any(r => r.Task.Kind == TaskKind.Segment))
        {
            // results has no note column: say it in the log, once per batch, that segment rows hold boxes only.
            WorkerLog.MasksUnavailable(logger, requests.Count(r => r.Task.Kind == TaskKind.Segment), PaliGemma.Inference.Masks.MaskDecoder.MissingDecoderNote);
        }

        for (var i = 0; i < outputs.Count; i++)
        {
            var (job, spec) = owners[i];
            var o = outputs[i];
            results.Add(new ResultRecord(job.Uri, job.ETag, modelKey, spec.Prompt, StorableText(o.Text), BoxesJson(requests[i].Task, o), o.PromptTokens, o.GeneratedTokens,
                Math.Round(o.Milliseconds, 3), job.RunId) { Page = PageOf(job) });
        }
    }

    /// <summary>
    /// Generated text as the store can hold it. Gemma's byte-fallback token &lt;0x00&gt; decodes to U+0000, which Postgres
    /// text rejects (22021) as jsonb rejects its escape in box labels; the failed insert would fail the whole batch on
    /// every retry until its images reached the error queue. U+FFFD keeps the position visible instead.
    /// </summary>
    internal static string StorableText(string text) => text.Contains('\0', StringComparison.Ordinal) ? text.Replace('\0', '\uFFFD') : text;

    /// <summary>
    /// The model-specific check of one task. Whether its prompt parses and its limit is sane was settled by the
    /// endpoint's validation filter before batching, so only whether it fits this model's positions is left.
    /// </summary>
    private static (string Reason, string Message)? Validate(PaliGemmaModel model, TaskSpec spec) =>
        TaskValidation.FitProblem(spec.Prompt, model.BuildPrefix(spec.Prompt).Length, spec.MaxNewTokens, model.Config.MaxPositionEmbeddings) is { } problem
            ? ("prompt_too_long", problem)
            : null;

    /// <summary>results.boxes: [{"label","x1","y1","x2","y2"}] plus "mask": {"size":[h,w],"counts"} where decoded; null for text tasks.</summary>
    internal static string? BoxesJson(PaliGemmaTask task, GenerationOutput output)
    {
        if (!task.ProducesBoxes)
        {
            return null;
        }

        var boxes = output.Boxes.Select(b => new StoredBox(StorableText(b.Label), b.X1, b.Y1, b.X2, b.Y2)
        {
            Mask = b.Mask is { } m ? new StoredMask([m.Height, m.Width], m.Counts) : null,
        }).ToArray();
        return JsonSerializer.Serialize(boxes, WorkerJson.Default.StoredBoxArray);
    }

    /// <summary>
    /// The failure reason for an error that belongs to one image, or null for an infrastructure fault that must fail
    /// the batch (so it is redelivered) rather than be recorded against the image.
    /// </summary>
    internal static string? Classify(Exception ex) => ex switch
    {
        CatalogObjectMissingException => "not_found",
        CatalogObjectChangedException => "changed",
        CatalogObjectTooLargeException => "too_large",
        ImageDecodeException d => d.Reason switch
        {
            ImageFailureReason.Empty => "empty",
            ImageFailureReason.NotAnImage => "not_an_image",
            ImageFailureReason.Corrupt => "corrupt",
            ImageFailureReason.TooLarge => "too_large",
            ImageFailureReason.UnsupportedFormat => "unsupported_format",
            _ => "unsupported",
        },
        AmazonS3Exception { StatusCode: System.Net.HttpStatusCode.NotFound } => "not_found",
        AmazonS3Exception { StatusCode: System.Net.HttpStatusCode.Forbidden } => "forbidden",
        CatalogUriException => "invalid_uri",
        DocumentPageException p => p.ReasonCode,
        DocumentException d => d.ReasonCode,
        FileNotFoundException or DirectoryNotFoundException => "not_found",
        _ => null,
    };
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Imaging;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Producer;
using PaliGemma.Pipeline.Worker;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace PaliGemma.Pipeline.Benchmarks;

/// <summary>
/// <c>pgpipe-bench pipeline</c>: end-to-end images/s through S3 -> RabbitMQ -> worker -> Postgres beside the raw
/// decode+resize rate of the same bytes in this process (the CPU limit), producer enumerate+enqueue rate with peak
/// memory, and the Postgres batch insert rate. S3 and RabbitMQ come from configuration (S3__*, Messaging__*); the
/// database only from <c>--db</c>, because every phase writes bench rows and runs, and a benchmark that picked up the
/// configured store would write them into a user's results. tools/bench_pipeline.sh passes its scratch database.
/// </summary>
internal static class PipelineBenchmark
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "A tiny model folder (inference must be negligible), e.g. tests/fixtures/models/tiny.", Required = true };
        var db = new Option<string?>("--db") { Description = "Connection string of a scratch Postgres database to write bench rows and runs into (required: Database__* settings are never used)." };
        var images = new Option<int>("--images") { Description = "JPEGs to generate and push through the pipeline.", DefaultValueFactory = _ => 1000 };
        var width = new Option<int>("--width") { DefaultValueFactory = _ => 1200 };
        var height = new Option<int>("--height") { DefaultValueFactory = _ => 900 };
        var bucket = new Option<string>("--bucket") { Description = "S3 bucket (created when missing).", DefaultValueFactory = _ => "pgpipe-bench" };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Token limit per image (1: inference is not what is measured; the model still runs vision, embed and prefill per batch).", DefaultValueFactory = _ => 1 };
        var warmup = new Option<int>("--warmup-images") { Description = "Images pushed through the pipeline (and the raw decoder) before timing, so JIT tiering (about 2 ms of CPU per image while it settles) is not timed.", DefaultValueFactory = _ => 1000 };
        var keys = new Option<int[]>("--keys") { Description = "Key counts of the producer benchmark on a local folder of one-byte files (repeat or list several; 0 skips).", DefaultValueFactory = _ => [100_000], AllowMultipleArgumentsPerToken = true };
        var s3Keys = new Option<int[]>("--s3-keys") { Description = "Key counts of the producer benchmark on S3 (uploaded once and kept; 0 skips).", DefaultValueFactory = _ => [10_000], AllowMultipleArgumentsPerToken = true };
        var nightlyFiles = new Option<int>("--nightly-files") { Description = "Files of --nightly-file-kb for the nightly re-run of a local folder (bytes read; 0 skips).", DefaultValueFactory = _ => 0 };
        var nightlyFileKb = new Option<int>("--nightly-file-kb") { Description = "Size of each --nightly-files file, in KiB.", DefaultValueFactory = _ => 256 };
        var listConcurrency = new Option<int>("--list-concurrency") { Description = "Producer:ListConcurrency of the second S3 producer measurement (1 skips it).", DefaultValueFactory = _ => 4 };
        var storeRows = new Option<int>("--store-rows") { Description = "Rows written by the Postgres insert benchmark (0 skips).", DefaultValueFactory = _ => 20_000 };
        var workDir = new Option<string>("--work-dir") { Description = "Scratch folder for the local-folder key set (kept for re-runs).", DefaultValueFactory = _ => Path.Combine(Path.GetTempPath(), "pgpipe-bench-pipeline") };
        var skipPipeline = new Option<bool>("--skip-pipeline") { Description = "Only the producer and store benchmarks." };
        var rounds = new Option<int>("--rounds") { Description = "Timed rounds, each a raw decode phase then a pipeline phase over its own copy of the images; the table shows the round with the median CPU ratio and lists every round's ratio (single runs on 2 cores moved the ratio by up to 0.2).", DefaultValueFactory = _ => 3 };
        var management = new Option<string>("--rabbitmq-management") { Description = "RabbitMQ management API, used to delete the benchmark's queues afterwards, with the Messaging:Username and password.", DefaultValueFactory = _ => "http://127.0.0.1:15672" };
        var command = new Command("pipeline", "End-to-end S3 -> RabbitMQ -> worker -> Postgres images/s vs the raw decode+resize limit; producer and insert rates.");
        foreach (var o in new Option[] { model, db, images, width, height, bucket, maxNew, warmup, keys, s3Keys, nightlyFiles, nightlyFileKb, listConcurrency, storeRows, workDir, skipPipeline, management, rounds })
        {
            command.Add(o);
        }

        command.SetAction(async (r, ct) => await RunAsync(new Settings(r.GetValue(model)!, r.GetValue(db), r.GetValue(images), r.GetValue(width), r.GetValue(height), r.GetValue(bucket)!,
            r.GetValue(maxNew), r.GetValue(keys)!, r.GetValue(s3Keys)!, r.GetValue(nightlyFiles), r.GetValue(nightlyFileKb), r.GetValue(listConcurrency), r.GetValue(storeRows), r.GetValue(workDir)!, r.GetValue(skipPipeline), r.GetValue(management)!, Math.Max(0, r.GetValue(warmup)), Math.Max(1, r.GetValue(rounds))), ct).ConfigureAwait(false));
        return command;
    }

    private sealed record Settings(string Model, string? Db, int Images, int Width, int Height, string Bucket, int MaxNewTokens, int[] Keys, int[] S3Keys, int NightlyFiles, int NightlyFileKb, int ListConcurrency, int StoreRows,
        string WorkDir, bool SkipPipeline, string Management, int WarmupImages, int Rounds)
    {
        /// <summary>Management API credentials, from the messaging settings; set by <see cref="RunAsync"/>.</summary>
        public (string User, string Password) ManagementLogin { get; init; } = (string.Empty, string.Empty);

        /// <summary>
        /// Configuration that wins over every other source in each host the benchmark builds: the --db database, so
        /// Database__* from appsettings or the environment can never redirect the writes into a user's store.
        /// </summary>
        public Dictionary<string, string?> Overrides(params (string Key, string? Value)[] more)
        {
            var result = new Dictionary<string, string?>
            {
                ["Database:Provider"] = nameof(DatabaseProvider.Postgres),
                ["Database:ConnectionString"] = Db,
                ["Database:ConnectionStringFile"] = null,
                ["Database:PasswordFile"] = null,
                ["Database:SslMode"] = null,
                ["Database:RootCertificate"] = null,
                ["Database:WorkerRole"] = null,
                ["Database:ProducerRole"] = null,
                ["Database:ReaderRole"] = null,
                ["Logging:LogLevel:Default"] = "Warning",
            };
            foreach (var (key, value) in more)
            {
                result[key] = value;
            }

            return result;
        }
    }

    /// <summary>One timed round: its raw phase and what the pipeline phase after it cost, in seconds.</summary>
    private sealed record PipelineRound(int Number, (double Rate, double Wall, double Cpu, double Machine) Raw, RunStatus Status, double Wall, double Enqueued,
        double Cpu, double Jit, long Compiled, double Sys, double Machine, Dictionary<string, double> Services, double ModelWall, string Gc)
    {
        /// <summary>CPU milliseconds per image of this process, the tiered-JIT thread left out.</summary>
        public double SteadyMs(int images) => (Cpu - Jit) * 1000 / images;

        /// <summary>Pipeline CPU per image over the raw phase's, both over the same images.</summary>
        public double Ratio(int images) => SteadyMs(images) / (Raw.Cpu * 1000 / images);
    }

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static async Task<int> RunAsync(Settings s, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(s.Db))
        {
            return Fail("--db is required: pass the connection string of a scratch Postgres database (the benchmark writes bench rows and runs there, and never into the configured Database__* store).");
        }

        if (!Directory.Exists(s.Model))
        {
            return Fail($"--model {s.Model}: no such folder (the benchmark takes a model folder, e.g. tests/fixtures/models/tiny).");
        }

        var configuration = new ConfigurationBuilder().AddPipelineSources().Build();
        var s3Options = configuration.GetSection(S3Options.SectionName).Get<S3Options>() ?? new S3Options();
        var messaging = configuration.GetSection(MessagingOptions.SectionName).Get<MessagingOptions>() ?? new MessagingOptions();
        if (messaging.Transport != TransportKind.RabbitMq || string.IsNullOrWhiteSpace(s3Options.ServiceUrl) && string.IsNullOrWhiteSpace(s3Options.AccessKey))
        {
            return Fail("pgpipe-bench pipeline measures the distributed path: set Messaging__Transport=RabbitMq and S3__ServiceUrl/S3__AccessKey/S3__SecretKey (tools/bench_pipeline.sh does this from .ci/services.env).");
        }

        s = s with { ManagementLogin = (messaging.Username, messaging.ResolvePassword()) };
        Console.WriteLine(string.Create(Inv,
            $"pgpipe-bench pipeline: {Environment.ProcessorCount} logical CPUs; S3 {s3Options.ServiceUrl}; RabbitMQ {messaging.Host}:{messaging.Port}, management {s.Management} as {messaging.Username}; Postgres {ConnectionStringRedactor.Redact(s.Db)}"));
        using var s3 = S3ClientFactory.Create(s3Options);
        await EnsureBucketAsync(s3, s.Bucket, ct).ConfigureAwait(false);
        var rows = new List<string>();

        if (!s.SkipPipeline)
        {
            await PipelineAsync(s, s3, rows, ct).ConfigureAwait(false);
        }

        await ProducerAsync(s, s3, rows, ct).ConfigureAwait(false);
        if (s.StoreRows > 0)
        {
            await StoreAsync(s, rows, ct).ConfigureAwait(false);
        }

        Console.WriteLine();
        Console.WriteLine("| measurement | value |");
        Console.WriteLine("|---|---|");
        foreach (var row in rows)
        {
            Console.WriteLine(row);
        }

        return 0;
    }

    private static async Task PipelineAsync(Settings s, IAmazonS3 s3, List<string> rows, CancellationToken ct)
    {
        // A private copy of the model under a unique folder name gives a unique model key, so a unique queue: jobs
        // left on the shared broker by other runs cannot reach this worker, and results are never reused.
        var tag = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", Inv) + "-" + Guid.NewGuid().ToString("N")[..6];
        var modelCopy = Path.Combine(Path.GetTempPath(), "pgpipe-bench-models", "bench-" + tag);
        CopyFolder(Path.GetFullPath(s.Model), modelCopy);
        try
        {
            var preprocessor = new ImagePreprocessor(ImageProcessorConfig.FromFile(Path.Combine(modelCopy, "preprocessor_config.json")));
            Console.WriteLine(string.Create(Inv, $"generating {s.Images} JPEGs of {s.Width}x{s.Height} (quality 85) ..."));
            var sw = Stopwatch.StartNew();
            var jpegs = GenerateJpegs(s.Images, s.Width, s.Height);
            var totalBytes = jpegs.Sum(j => (long)j.Length);
            Console.WriteLine(string.Create(Inv, $"  {sw.Elapsed.TotalSeconds:0.0} s, mean {totalBytes / jpegs.Length / 1024.0:0} KiB"));
            rows.Add(string.Create(Inv, $"| images | {s.Images} JPEG {s.Width}x{s.Height} ({s.Width * s.Height / 1e6:0.00} MP), mean {totalBytes / jpegs.Length / 1024.0:0} KiB |"));

            // The CPU limit: decode + resize + normalise of the same bytes on every core, nothing else; measured in
            // every round, right before that round's pipeline phase, so both see the machine in the same state.
            Parallel.For(0, Math.Max(16, Math.Min(s.WarmupImages, jpegs.Length)), i => preprocessor.Preprocess(jpegs[i], ct));
            (double Rate, double Wall, double Cpu, double Machine) Raw()
            {
                var machineBefore = MachineBusySeconds();
                var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                Parallel.For(0, jpegs.Length, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct }, i => preprocessor.Preprocess(jpegs[i], ct));
                var wall = clock.Elapsed.TotalSeconds;
                return (jpegs.Length / wall, wall, (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds, MachineBusySeconds() - machineBefore);
            }

            // Each round processes its own copy of the images: results are keyed by object, so a copy that had been
            // processed once would be reused, not measured.
            var prefixes = Enumerable.Range(1, s.Rounds).Select(r => $"pipeline-{tag}-r{r}/").ToList();
            sw.Restart();
            foreach (var prefix in prefixes)
            {
                await UploadAsync(s3, s.Bucket, Enumerable.Range(0, jpegs.Length).Select(i => ($"{prefix}img-{i:D5}.jpg", jpegs[i])), ct).ConfigureAwait(false);
            }

            var warmupPrefix = $"warmup-{tag}/";
            var warmupCount = Math.Min(s.WarmupImages, jpegs.Length);
            await UploadAsync(s3, s.Bucket, Enumerable.Range(0, warmupCount).Select(i => ($"{warmupPrefix}img-{i:D5}.jpg", jpegs[i])), ct).ConfigureAwait(false);
            Console.WriteLine(string.Create(Inv, $"uploaded {s.Rounds} copies to s3://{s.Bucket}/pipeline-{tag}-r*/ in {sw.Elapsed.TotalSeconds:0.0} s"));

            var builder = PipelineConfiguration.CreateHostBuilder(null, s.Overrides(("Worker:Model", modelCopy), ("Observability:Port", "0")));
            builder.AddWorker();
            builder.AddProducer(withBus: false);
            using var host = builder.Build();
            var store = host.Services.GetRequiredService<ResultStore>();
            await store.MigrateAsync(ct).ConfigureAwait(false);
            var worker = host.Services.GetRequiredService<IOptions<WorkerOptions>>().Value;
            var key = host.Services.GetRequiredService<ModelReference>().Key;
            Console.WriteLine(string.Create(Inv,
                $"worker: batch {worker.BatchSize}, concurrency {worker.ConcurrencyLimit}, prefetch {worker.EffectivePrefetch}, decode parallelism {(worker.DecodeParallelism > 0 ? worker.DecodeParallelism : Environment.ProcessorCount)}, batch time limit {worker.BatchTimeLimitMs} ms; queue {key.QueueName}; max_new_tokens {s.MaxNewTokens}"));
            // Model load and broker topology happen in StartAsync, outside the timed part.
            await host.StartAsync(ct).ConfigureAwait(false);
            try
            {
                if (warmupCount > 0)
                {
                    // Same path, other keys: JIT tiering of MassTransit, the S3 client, Npgsql and the worker happens
                    // here (it was ~13% of this process's CPU in a cold 1,000-image run), as a long-running worker has it done.
                    var warm = Stopwatch.StartNew();
                    var w = await host.Services.GetRequiredService<EnqueueService>().EnqueueAsync(
                        new EnqueueRequest($"s3://{s.Bucket}/{warmupPrefix}", new CatalogFilter(), key, [new TaskSpec("caption en", s.MaxNewTokens)], "bench-warmup-" + tag),
                        null, ct).ConfigureAwait(false);
                    while ((await store.GetRunStatusAsync(w.RunId, TimeSpan.FromMinutes(1), ct).ConfigureAwait(false)).Pending > 0 && warm.Elapsed < TimeSpan.FromMinutes(5))
                    {
                        await Task.Delay(100, ct).ConfigureAwait(false);
                    }

                    var warmed = warm.Elapsed;
                    var settled = await JitSettledAsync(ct).ConfigureAwait(false);
                    Console.WriteLine(string.Create(Inv, $"warm-up: {warmupCount} images through the pipeline in {warmed.TotalSeconds:0.0} s, then {settled.TotalSeconds:0.0} s until the JIT settled (not timed)"));
                }

                var model = host.Services.GetRequiredService<ModelHost>().Model;
                async Task<PipelineRound> TimedAsync(int round)
                {
                    await JitSettledAsync(ct).ConfigureAwait(false);
                    var raw = Raw();
                    Console.WriteLine(string.Create(Inv, $"round {round}: raw decode+resize to {preprocessor.Width}x{preprocessor.Height}: {raw.Rate:0.0} images/s on {Environment.ProcessorCount} threads (this process {raw.Cpu:0.0} CPU-s = {raw.Cpu * 1000 / jpegs.Length:0.0} ms/image; machine busy {raw.Machine:0.0} of {raw.Wall * Environment.ProcessorCount:0.0} CPU-s)"));
                    var before = model.Statistics;
                    var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
                    var jitBefore = TieredCompilationSeconds();
                    var compiledBefore = System.Runtime.JitInfo.GetCompiledMethodCount();
                    var sysBefore = Process.GetCurrentProcess().PrivilegedProcessorTime;
                    var machineBefore = MachineBusySeconds();
                    var servicesBefore = ServiceCpuSeconds();
                    var gcBefore = (G0: GC.CollectionCount(0), G1: GC.CollectionCount(1), G2: GC.CollectionCount(2), Pause: GC.GetTotalPauseDuration());
                    var clock = Stopwatch.StartNew();
                    var summary = await host.Services.GetRequiredService<EnqueueService>().EnqueueAsync(
                        new EnqueueRequest($"s3://{s.Bucket}/{prefixes[round - 1]}", new CatalogFilter(), key, [new TaskSpec("caption en", s.MaxNewTokens)], $"bench-{tag}-r{round}"),
                        null, ct).ConfigureAwait(false);
                    var enqueued = clock.Elapsed;
                    RunStatus status;
                    var lastDone = -1L;
                    var stall = Stopwatch.StartNew();
                    while (true)
                    {
                        status = await store.GetRunStatusAsync(summary.RunId, TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
                        if (status.Pending == 0 || stall.Elapsed > TimeSpan.FromSeconds(120))
                        {
                            break;
                        }

                        if (status.Done + status.Failed != lastDone)
                        {
                            lastDone = status.Done + status.Failed;
                            stall.Restart();
                        }

                        // Each poll is a status query in this process and in Postgres; 100 ms bounds the timing error at ~1%.
                        await Task.Delay(100, ct).ConfigureAwait(false);
                    }

                    var wall = clock.Elapsed;
                    var services = ServiceCpuSeconds().ToDictionary(kv => kv.Key, kv => kv.Value - servicesBefore.GetValueOrDefault(kv.Key));
                    var result = new PipelineRound(
                        round, raw, status, wall.TotalSeconds, enqueued.TotalSeconds,
                        (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds,
                        TieredCompilationSeconds() - jitBefore,
                        System.Runtime.JitInfo.GetCompiledMethodCount() - compiledBefore,
                        (Process.GetCurrentProcess().PrivilegedProcessorTime - sysBefore).TotalSeconds,
                        MachineBusySeconds() - machineBefore,
                        services,
                        (model.Statistics.Wall - before.Wall).TotalSeconds,
                        $"gen0 {GC.CollectionCount(0) - gcBefore.G0}, gen1 {GC.CollectionCount(1) - gcBefore.G1}, gen2 {GC.CollectionCount(2) - gcBefore.G2}, pauses {(GC.GetTotalPauseDuration() - gcBefore.Pause).TotalMilliseconds:0} ms");
                    Console.WriteLine(string.Create(Inv,
                        $"round {round}: pipeline: {status.Done} done, {status.Failed} failed, {status.Pending} pending in {result.Wall:0.00} s (enqueue finished at {result.Enqueued:0.00} s); model time {result.ModelWall:0.00} s; this process used {result.Cpu:0.0} CPU-s ({result.Compiled} methods compiled), the whole machine {result.Machine:0.0} of {result.Wall * Environment.ProcessorCount:0.0} CPU-s; CPU per image {result.SteadyMs(jpegs.Length):0.00} ms vs raw {raw.Cpu * 1000 / jpegs.Length:0.00} ms: {result.Ratio(jpegs.Length):0.00}x"));
                    return result;
                }

                var measured = new List<PipelineRound>();
                for (var round = 1; round <= s.Rounds; round++)
                {
                    measured.Add(await TimedAsync(round).ConfigureAwait(false));
                }

                var m = measured.OrderBy(r => r.Ratio(jpegs.Length)).ElementAt(measured.Count / 2);
                var n = jpegs.Length;
                var rate = m.Status.Done / m.Wall;
                rows.Add(string.Create(Inv, $"| rounds (raw phase, then pipeline over its own copy); the rows below are round {m.Number}, the median | CPU ratio per round: {string.Join(", ", measured.Select(r => r.Ratio(n).ToString("0.00", Inv) + "x"))} |"));
                rows.Add(string.Create(Inv, $"| raw decode+resize (CPU limit, {Environment.ProcessorCount} threads, in-process) | {m.Raw.Rate:0.0} images/s |"));
                rows.Add(string.Create(Inv, $"| pipeline S3 -> RabbitMQ -> worker -> Postgres, enqueue start to last result | {rate:0.0} images/s ({m.Status.Done}/{n} done, {m.Status.Failed} failed, {m.Wall:0.00} s) |"));
                rows.Add(string.Create(Inv, $"| pipeline / raw limit (target >= 70%) | {rate / m.Raw.Rate:P1} |"));
                // On a shared machine the wall-clock ratio also measures who else wants the cores; CPU-seconds per
                // image of this process is the contention-independent view of the same overhead.
                rows.Add(string.Create(Inv, $"| CPU per image in this process: raw {m.Raw.Cpu * 1000 / n:0.0} ms, pipeline (worker + producer) {m.Cpu * 1000 / n:0.0} ms of which kernel {m.Sys * 1000 / n:0.0} ms; raw/pipeline {m.Raw.Cpu / m.Cpu:P0} |"));
                // The runtime's background tier-1 compiler is still busy after the warm-up (a worker that runs for hours
                // has long finished); its thread's CPU is shown apart so the steady-state cost per image can be read.
                rows.Add(string.Create(Inv,
                    $"| CPU per image without the tiered-JIT thread: pipeline {m.SteadyMs(n):0.0} ms (JIT thread {m.Jit * 1000 / n:0.0} ms), raw {m.Raw.Cpu * 1000 / n:0.0} ms: pipeline/raw {m.Ratio(n):0.00}x (target <= 1.3x) |"));
                // Everything the pipeline costs per image, in every process it runs in; against the raw decode cost this
                // bounds the pipeline/raw ratio on a machine whose cores the services share.
                var perImage = m.Services.ToDictionary(kv => kv.Key, kv => kv.Value * 1000 / n);
                var pipelineCpuMs = (m.Cpu * 1000 / n) + perImage.Values.Sum();
                rows.Add(string.Create(Inv,
                    $"| pipeline CPU per image, all its processes | {pipelineCpuMs:0.0} ms = pgpipe {m.Cpu * 1000 / n:0.0} + {string.Join(" + ", perImage.Select(kv => $"{kv.Key} {kv.Value:0.0}"))}; raw {m.Raw.Cpu * 1000 / n:0.0} ms, so co-located services cap the ratio at {m.Raw.Cpu * 1000 / n / pipelineCpuMs:P0} |"));
                rows.Add(string.Create(Inv, $"| GC during pipeline (pgpipe) | {m.Gc}; server GC {System.Runtime.GCSettings.IsServerGC} |"));
                rows.Add(string.Create(Inv, $"| machine CPU busy during pipeline (all processes) | {m.Machine:0.0} of {m.Wall * Environment.ProcessorCount:0.0} CPU-s; raw phase {m.Raw.Machine:0.0} of {m.Raw.Wall * Environment.ProcessorCount:0.0} |"));
                rows.Add(string.Create(Inv, $"| model time inside the pipeline (tiny model, max_new_tokens {s.MaxNewTokens}) | {m.ModelWall:0.00} s of {m.Wall:0.00} s |"));
            }
            finally
            {
                await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
                await DeleteQueueAsync(s, key.QueueName, CancellationToken.None).ConfigureAwait(false);
                await DeleteBenchRowsAsync(s.Db!, key.ToString(), [.. prefixes.Select(p => $"s3://{s.Bucket}/{p}"), $"s3://{s.Bucket}/{warmupPrefix}"]).ConfigureAwait(false);
            }
        }
        finally
        {
            Directory.Delete(modelCopy, recursive: true);
        }
    }

    private static async Task ProducerAsync(Settings s, IAmazonS3 s3, List<string> rows, CancellationToken ct)
    {
        // The nightly case: every key already has its results, so a pass lists, looks up, records and enqueues
        // nothing. Each size gets a listing of the source alone (the rate a producer can at best reach), a first pass
        // that records the run's items, and the measured second pass of the same run.
        foreach (var count in s.Keys.Where(k => k > 0))
        {
            var folder = Path.Combine(s.WorkDir, $"keys-{count}");
            EnsureFolder(folder, count, 1);
            rows.Add(await MeasureNightlyAsync(s, folder, $"local folder, {count} keys", null, ct).ConfigureAwait(false));
        }

        if (s.NightlyFiles > 0)
        {
            // Files of a realistic size: what a nightly pass reads from disk (before the hash cache: every byte).
            var folder = Path.Combine(s.WorkDir, $"photos-{s.NightlyFiles}x{s.NightlyFileKb}k");
            EnsureFolder(folder, s.NightlyFiles, s.NightlyFileKb * 1024);
            rows.Add(await MeasureNightlyAsync(s, folder, $"local folder, {s.NightlyFiles} files of {s.NightlyFileKb} KiB", null, ct).ConfigureAwait(false));
        }

        foreach (var count in s.S3Keys.Where(k => k > 0))
        {
            var prefix = $"keys-{count}/";
            if (await CountKeysAsync(s3, s.Bucket, prefix, ct).ConfigureAwait(false) != count)
            {
                var sw = Stopwatch.StartNew();
                await UploadAsync(s3, s.Bucket, Enumerable.Range(0, count).Select(i => ($"{prefix}d{i / 1000:D4}/k{i:D7}.jpg", new byte[] { 0xFF })), ct).ConfigureAwait(false);
                rows.Add(string.Create(Inv, $"| s3rver upload of {count} one-byte objects (32 parallel PUTs) | {count / sw.Elapsed.TotalSeconds:0} objects/s ({sw.Elapsed.TotalSeconds:0.0} s) |"));
            }

            rows.Add(await MeasureNightlyAsync(s, $"s3://{s.Bucket}/{prefix}", $"s3rver, {count} keys, one listing stream", (s3, s.Bucket, prefix), ct).ConfigureAwait(false));
            if (s.ListConcurrency > 1)
            {
                rows.Add(await MeasureNightlyAsync(s, $"s3://{s.Bucket}/{prefix}", $"s3rver, {count} keys, Producer:ListConcurrency={s.ListConcurrency}", (s3, s.Bucket, prefix), ct,
                    s.ListConcurrency).ConfigureAwait(false));
            }
        }
    }

    /// <summary>Creates <paramref name="count"/> files of <paramref name="bytes"/> bytes in folders of 1,000 unless the folder already holds that many.</summary>
    private static void EnsureFolder(string folder, int count, int bytes)
    {
        if (Directory.Exists(folder) && Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Count() == count)
        {
            return;
        }

        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }

        Console.WriteLine(string.Create(Inv, $"creating {count} files of {bytes} bytes in {folder} ..."));
        var content = new byte[bytes];
        for (var i = 0; i < count; i++)
        {
            // 100 folders of 1,000 per 100k keys: a realistic tree, and no single directory of 100k entries.
            var dir = Path.Combine(folder, $"d{i / 1000:D4}");
            if (i % 1000 == 0)
            {
                Directory.CreateDirectory(dir);
            }

            BitConverter.TryWriteBytes(content, i);
            File.WriteAllBytes(Path.Combine(dir, $"k{i:D7}.jpg"), content);
        }
    }

    private static async Task<int> CountKeysAsync(IAmazonS3 s3, string bucket, string prefix, CancellationToken ct)
    {
        var count = 0;
        var request = new ListObjectsV2Request { BucketName = bucket, Prefix = prefix, MaxKeys = 1000 };
        ListObjectsV2Response page;
        do
        {
            page = await s3.ListObjectsV2Async(request, ct).ConfigureAwait(false);
            count += page.S3Objects?.Count ?? 0;
            request.ContinuationToken = page.NextContinuationToken;
        }
        while (page.IsTruncated == true);
        return count;
    }

    private static async Task<string> MeasureNightlyAsync(Settings s, string source, string label, (IAmazonS3 Client, string Bucket, string Prefix)? raw, CancellationToken ct,
        int listConcurrency = 1)
    {
        // A model key nobody serves: the producer needs no model files, and its queue is deleted afterwards.
        var key = new ModelKey("bench-producer-" + Guid.NewGuid().ToString("N")[..8], "fp32");
        var builder = PipelineConfiguration.CreateHostBuilder(null, s.Overrides(("Observability:Port", "0"), ("Producer:ListConcurrency", listConcurrency.ToString(Inv))));
        builder.AddProducer();
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<ResultStore>();
        await store.MigrateAsync(ct).ConfigureAwait(false);
        await host.StartAsync(ct).ConfigureAwait(false);
        try
        {
            var catalog = host.Services.GetRequiredService<CatalogSourceFactory>().Create(source);
            // First listing: on a local folder it reads every file (no hash known yet); its objects seed the results.
            var sw = Stopwatch.StartNew();
            var readBefore = ReadIoField("rchar:");
            var seeded = await SeedResultsAsync(s.Db!, catalog, key.ToString(), ct).ConfigureAwait(false);
            var firstListing = sw.Elapsed;
            var firstRead = ReadIoField("rchar:") - readBefore;

            // The source's own listing rate, nothing else: for S3 one ListObjectsV2 stream, as a client would run it.
            sw.Restart();
            long rawListed = 0;
            if (raw is { } r)
            {
                rawListed = await CountKeysAsync(r.Client, r.Bucket, r.Prefix, ct).ConfigureAwait(false);
            }
            else
            {
                rawListed = await CountAsync(catalog, ct).ConfigureAwait(false);
            }

            var rawElapsed = sw.Elapsed;
            var request = new EnqueueRequest(source, new CatalogFilter(), key, [new TaskSpec("caption en", 4)], "bench-producer-" + Guid.NewGuid().ToString("N"));
            var enqueue = host.Services.GetRequiredService<EnqueueService>();
            // First pass of the run: records its items (a fresh run), enqueues nothing (every key has results).
            await enqueue.EnqueueAsync(request, null, ct).ConfigureAwait(false);

            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            ResetPeakRss();
            var rssBefore = ReadStatusKb("VmRSS:");
            using var sampler = new ManagedMemorySampler();
            var managedBefore = GC.GetTotalMemory(false);
            readBefore = ReadIoField("rchar:");
            // PGPIPE_BENCH_TRACE=1 prints the pass as a timeline of its ListObjectsV2 requests, store commands and pages:
            // how the end-of-pass sweep was found to cost a 10k-key pass a quarter of its time.
            using var timeline = Environment.GetEnvironmentVariable("PGPIPE_BENCH_TRACE") is null ? null : new SpanTimeline();
            sw.Restart();
            var summary = await enqueue.EnqueueAsync(request, null, ct).ConfigureAwait(false);
            var elapsed = sw.Elapsed;
            timeline?.Print();
            var read = ReadIoField("rchar:") - readBefore;
            var peakManaged = sampler.Peak;
            var hwm = ReadStatusKb("VmHWM:");
            var p = summary.Progress;
            // The source alone once more, after the pass: on a shared machine the listing rate drifts with whatever
            // else runs, and the mean of a listing before and one after brackets the pass it is compared with.
            sw.Restart();
            var rawAfter = raw is { } r2 ? await CountKeysAsync(r2.Client, r2.Bucket, r2.Prefix, ct).ConfigureAwait(false) : await CountAsync(catalog, ct).ConfigureAwait(false);
            var rawAfterElapsed = sw.Elapsed;
            var rawRate = (rawListed + rawAfter) / (rawElapsed + rawAfterElapsed).TotalSeconds;
            var rate = p.Listed / elapsed.TotalSeconds;
            Console.WriteLine(string.Create(Inv,
                $"producer ({label}): seeded {seeded} in {firstListing.TotalSeconds:0.00} s ({firstRead / 1048576.0:0.0} MiB read); raw listing {rawListed} in {rawElapsed.TotalSeconds:0.00} s before the pass and {rawAfterElapsed.TotalSeconds:0.00} s after; nightly pass listed {p.Listed}, enqueued {p.Enqueued} in {elapsed.TotalSeconds:0.00} s, {read / 1048576.0:0.0} MiB read"));
            return string.Create(Inv,
                $"| producer nightly pass (nothing changed), {label} | {rate:0} keys/s ({p.Listed} listed, {p.Enqueued} enqueued, {elapsed.TotalSeconds:0.0} s); source listing alone {rawRate:0} keys/s{(raw is null ? string.Empty : " (one ListObjectsV2 stream)")}, mean of one listing before and one after the pass ({rawListed / rawElapsed.TotalSeconds:0}, {rawAfter / rawAfterElapsed.TotalSeconds:0}), producer/listing {rate / rawRate:P0}; read {read / 1048576.0:0.0} MiB (first listing {firstRead / 1048576.0:0.0} MiB in {firstListing.TotalSeconds:0.0} s); peak managed heap {peakManaged / 1048576.0:0} MB (start {managedBefore / 1048576.0:0} MB); peak RSS {(hwm < 0 ? "n/a" : (hwm / 1024.0).ToString("0", Inv))} MB (start {rssBefore / 1024.0:0} MB) |");
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            var deleted = await DeleteQueueAsync(s, key.QueueName, CancellationToken.None).ConfigureAwait(false);
            if (!deleted)
            {
                Console.Error.WriteLine($"warning: could not delete queue {key.QueueName}; purge it by hand.");
            }

            await DeleteBenchRowsAsync(s.Db!, key.ToString(), []).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Deletes what one measurement wrote under its own model key (results, failures, runs with their items) and the
    /// image rows under <paramref name="uriPrefixes"/>. Left behind, they made every later run slower: the end-of-pass
    /// sweep reads every result row of the database, and 52 earlier measurements had left 3.3 million, which cost the
    /// 10k-key nightly pass 0.3 s of its 1.9 s.
    /// </summary>
    private static async Task DeleteBenchRowsAsync(string connectionString, string model, IReadOnlyList<string> uriPrefixes)
    {
        try
        {
            await using var connection = new Npgsql.NpgsqlConnection(connectionString);
            await connection.OpenAsync(CancellationToken.None).ConfigureAwait(false);
            await using var command = new Npgsql.NpgsqlCommand(
                "DELETE FROM results WHERE model = @m; DELETE FROM failures WHERE model = @m; DELETE FROM runs WHERE model = @m; " +
                "DELETE FROM images WHERE uri ^@ ANY(@p)", connection);
            command.Parameters.AddWithValue("m", model);
            command.Parameters.AddWithValue("p", uriPrefixes.ToArray());
            await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Npgsql.NpgsqlException ex)
        {
            Console.Error.WriteLine($"warning: could not delete the rows of {model}: {ex.Message}");
        }
    }

    private static async Task<long> CountAsync(ICatalogSource catalog, CancellationToken ct)
    {
        long count = 0;
        await foreach (var unused in catalog.ListAsync(new CatalogFilter(), ct).ConfigureAwait(false))
        {
            count++;
        }

        return count;
    }

    /// <summary>
    /// Lists <paramref name="catalog"/> once and gives every object a result of <paramref name="model"/>, in bulk
    /// statements of 10,000 rows, so that the passes measured after it find nothing to do.
    /// </summary>
    private static async Task<long> SeedResultsAsync(string connectionString, ICatalogSource catalog, string model, CancellationToken ct)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        var uris = new List<string>(10_000);
        var etags = new List<string>(10_000);
        long seeded = 0;
        async Task FlushAsync()
        {
            await using var command = new Npgsql.NpgsqlCommand(
                "INSERT INTO results (uri, etag, model, task, text, prompt_tokens, generated_tokens, latency_ms, created_at, updated_at, superseded) " +
                "SELECT u, e, @m, 'caption en', 'bench', 0, 0, 0, now(), now(), FALSE FROM unnest(@u, @e) AS v(u, e) ON CONFLICT DO NOTHING", connection);
            command.Parameters.AddWithValue("m", model);
            command.Parameters.AddWithValue("u", uris.ToArray());
            command.Parameters.AddWithValue("e", etags.ToArray());
            await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            seeded += uris.Count;
            uris.Clear();
            etags.Clear();
        }

        await foreach (var o in catalog.ListAsync(new CatalogFilter(), ct).ConfigureAwait(false))
        {
            uris.Add(o.Uri);
            etags.Add(o.ETag);
            if (uris.Count == 10_000)
            {
                await FlushAsync().ConfigureAwait(false);
            }
        }

        if (uris.Count > 0)
        {
            await FlushAsync().ConfigureAwait(false);
        }

        return seeded;
    }

    private static async Task StoreAsync(Settings s, List<string> rows, CancellationToken ct)
    {
        var builder = PipelineConfiguration.CreateHostBuilder(null, s.Overrides());
        builder.Services.AddPipelineData(builder.Configuration);
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<ResultStore>();
        await store.MigrateAsync(ct).ConfigureAwait(false);
        await StoreBenchmark.RunAsync(store, 500, 8, 2, ct).ConfigureAwait(false);
        foreach (var (batch, writers) in new[] { (8, 2), (100, 2), (500, 4) })
        {
            var r = await StoreBenchmark.RunAsync(store, s.StoreRows, batch, writers, ct).ConfigureAwait(false);
            // A rate is only worth printing if every row it counts was committed.
            var landed = await CountRowsAsync(s.Db!, r.UriPrefix, ct).ConfigureAwait(false);
            if (landed != r.Rows)
            {
                throw new InvalidOperationException(string.Create(Inv, $"store benchmark: {landed} of {r.Rows} rows under {r.UriPrefix} were committed."));
            }

            Console.WriteLine(string.Create(Inv, $"store: {r.Rows} rows, batch {r.BatchSize}, {r.Writers} writers: {r.RowsPerSecond:0} rows/s"));
            rows.Add(string.Create(Inv, $"| Postgres insert (ResultStore.WriteBatchAsync), batch {r.BatchSize}, {r.Writers} writers, {r.Rows} rows | {r.RowsPerSecond:0} rows/s |"));
        }
    }

    private static async Task<long> CountRowsAsync(string connectionString, string uriPrefix, CancellationToken ct)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct).ConfigureAwait(false);
        await using var command = new Npgsql.NpgsqlCommand("SELECT count(*) FROM results WHERE starts_with(uri, @p)", connection);
        command.Parameters.AddWithValue("p", uriPrefix);
        return (long)(await command.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
    }

    /// <summary>Deterministic 1 MP-class JPEGs with varied content: gradients, waves, blocks and mild noise.</summary>
    private static byte[][] GenerateJpegs(int count, int width, int height)
    {
        var result = new byte[count][];
        var encoder = new JpegEncoder { Quality = 85 };
        Parallel.For(0, count, i =>
        {
            var rng = new Random(i);
            var c0 = new[] { rng.Next(256), rng.Next(256), rng.Next(256) };
            var c1 = new[] { rng.Next(256), rng.Next(256), rng.Next(256) };
            var fx = 0.005 + (rng.NextDouble() * 0.05);
            var fy = 0.005 + (rng.NextDouble() * 0.05);
            var blocks = Enumerable.Range(0, 12).Select(_ => (X: rng.Next(width), Y: rng.Next(height), W: rng.Next(20, width / 3), H: rng.Next(20, height / 3),
                C: new Rgb24((byte)rng.Next(256), (byte)rng.Next(256), (byte)rng.Next(256)))).ToArray();
            using var image = new Image<Rgb24>(width, height);
            image.ProcessPixelRows(acc =>
            {
                for (var y = 0; y < height; y++)
                {
                    var row = acc.GetRowSpan(y);
                    for (var x = 0; x < width; x++)
                    {
                        var t = (double)(x + y) / (width + height);
                        var wave = 40 * Math.Sin((fx * x) + (fy * y) + i);
                        var n = rng.Next(-6, 7);
                        row[x] = new Rgb24(Clamp((c0[0] * (1 - t)) + (c1[0] * t) + wave + n), Clamp((c0[1] * (1 - t)) + (c1[1] * t) - wave + n), Clamp((c0[2] * (1 - t)) + (c1[2] * t) + n));
                    }

                    foreach (var b in blocks)
                    {
                        if (y >= b.Y && y < b.Y + b.H)
                        {
                            row[b.X..Math.Min(width, b.X + b.W)].Fill(b.C);
                        }
                    }
                }
            });
            using var ms = new MemoryStream();
            image.SaveAsJpeg(ms, encoder);
            result[i] = ms.ToArray();
        });
        return result;
    }

    private static byte Clamp(double v) => (byte)Math.Clamp((int)v, 0, 255);

    private static async Task UploadAsync(IAmazonS3 s3, string bucket, IEnumerable<(string Key, byte[] Bytes)> objects, CancellationToken ct) =>
        await Parallel.ForEachAsync(objects, new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = ct }, async (o, token) =>
        {
            using var body = new MemoryStream(o.Bytes, writable: false);
            await s3.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = o.Key, InputStream = body, ContentType = "image/jpeg",
                // s3rver would store the aws-chunked framing inside the object.
                UseChunkEncoding = false }, token).ConfigureAwait(false);
        }).ConfigureAwait(false);

    private static async Task EnsureBucketAsync(IAmazonS3 s3, string bucket, CancellationToken ct)
    {
        var buckets = await s3.ListBucketsAsync(new ListBucketsRequest(), ct).ConfigureAwait(false);
        if (buckets.Buckets?.Any(b => b.BucketName == bucket) != true)
        {
            await s3.PutBucketAsync(new PutBucketRequest { BucketName = bucket }, ct).ConfigureAwait(false);
        }
    }

    private static async Task<bool> DeleteQueueAsync(Settings s, string queue, CancellationToken ct)
    {
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(s.Management), Timeout = TimeSpan.FromSeconds(10) };
            var (user, password) = s.ManagementLogin;
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
            using var response = await http.DeleteAsync(new Uri($"/api/queues/%2F/{Uri.EscapeDataString(queue)}", UriKind.Relative), ct).ConfigureAwait(false);
            // A pass that sent nothing never declared its queue.
            return response.IsSuccessStatusCode || response.StatusCode == System.Net.HttpStatusCode.NotFound;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    /// <summary>A one-line usage error, as pgpipe's own commands give one, and exit code 2.</summary>
    private static int Fail(string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return 2;
    }

    private static void CopyFolder(string source, string target)
    {
        foreach (var dir in Directory.GetDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(dir.Replace(source, target, StringComparison.Ordinal));
        }

        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, file.Replace(source, target, StringComparison.Ordinal));
        }
    }

    /// <summary>Writing 5 to /proc/self/clear_refs resets VmHWM (Linux), so the peak is this phase's, not the process's.</summary>
    private static void ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine("note: could not reset VmHWM; peak RSS includes earlier phases.");
        }
    }

    /// <summary>
    /// Waits until no method has been compiled for a second (at most 30 s) and returns how long that took. Promotions
    /// to tier 1 earned during a warm-up are compiled by one background thread, which on a loaded machine was still at
    /// it during the timed phase (0.4 to 0.9 ms of CPU per image, 800 methods of MassTransit, RabbitMQ and the
    /// pipeline): a worker running for hours has long finished that. Both the raw and the pipeline phase wait the same
    /// way, so both are timed in their steady state.
    /// </summary>
    private static async Task<TimeSpan> JitSettledAsync(CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var last = System.Runtime.JitInfo.GetCompiledMethodCount();
        var quietSince = sw.Elapsed;
        while (sw.Elapsed - quietSince < TimeSpan.FromSeconds(1) && sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(100, ct).ConfigureAwait(false);
            var now = System.Runtime.JitInfo.GetCompiledMethodCount();
            if (now != last)
            {
                last = now;
                quietSince = sw.Elapsed;
            }
        }

        return sw.Elapsed;
    }

    /// <summary>Busy CPU-seconds of the whole machine so far (/proc/stat: all but idle and iowait), or NaN off Linux.</summary>
    private static double MachineBusySeconds()
    {
        try
        {
            var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(v => long.Parse(v, Inv)).ToArray();
            // USER_HZ is 100 on every Linux this runs on.
            return (f.Take(8).Sum() - f[3] - f[4]) / 100.0;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>
    /// CPU-seconds used so far by the local services (s3rver by its command line, RabbitMQ's beam.smp, postgres
    /// backends), from /proc. Processes that start or end inside the window count only what they used while seen.
    /// </summary>
    private static Dictionary<string, double> ServiceCpuSeconds()
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal) { ["s3rver"] = 0, ["rabbitmq"] = 0, ["postgres"] = 0 };
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var close = stat.LastIndexOf(')');
                var comm = stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..close];
                string? name = comm switch
                {
                    "beam.smp" => "rabbitmq",
                    "postgres" => "postgres",
                    "node" when File.ReadAllText(Path.Combine(dir, "cmdline")).Contains("s3rver", StringComparison.Ordinal) => "s3rver",
                    _ => null,
                };
                if (name is null)
                {
                    continue;
                }

                var fields = stat[(close + 2)..].Split(' ');
                // Fields 14 and 15 of /proc/PID/stat (utime, stime) are at 11 and 12 after the comm.
                result[name] += (long.Parse(fields[11], Inv) + long.Parse(fields[12], Inv)) / 100.0;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException)
            {
                // Not a process folder, or the process ended while being read.
            }
        }

        return result;
    }

    /// <summary>A counter of /proc/self/io (rchar: bytes this process read through read(2), files and sockets alike), or -1.</summary>
    private static long ReadIoField(string field)
    {
        try
        {
            var line = File.ReadLines("/proc/self/io").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? -1 : long.Parse(line[field.Length..].Trim(), Inv);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    /// <summary>CPU-seconds of this process's tiered-compilation thread (".NET Tiered Com" in /proc), or 0 off Linux.</summary>
    private static double TieredCompilationSeconds()
    {
        var total = 0.0;
        try
        {
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(task, "stat"));
                    var close = stat.LastIndexOf(')');
                    if (!stat[(stat.IndexOf('(', StringComparison.Ordinal) + 1)..close].Contains("Tiered Com", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    var fields = stat[(close + 2)..].Split(' ');
                    total += (long.Parse(fields[11], Inv) + long.Parse(fields[12], Inv)) / 100.0;
                }
                catch (Exception ex) when (ex is IOException or FormatException)
                {
                    // The thread ended while being read.
                }
            }
        }
        catch (DirectoryNotFoundException)
        {
            return 0;
        }

        return total;
    }

    private static long ReadStatusKb(string field)
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(field, StringComparison.Ordinal));
            return line is null ? -1 : long.Parse(line[field.Length..].Trim().Split(' ')[0], Inv);
        }
        catch (IOException)
        {
            return -1;
        }
    }
}

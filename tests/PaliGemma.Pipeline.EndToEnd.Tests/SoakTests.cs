using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// The soak: small images flow S3 -> RabbitMQ -> two worker processes -> Postgres for a duration while each worker's
/// RSS, managed heap, open descriptors and database connections are sampled every 5 s. CI runs 3 minutes; the
/// benchmark (tools/soak.sh) runs the same scenario for 20 minutes and reports the same figures.
/// </summary>
public sealed class SoakTests(E2EServices services, ITestOutputHelper output) : IClassFixture<E2EServices>
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The bound on resident memory a worker may gain per image it finishes, after the settling time. A leak grows with
    /// the work, so it is judged per image rather than per hour: the smallest thing a worker could keep per image of the
    /// tiny model, its 56x56x3 float input tensor, is 37.6 KB and fails. Start-up growth (glibc arenas and ONNX
    /// Runtime's pools still settling) does not scale with the work: healthy workers on this shared 2-core machine
    /// gained 5-15 MB over a 3-minute run's fit, which at this feed (about 11 images/s per worker) measured 3-8 KB per
    /// image over the fit and 0.5-12 over its second half. The per-hour bound this replaced (400 MB/h at a quarter of
    /// this feed) failed a healthy worker in CI on such a step. A worker fails only when both the whole fit and its
    /// second half are over the bound, as a steady leak is; the 20-minute benchmark reports the settled slope.
    /// </summary>
    private const double MaxRssKbPerImage = 30;

    /// <summary>A worker must finish at least this many images inside the fit for its per-image growth to mean anything.</summary>
    private const int MinImagesInFit = 300;

    /// <summary>
    /// Descriptors a worker may hold more at its peak in the second half than in the first: HTTP connections to S3 open
    /// and close with the fetch parallelism. A leak of one per batch would add dozens a minute.
    /// </summary>
    private const int DescriptorSlack = 2;

    /// <summary>Connections one more than the first half's peak: Npgsql opens one when a write overlaps a lookup.</summary>
    private const int ConnectionSlack = 1;

    /// <summary>
    /// 24 images/s in all: a per-image leak then outgrows start-up noise within a 3-minute run, while the workers stay
    /// mostly idle (the tiny model; each round is done before the next arrives) and the enqueue process dominates CPU.
    /// </summary>
    private const int ImagesPerRound = 120;
    private static readonly TimeSpan RoundEvery = TimeSpan.FromSeconds(5);

    [SkippableFact]
    [Trait("Category", "Soak")]
    public async Task Two_workers_fed_continuously_keep_memory_descriptors_and_connections_flat_and_do_every_image_exactly_once()
    {
        var minutes = double.Parse(Environment.GetEnvironmentVariable("PGPIPE_SOAK_MINUTES") ?? "3", CultureInfo.InvariantCulture);
        var duration = TimeSpan.FromMinutes(minutes);
        // The first 2 minutes are start-up (JIT, pools, GC heap sizing); a 3-minute CI run keeps its last 2. On the
        // 2-core CI machine native pools can still be growing after one minute (462 MB/h over minutes 1-3 with the
        // managed heap flat, once in six workers; a 20-minute run flattened after several minutes), which is why the
        // slope bound below must also hold over the fit's second half before it fails.
        var settle = TimeSpan.FromMinutes(Math.Min(2, minutes / 3));
        await using var run = await PipelineRun.CreateAsync(services, output, "soak");
        var ports = new[] { FreePort(), FreePort() };
        var workers = ports.Select((p, i) => run.StartWorker($"worker-{i + 1}", p)).ToArray();
        var dbPort = new Npgsql.NpgsqlConnectionStringBuilder(run.ConnectionString).Port;
        var samples = new List<Sample>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();

        // Given a sampler on both workers
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                for (var w = 0; w < workers.Length; w++)
                {
                    if (workers[w].HasExited)
                    {
                        continue;
                    }

                    var (heap, done) = await ProcessProbe.MetricsAsync(http, ports[w]);
                    samples.Add(new Sample(w, clock.Elapsed, ProcessProbe.RssBytes(workers[w].Id), heap, done,
                        ProcessProbe.OpenDescriptors(workers[w].Id), ProcessProbe.ConnectionsTo(workers[w].Id, dbPort)));
                }

                try
                {
                    await Task.Delay(SampleEvery, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        });

        // When new images arrive and the same enqueue command runs again, round after round, for the duration
        var uploaded = 0;
        var rounds = 0;
        while (clock.Elapsed < duration)
        {
            var roundStart = clock.Elapsed;
            await run.UploadAsync(Enumerable.Range(uploaded, ImagesPerRound).Select(i => ($"soak/{i / 1000:D3}/img-{i:D6}.png", Images.Png(i))));
            uploaded += ImagesPerRound;
            await run.EnqueueAsync($"enqueue-{++rounds}");
            Assert.All(workers, w => Assert.False(w.HasExited, $"{w.Name} exited during the soak:\n{w.Log}"));
            var rest = RoundEvery - (clock.Elapsed - roundStart);
            if (rest > TimeSpan.Zero)
            {
                await Task.Delay(rest);
            }
        }

        var fedFor = clock.Elapsed;
        var listed = await run.ListAsync();
        var snapshot = await run.WaitForAsync($"{listed.Count * 2} combinations done", s => s.Covered(listed) == listed.Count * 2, TimeSpan.FromMinutes(5),
            s => $"{s.Covered(listed)}/{listed.Count * 2} covered");
        await stop.CancelAsync();
        await sampler;

        // Then every image ended exactly once, and per worker memory, descriptors and connections stayed flat
        ExactlyOnce.AssertOutcome(snapshot, listed, new Dictionary<string, string>());
        var report = new StringBuilder();
        report.AppendLine(CultureInfo.InvariantCulture, $"soak: {fedFor.TotalMinutes:0.0} min fed, {listed.Count} images in {rounds} rounds, {samples.Count} samples every {SampleEvery.TotalSeconds:0} s; fits after {settle.TotalMinutes:0.0} min");
        report.AppendLine("| worker | RSS start -> end (MB) | RSS slope (MB/h) | images finished after settling | RSS per image (KB; fit / its second half) | managed heap slope (MB/h) | managed heap max (MB) | fds max (settled first half max / second half p90) | DB connections max (settled first half max / second half p90) |");
        report.AppendLine("|---|---|---|---|---|---|---|---|---|");
        var problems = new List<string>();
        for (var w = 0; w < workers.Length; w++)
        {
            var mine = samples.Where(s => s.Worker == w).ToList();
            var fit = mine.Where(s => s.At >= settle).ToList();
            Assert.True(fit.Count >= 10, $"{workers[w].Name}: only {fit.Count} samples after {settle}; the soak is too short to fit a slope");
            var rssSlope = ProcessProbe.Slope(fit.Select(s => (s.At.TotalHours, s.Rss / 1048576.0)).ToList());
            var heapFit = fit.Where(s => s.ManagedHeap is not null).Select(s => (s.At.TotalHours, s.ManagedHeap!.Value / 1048576.0)).ToList();
            var heapSlope = ProcessProbe.Slope(heapFit);
            // Growth is judged after start-up: what the settled second half holds most of the time (its 90th percentile)
            // against the first half's peak. A leak keeps every later sample high; one batch's momentary extra
            // connection (seen once in 20 minutes) is not growth.
            var half = fit.Count / 2;
            var (fdsFirst, fdsSecond) = (fit.Take(half).Max(s => s.Descriptors), Percentile90(fit.Skip(half).Select(s => s.Descriptors)));
            var (dbFirst, dbSecond) = (fit.Take(half).Max(s => s.Connections), Percentile90(fit.Skip(half).Select(s => s.Connections)));
            var imagesInFit = (fit[^1].ImagesDone ?? 0) - (fit[0].ImagesDone ?? 0);
            Assert.True(imagesInFit >= MinImagesInFit, $"{workers[w].Name}: finished only {imagesInFit} images after {settle}; too few to judge growth per image");
            var (perImage, latePerImage, leaks) = SoakGrowth.Judge(
                fit.Where(s => s.ImagesDone is not null).Select(s => new SoakGrowth.Point(s.At, s.Rss, s.ImagesDone!.Value)).ToList(), MaxRssKbPerImage);
            report.AppendLine(CultureInfo.InvariantCulture,
                $"| {workers[w].Name} | {mine[0].Rss / 1048576.0:0} -> {mine[^1].Rss / 1048576.0:0} | {rssSlope:0.0} | {imagesInFit} | {perImage:0.0} / {latePerImage:0.0} | {heapSlope:0.0} | {mine.Max(s => s.ManagedHeap ?? 0) / 1048576.0:0} | {mine.Max(s => s.Descriptors)} ({fdsFirst} / {fdsSecond}) | {mine.Max(s => s.Connections)} ({dbFirst} / {dbSecond}) |");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{workers[w].Name}: {imagesInFit} images in the fit, RSS {perImage:0.0} KB per image over it, {latePerImage:0.0} KB per image over its second half"));
            if (leaks)
            {
                problems.Add($"{workers[w].Name}: RSS grew {perImage:0.0} KB per image after the first {settle.TotalMinutes:0.0} min and {latePerImage:0.0} KB per image over the last half of that (bound {MaxRssKbPerImage} KB)");
            }

            if (fdsSecond > fdsFirst + DescriptorSlack)
            {
                problems.Add($"{workers[w].Name}: open descriptors grew from at most {fdsFirst} in the first half to {fdsSecond} in the second");
            }

            if (dbSecond > dbFirst + ConnectionSlack)
            {
                problems.Add($"{workers[w].Name}: database connections grew from at most {dbFirst} in the first half to {dbSecond} in the second");
            }
        }

        output.WriteLine(report.ToString());
        if (Environment.GetEnvironmentVariable("PGPIPE_SOAK_FIGURES") is { Length: > 0 } figures)
        {
            await File.AppendAllTextAsync(figures, report.ToString());
            await File.AppendAllTextAsync(figures.Replace(".md", ".samples.csv", StringComparison.Ordinal),
                "worker,seconds,rss_mb,managed_mb,images_done,fds,db_connections\n" + string.Join('\n', samples.Select(s =>
                    string.Create(CultureInfo.InvariantCulture, $"{s.Worker + 1},{s.At.TotalSeconds:0},{s.Rss / 1048576.0:0.0},{(s.ManagedHeap ?? 0) / 1048576.0:0.0},{s.ImagesDone},{s.Descriptors},{s.Connections}"))) + "\n");
        }

        Assert.True(problems.Count == 0, string.Join('\n', problems) + "\n" + report);
    }

    private static int Percentile90(IEnumerable<int> values)
    {
        var sorted = values.Order().ToList();
        return sorted[(int)Math.Ceiling(sorted.Count * 0.9) - 1];
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed record Sample(int Worker, TimeSpan At, long Rss, long? ManagedHeap, long? ImagesDone, int Descriptors, int Connections);
}

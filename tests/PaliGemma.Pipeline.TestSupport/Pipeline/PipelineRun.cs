using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// One distributed deployment for one test: a fresh Postgres database, RabbitMQ virtual host and S3 bucket, and the
/// real pgpipe processes (migrate, enqueue, workers) configured through environment variables. Disposal kills any
/// process still running and writes every process's output into the test output.
/// </summary>
public sealed partial class PipelineRun : IAsyncDisposable
{
    public const string ModelKeyText = "tiny:fp32";
    public static readonly string[] Tasks = ["caption en", "ocr"];

    private readonly E2EServices _services;
    private readonly ITestOutputHelper _output;
    private readonly List<PgpipeProcess> _processes = [];
    private readonly Dictionary<string, string> _environment;

    private PipelineRun(E2EServices services, ITestOutputHelper output, string connectionString, string virtualHost, string bucket)
    {
        _services = services;
        _output = output;
        ConnectionString = connectionString;
        VirtualHost = virtualHost;
        Bucket = bucket;
        Store = new ResultStore(new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Postgres, ConnectionString = connectionString })),
            TimeProvider.System, NullLogger<ResultStore>.Instance);
        var amqp = services.RabbitMq.AmqpUri;
        _environment = new Dictionary<string, string>
        {
            ["Messaging__Transport"] = "RabbitMq",
            ["Messaging__Host"] = amqp.Host,
            ["Messaging__Port"] = (amqp.IsDefaultPort || amqp.Port < 0 ? 5672 : amqp.Port).ToString(CultureInfo.InvariantCulture),
            ["Messaging__VirtualHost"] = virtualHost,
            ["Messaging__Username"] = services.RabbitMq.Username,
            ["Messaging__Password"] = services.RabbitMq.Password,
            ["S3__ServiceUrl"] = services.S3.ServiceUrl,
            ["S3__AccessKey"] = services.S3.AccessKey,
            ["S3__SecretKey"] = services.S3.SecretKey,
            ["S3__ForcePathStyle"] = "true",
            ["Database__Provider"] = "Postgres",
            ["Database__ConnectionString"] = connectionString,
            ["Worker__BatchSize"] = "8",
            ["Worker__BatchTimeLimitMs"] = "100",
            // Small pages so one enqueue pass takes several checkpoints.
            ["Producer__PageSize"] = "64",
            ["Producer__MaxInFlight"] = "32",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            // A worker on a shared CI machine: two ORT threads each, so two workers do not fight over every core.
            ["Inference__IntraOpThreads"] = "1",
        };
    }

    public string ConnectionString { get; }

    public string VirtualHost { get; }

    public string Bucket { get; }

    public ResultStore Store { get; }

    public string Source => $"s3://{Bucket}/";

    public string QueueName => ModelKey.Parse(ModelKeyText).QueueName;

    public static string TinyModel { get; } = FindUp(Path.Combine("tests", "fixtures", "models", "tiny"));

    public static async Task<PipelineRun> CreateAsync(E2EServices services, ITestOutputHelper output, string name)
    {
        Skip.If(services.SkipReason is not null, services.SkipReason);
        var database = await services.Postgres.CreateDatabaseAsync();
        var vhostUri = await services.RabbitMq.CreateVirtualHostAsync(name, CancellationToken.None);
        var bucket = await services.S3.CreateBucketAsync(name, CancellationToken.None);
        var run = new PipelineRun(services, output, database, Uri.UnescapeDataString(vhostUri.AbsolutePath.TrimStart('/')), bucket);
        await run.RunToCompletionAsync("migrate", TimeSpan.FromSeconds(90), "migrate", "--db", database);
        return run;
    }

    /// <summary>Uploads objects with bounded parallelism; returns key → ETag.</summary>
    public async Task<Dictionary<string, string>> UploadAsync(IEnumerable<(string Key, byte[] Content)> objects)
    {
        var etags = new System.Collections.Concurrent.ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        await Parallel.ForEachAsync(objects, new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (o, ct) => etags[o.Key] = await _services.S3.PutObjectAsync(Bucket, o.Key, o.Content, ct));
        return new Dictionary<string, string>(etags, StringComparer.Ordinal);
    }

    public Task DeleteAsync(string key) => _services.S3.Client.DeleteObjectAsync(Bucket, key);

    /// <summary>The bucket as S3 lists it now: uri → ETag.</summary>
    public async Task<Dictionary<string, string>> ListAsync()
    {
        var listed = new Dictionary<string, string>(StringComparer.Ordinal);
        var request = new ListObjectsV2Request { BucketName = Bucket };
        while (true)
        {
            var page = await _services.S3.Client.ListObjectsV2Async(request);
            foreach (var o in page.S3Objects ?? [])
            {
                listed[$"s3://{Bucket}/{o.Key}"] = o.ETag.Trim('"');
            }

            if (page.IsTruncated != true)
            {
                return listed;
            }

            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    public string UriOf(string key) => $"s3://{Bucket}/{key}";

    /// <summary>Runs <c>pgpipe enqueue</c> for the two tasks and parses its summary line.</summary>
    public async Task<EnqueueResult> EnqueueAsync(string name, int maxNewTokens = 8)
    {
        var process = await RunToCompletionAsync(name, TimeSpan.FromSeconds(120),
            "enqueue", Source, "--task", Tasks[0], "--task", Tasks[1], "--model", TinyModel, "--max-new-tokens", maxNewTokens.ToString(CultureInfo.InvariantCulture),
            "--db", ConnectionString);
        var match = SummaryLine().Match(process.StandardOutput);
        Assert.True(match.Success, $"enqueue printed no summary line:\n{process.Log}");
        return new EnqueueResult(match.Groups[1].Value, match.Groups[2].Value == "resumed", long.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture),
            long.Parse(match.Groups[4].Value, CultureInfo.InvariantCulture), long.Parse(match.Groups[5].Value, CultureInfo.InvariantCulture),
            long.Parse(match.Groups[6].Value, CultureInfo.InvariantCulture), match.Groups[7].Value);
    }

    /// <summary>Starts <c>pgpipe worker</c> on the tiny model; <paramref name="metricsPort"/> 0 leaves /metrics off.</summary>
    public PgpipeProcess StartWorker(string name, int metricsPort = 0, IReadOnlyDictionary<string, string>? settings = null)
    {
        var args = new List<string> { "worker", "--model", TinyModel, "--db", ConnectionString };
        if (metricsPort > 0)
        {
            args.AddRange(["--metrics-port", metricsPort.ToString(CultureInfo.InvariantCulture)]);
        }

        var environment = new Dictionary<string, string>(_environment);
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        var process = PgpipeProcess.Start(name, environment, [.. args]);
        lock (_processes)
        {
            _processes.Add(process);
        }

        return process;
    }

    public async Task<PgpipeProcess> RunToCompletionAsync(string name, TimeSpan timeout, params string[] args)
    {
        var process = PgpipeProcess.Start(name, _environment, args);
        lock (_processes)
        {
            _processes.Add(process);
        }

        var code = await process.WaitForExitAsync(timeout);
        Assert.True(code == 0, $"pgpipe {string.Join(' ', args.Take(2))} exited with {code}:\n{process.Log}");
        return process;
    }

    /// <summary>Results and failures of the tiny model as the database holds them now.</summary>
    public async Task<StoreSnapshot> SnapshotAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        var results = new List<ResultRow>();
        await using (var command = new NpgsqlCommand("SELECT uri, etag, task, superseded, created_at, updated_at, page FROM results WHERE model = @m", connection))
        {
            command.Parameters.AddWithValue("m", ModelKeyText);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                results.Add(new ResultRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetBoolean(3), reader.GetDateTime(4), reader.GetDateTime(5)) { Page = reader.GetInt32(6) });
            }
        }

        var failures = new List<FailureRow>();
        await using (var command = new NpgsqlCommand("SELECT uri, etag, task, reason_code, message, attempts, page FROM failures WHERE model = @m", connection))
        {
            command.Parameters.AddWithValue("m", ModelKeyText);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                failures.Add(new FailureRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.IsDBNull(4) ? null : reader.GetString(4), reader.GetInt32(5)) { Page = reader.GetInt32(6) });
            }
        }

        return new StoreSnapshot(results, failures);
    }

    /// <summary>Polls the store until <paramref name="done"/> holds; on timeout fails with the counts and every process's log tail.</summary>
    public async Task<StoreSnapshot> WaitForAsync(string what, Func<StoreSnapshot, bool> done, TimeSpan timeout, Func<StoreSnapshot, string>? describe = null)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var snapshot = await SnapshotAsync();
            if (done(snapshot))
            {
                return snapshot;
            }

            if (DateTime.UtcNow > deadline)
            {
                var detail = describe?.Invoke(snapshot) ?? string.Empty;
                Assert.Fail($"Timed out after {timeout} waiting for {what}: {snapshot.Results.Count(r => !r.Superseded)} current results, " +
                            $"{snapshot.Results.Count(r => r.Superseded)} superseded, {snapshot.Failures.Count} failures. {detail}\n{ProcessSummary()}");
            }

            await Task.Delay(250);
        }
    }

    /// <summary>
    /// Reads the change feed from <paramref name="from"/>. The feed only shows rows older than every open transaction
    /// on the server (other tests' included), so it keeps polling until at least <paramref name="atLeast"/> rows are
    /// visible (then a short settle, to catch extras) or <paramref name="timeout"/> passes; callers assert the counts.
    /// </summary>
    public async Task<(List<ChangeFeedRow> Rows, ChangeCursor Next)> ReadFeedAsync(ChangeCursor from, int atLeast, TimeSpan timeout)
    {
        var rows = new List<ChangeFeedRow>();
        var cursor = from;
        var deadline = DateTime.UtcNow + timeout;
        DateTime? settled = null;
        while (true)
        {
            var page = await Store.ReadChangesAsync(cursor, 1000, CancellationToken.None);
            rows.AddRange(page.Rows);
            cursor = page.Next;
            if (page.Rows.Count > 0)
            {
                continue;
            }

            if (rows.Count >= atLeast)
            {
                settled ??= DateTime.UtcNow + TimeSpan.FromSeconds(1.5);
                if (DateTime.UtcNow > settled)
                {
                    return (rows, cursor);
                }
            }
            else if (DateTime.UtcNow > deadline)
            {
                return (rows, cursor);
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Messages in a queue of this run's virtual host per the management API; null when the queue does not exist.</summary>
    public async Task<long?> QueueDepthAsync(string queue)
    {
        using var response = await _services.RabbitMq.Management.GetAsync($"api/queues/{Uri.EscapeDataString(VirtualHost)}/{Uri.EscapeDataString(queue)}");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        using var json = await response.Content.ReadFromJsonAsync<JsonDocument>();
        var root = json!.RootElement;
        return (root.TryGetProperty("messages", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetInt64() : 0)
               + (root.TryGetProperty("messages_unacknowledged", out var u) && u.ValueKind == JsonValueKind.Number ? u.GetInt64() : 0);
    }

    /// <summary>Every worker's "Batch of N images: R results, F failures, S combinations already done" lines, summed.</summary>
    public (int Batches, int Results, int Failures, int Skipped) WorkerTotals()
    {
        int batches = 0, results = 0, failures = 0, skipped = 0;
        foreach (var p in Processes.Where(p => p.Name.StartsWith("worker", StringComparison.Ordinal)))
        {
            foreach (Match m in BatchLine().Matches(p.Log))
            {
                batches++;
                results += int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                failures += int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
                skipped += int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture);
            }
        }

        return (batches, results, failures, skipped);
    }

    public IReadOnlyList<PgpipeProcess> Processes
    {
        get
        {
            lock (_processes)
            {
                return [.. _processes];
            }
        }
    }

    public string ProcessSummary()
    {
        var text = new StringBuilder();
        foreach (var p in Processes)
        {
            var log = p.Log.Split('\n');
            text.Append("--- ").Append(p.Name).Append(" (pid ").Append(p.Id).Append(p.HasExited ? $", exited {p.ExitCode}" : ", running").AppendLine("), last lines:");
            foreach (var line in log.TakeLast(25))
            {
                text.AppendLine(line);
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        var summaries = Processes.Select(p => $"===== {p.Name} (pid {p.Id}{(p.HasExited ? $", exit code {p.ExitCode}" : ", still running: killed")}) =====").ToList();
        foreach (var p in Processes)
        {
            p.Dispose();
        }

        foreach (var (p, summary) in Processes.Zip(summaries))
        {
            try
            {
                _output.WriteLine(summary);
                _output.WriteLine(p.Log);
            }
            catch (InvalidOperationException)
            {
                // Output after the test finished is refused; the log was for diagnosis only.
            }
        }

        // Workers hold connections to this test's database and vhost until they die; give the OS a moment.
        await Task.Delay(100);
        NpgsqlConnection.ClearAllPools();
    }

    private static string FindUp(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"'{relative}' was not found above {AppContext.BaseDirectory}; run the tests from the repository checkout.");
    }

    [GeneratedRegex(@"^run (\S+) \((new|resumed)\): listed (\d+), enqueued (\d+), reused (\d+), superseded (\d+), queue (\S+),", RegexOptions.Multiline)]
    private static partial Regex SummaryLine();

    [GeneratedRegex(@"Batch of \d+ images: (\d+) results, (\d+) failures, (\d+) combinations already done")]
    private static partial Regex BatchLine();
}

/// <summary>What <c>pgpipe enqueue</c> printed.</summary>
public sealed record EnqueueResult(string RunName, bool Resumed, long Listed, long Enqueued, long Reused, long Superseded, string Queue);

public sealed record ResultRow(string Uri, string ETag, string Task, bool Superseded, DateTime CreatedAt, DateTime UpdatedAt)
{
    /// <summary>The document page (1-based), or 0 for a whole object.</summary>
    public int Page { get; init; }
}

public sealed record FailureRow(string Uri, string ETag, string Task, string Reason, string? Message, int Attempts)
{
    /// <summary>The document page (1-based), or 0 for a whole object or a document's own failure.</summary>
    public int Page { get; init; }
}

public sealed record StoreSnapshot(IReadOnlyList<ResultRow> Results, IReadOnlyList<FailureRow> Failures)
{
    /// <summary>(uri, task) combinations that have a current result or a failure for the given current ETag.</summary>
    public int Covered(IReadOnlyDictionary<string, string> expected)
    {
        var done = Results.Where(r => !r.Superseded).Select(r => (r.Uri, r.ETag, r.Task))
            .Concat(Failures.Select(f => (f.Uri, f.ETag, f.Task)))
            .ToHashSet();
        return expected.Sum(e => PipelineRun.Tasks.Count(t => done.Contains((e.Key, e.Value, t))));
    }
}

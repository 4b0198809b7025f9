using System.Security.Cryptography;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using PaliGemma.Inference.Runtime;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Documents;
using PaliGemma.Pipeline.Hosting;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>
/// One MassTransit test harness around the real batch consumer: the tiny fixture model, a SQLite store in a temp
/// folder and a local folder catalog (Worker:LocalRoot). Everything the worker host registers, minus the broker.
/// </summary>
public sealed class WorkerScenario : IAsyncDisposable
{
    /// <summary>
    /// The test collection of scenario classes that time a batch against its limit: they run one after another, so a
    /// batch's length is not set by another class's model and renders on the same two cores.
    /// </summary>
    public const string Collection = "worker scenarios";

    private readonly ServiceProvider _services;
    private readonly string _folder;

    private WorkerScenario(ServiceProvider services, string folder, string root, string connectionString)
    {
        _services = services;
        _folder = folder;
        Root = root;
        ConnectionString = connectionString;
    }

    /// <summary>The SQLite store's connection string.</summary>
    public string ConnectionString { get; }

    /// <summary>Folder the catalog serves (Worker:LocalRoot).</summary>
    public string Root { get; }

    public ITestHarness Harness => _services.GetRequiredService<ITestHarness>();

    public IConsumerTestHarness<ImageJobBatchConsumer> Consumer => _services.GetRequiredService<IConsumerTestHarness<ImageJobBatchConsumer>>();

    public ResultStore Store => _services.GetRequiredService<ResultStore>();

    public ModelHost ModelHost => _services.GetRequiredService<ModelHost>();

    public DocumentFiles DocumentFiles => _services.GetRequiredService<DocumentFiles>();

    public string ModelKey => ModelHost.ModelKey;

    public static async Task<WorkerScenario> StartAsync(ITestOutputHelperSink output, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var folder = Directory.CreateTempSubdirectory("pgpipe-worker-tests-").FullName;
        var root = Directory.CreateDirectory(Path.Combine(folder, "catalog")).FullName;
        var connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(folder, "results.db") }.ConnectionString;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Worker:Model"] = Fixtures.TinyModel,
            ["Worker:LocalRoot"] = root,
            ["Worker:BatchSize"] = "8",
            ["Worker:BatchTimeLimitMs"] = "100",
            ["Worker:DecodeParallelism"] = "2",
            ["Inference:Device"] = "Cpu",
            ["Database:Provider"] = "Sqlite",
            ["Database:ConnectionString"] = connectionString,
            ["Messaging:Transport"] = "InMemory",
        }).AddInMemoryCollection(settings ?? new Dictionary<string, string?>()).Build();

        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging(b => b.AddProvider(new TestOutputLoggerProvider(output)).SetMinimumLevel(LogLevel.Information));
        services.AddMetrics();
        services.AddSingleton<PipelineMetrics>();
        services.AddSingleton<ReadinessState>();
        services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.SectionName);
        services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.SectionName).ValidateDataAnnotations();
        services.AddOptions<InferenceOptions>().BindConfiguration(InferenceOptions.SectionName);
        services.AddCatalog();
        services.AddPipelineData(configuration);
        services.AddSingleton(WorkerExtensions.Resolve(configuration));
        services.AddSingleton<CatalogReader>();
        services.AddDocuments();
        services.AddSingleton<DocumentFiles>();
        services.AddSingleton<OpenDocuments>();
        services.AddSingleton<DocumentStage>();
        services.AddSingleton<ModelHost>();
        services.AddMassTransitTestHarness(x => x.AddConsumer<ImageJobBatchConsumer, ImageJobBatchConsumerDefinition>());
        var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true });
        var scenario = new WorkerScenario(provider, folder, root, connectionString);
        try
        {
            await scenario.Store.MigrateAsync(CancellationToken.None);
            // The worker host starts the model before the bus; so does the scenario.
            await scenario.ModelHost.StartAsync(CancellationToken.None);
            scenario.Harness.TestTimeout = TimeSpan.FromSeconds(60);
            await scenario.Harness.Start();
        }
        catch
        {
            await scenario.DisposeAsync();
            throw;
        }

        return scenario;
    }

    /// <summary>Writes a generated PNG under the root and returns (absolute path, SHA-256 ETag as the local catalog computes it).</summary>
    public (string Uri, string ETag) WriteImage(string relative, int seed, int width = 64, int height = 48)
    {
        using var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                image[x, y] = new Rgb24((byte)((x * 7) + seed), (byte)((y * 5) + (seed * 3)), (byte)((x ^ y) + (seed * 11)));
            }
        }

        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return WriteBytes(relative, stream.ToArray());
    }

    /// <summary>Writes raw bytes under the root and returns (absolute path, SHA-256 ETag).</summary>
    public (string Uri, string ETag) WriteBytes(string relative, byte[] content)
    {
        var path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return (path, Convert.ToHexStringLower(SHA256.HashData(content)));
    }

    public ImageJob Job(Guid runId, (string Uri, string ETag) obj, string? model = null, params string[] tasks) => new()
    {
        RunId = runId,
        Uri = obj.Uri,
        ETag = obj.ETag,
        Size = File.Exists(obj.Uri) ? new FileInfo(obj.Uri).Length : 0,
        Model = model ?? ModelKey,
        Tasks = (tasks.Length == 0 ? ["caption en", "ocr"] : tasks).Select(t => new TaskSpec(t, 6)).ToList(),
        EnqueuedAt = DateTimeOffset.UtcNow,
    };

    /// <summary>Sends the jobs to the model's queue the way the producer does.</summary>
    public async Task SendAsync(IEnumerable<ImageJob> jobs)
    {
        var endpoint = await Harness.Bus.GetSendEndpoint(new Uri($"queue:{_services.GetRequiredService<ModelReference>().Key.QueueName}"));
        await endpoint.SendBatch(jobs);
    }

    /// <summary>Waits until the consumer has finished batches covering <paramref name="jobs"/> messages in total.</summary>
    public async Task<IReadOnlyList<IReceivedMessage<Batch<ImageJob>>>> WaitForBatchesAsync(int jobs, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var batches = Consumer.Consumed.Select<Batch<ImageJob>>().ToList();
            var total = batches.Sum(b => b.Context.Message.Length);
            if (total >= jobs)
            {
                return batches;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The consumer finished {batches.Count} batch(es) covering {total} of {jobs} jobs within {timeout}.");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Every failure row: (uri, task, reason, message, attempts).</summary>
    public async Task<IReadOnlyList<(string Uri, string Task, string Reason, string? Message, int Attempts)>> ReadFailuresAsync()
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT uri, task, reason_code, message, attempts FROM failures ORDER BY uri, task";
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<(string, string, string, string?, int)>();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetInt32(4)));
        }

        return rows;
    }

    /// <summary>The whole change feed from the start.</summary>
    public async Task<IReadOnlyList<ChangeFeedRow>> ReadFeedAsync(ChangeCursor from)
    {
        var rows = new List<ChangeFeedRow>();
        var cursor = from;
        while (true)
        {
            var page = await Store.ReadChangesAsync(cursor, 500, CancellationToken.None);
            rows.AddRange(page.Rows);
            if (page.Rows.Count == 0)
            {
                return rows;
            }

            cursor = page.Next;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A temp folder left behind is harmless.
        }
    }
}

/// <summary>Locates shared test fixtures by walking up from the test binary to the repository.</summary>
public static class Fixtures
{
    public static string TinyModel { get; } = Find(Path.Combine("tests", "fixtures", "models", "tiny"));

    private static string Find(string relative)
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
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Producer;
using PaliGemma.Pipeline.Worker;
using Spectre.Console;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe run</c> was asked to do.</summary>
internal sealed record RunSettings(string Source, string[] Tasks, string Model, string Dtype, string? Device, string? Run, int? MaxNewTokens, string? Db,
    int? BatchSize, string? MaskDecoder, TimeSpan StallTimeout, CatalogFilter Filter, DocumentJobOptions? Documents);

/// <summary>
/// <c>pgpipe run</c>: the embedded default. Producer and worker in one process over MassTransit's in-memory
/// transport and a SQLite file, through the same code paths as the distributed mode.
/// </summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SOURCE") { Description = "A local folder or s3://bucket/prefix." };
        var tasks = HostCommandSupport.TaskOption();
        var model = new Option<string>("--model", "-m") { Description = "Model folder or Hugging Face repo id (owner/name[@revision]).", Required = true };
        var dtype = new Option<string>("--dtype") { Description = $"Graph variant: {string.Join(", ", ModelDtypes.Names)}.", DefaultValueFactory = _ => "fp32" };
        var device = new Option<string?>("--device") { Description = "auto, cpu or cuda (default auto)." };
        var run = new Option<string?>("--run") { Description = "Run name; default derives from source, filters, model and tasks, so re-running the same command does no new work." };
        var maxNew = HostCommandSupport.MaxNewTokensOption();
        var db = HostCommandSupport.DbOption();
        var batch = new Option<int?>("--batch-size") { Description = "Images per batch (default 8)." };
        var maskDecoder = HostCommandSupport.MaskDecoderOption();
        var stall = new Option<int>("--stall-timeout") { Description = "Give up when no image finishes for this many seconds.", DefaultValueFactory = _ => 600 };
        var filters = new HostCommandSupport.FilterOptions();
        var documents = new HostCommandSupport.DocumentJobOptionGroup();
        var command = new Command("run", "Run the whole job in this process: list SOURCE, run the model on every image, store results in ./pgpipe.db.");
        command.Add(source);
        foreach (var o in new Option[] { tasks, model, dtype, device, run, maxNew, db, batch, maskDecoder, stall })
        {
            command.Add(o);
        }

        filters.AddTo(command);
        documents.AddTo(command);
        command.SetBody((r, c, ct) => RunAsync(c, new RunSettings(r.GetValue(source)!, r.GetValue(tasks)!, r.GetValue(model)!, r.GetValue(dtype)!,
            r.GetValue(device), r.GetValue(run), r.GetValue(maxNew), r.GetValue(db), r.GetValue(batch), r.GetValue(maskDecoder),
            TimeSpan.FromSeconds(r.GetValue(stall)), filters.Build(r), documents.Build(r)), ct));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext c, RunSettings s, CancellationToken ct)
    {
        var specs = HostCommandSupport.ParseTasks(s.Tasks, s.MaxNewTokens);
        var defaults = new Dictionary<string, string?>
        {
            ["Messaging:Transport"] = "InMemory",
            ["Database:Provider"] = "Sqlite",
            ["Database:ConnectionString"] = DatabaseOptions.DefaultSqliteConnectionString,
            ["Observability:Port"] = "0",
            // An interactive command: the progress bar and summary speak; logs only for problems.
            ["Logging:LogLevel:Default"] = "Warning",
        };
        await ModelSource.EnsureAsync(s.Model, s.Dtype, c, ct).ConfigureAwait(false);
        var overrides = new Dictionary<string, string?> { ["Worker:Model"] = s.Model, ["Inference:Dtype"] = s.Dtype };
        WorkerCommand.Set(overrides, "Inference:Device", s.Device);
        WorkerCommand.Set(overrides, "Worker:BatchSize", s.BatchSize?.ToString(CultureInfo.InvariantCulture));
        WorkerCommand.Set(overrides, "Inference:MaskDecoderPath", s.MaskDecoder);
        if (!CatalogUri.IsS3(s.Source))
        {
            // The worker may read files only under the folder this run lists.
            overrides["Worker:LocalRoot"] = Path.GetFullPath(s.Source.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(s.Source).LocalPath : s.Source);
        }

        HostCommandSupport.AddDatabase(overrides, s.Db, c.Error);
        var builder = PipelineConfiguration.CreateHostBuilder(defaults, overrides);
        c.AddLogging(builder.Logging, hostFormat: true);
        builder.AddWorker();
        builder.AddProducer(withBus: false);
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<ResultStore>();
        var reference = host.Services.GetRequiredService<ModelReference>();
        var key = reference.Key;
        // A missing model is reported before any store is created or source listed.
        reference.RequireFolder();
        if (store.Provider == DatabaseProvider.Sqlite)
        {
            // The embedded store is created on first use; a server store is migrated by `pgpipe migrate` instead.
            await store.MigrateAsync(ct).ConfigureAwait(false);
        }
        else
        {
            using var loggerFactory = c.CreateLoggerFactory();
            await HostCommandSupport.CheckServicesAsync(builder.Configuration, loggerFactory, broker: false, ct).ConfigureAwait(false);
        }

        await host.StartAsync(ct).ConfigureAwait(false);
        try
        {
            var request = new EnqueueRequest(s.Source, s.Filter, key, specs, s.Run) { Documents = s.Documents };
            var summary = await host.Services.GetRequiredService<EnqueueService>()
                .EnqueueAsync(request, new Progress<EnqueueProgress>(p => EnqueueCommand.ReportProgress(c.Error, p)), ct).ConfigureAwait(false);
            var status = await WaitAsync(c, store, summary, s.StallTimeout, ct).ConfigureAwait(false);
            await PrintSummaryAsync(c.Output, summary, status, key.ToString()).ConfigureAwait(false);
            return status.Pending > 0 ? ExitCodes.Stalled : status.Failed > 0 ? ExitCodes.Failure : ExitCodes.Ok;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<RunStatus> WaitAsync(CommandContext c, ResultStore store, EnqueueSummary summary, TimeSpan stallTimeout, CancellationToken ct)
    {
        var status = await store.GetRunStatusAsync(summary.RunId, TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
        var lastProgress = Stopwatch.StartNew();
        var lastFinished = status.Done + status.Failed;
        async Task<bool> PollAsync()
        {
            await Task.Delay(250, ct).ConfigureAwait(false);
            status = await store.GetRunStatusAsync(summary.RunId, TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
            if (status.Done + status.Failed != lastFinished)
            {
                lastFinished = status.Done + status.Failed;
                lastProgress.Restart();
            }

            return status.Pending > 0 && lastProgress.Elapsed < stallTimeout;
        }

        if (status.Pending == 0)
        {
            return status;
        }

        if (c.ErrorIsTerminal && AnsiConsole.Profile.Capabilities.Interactive)
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(c.Error) });
            await console.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var bar = ctx.AddTask("images x tasks", maxValue: Math.Max(1, status.Combinations));
                    while (await PollAsync().ConfigureAwait(false))
                    {
                        bar.Value = status.Done + status.Failed;
                        bar.Description = $"done {status.Done}, failed {status.Failed}, pending {status.Pending}";
                    }

                    bar.Value = status.Done + status.Failed;
                }).ConfigureAwait(false);
        }
        else
        {
            var report = Stopwatch.StartNew();
            while (await PollAsync().ConfigureAwait(false))
            {
                if (report.Elapsed > TimeSpan.FromSeconds(5))
                {
                    report.Restart();
                    await c.Error.WriteLineAsync($"done {status.Done}, failed {status.Failed}, pending {status.Pending} of {status.Combinations}").ConfigureAwait(false);
                }
            }
        }

        return status;
    }

    private static async Task PrintSummaryAsync(TextWriter output, EnqueueSummary summary, RunStatus status, string model)
    {
        var culture = CultureInfo.InvariantCulture;
        await output.WriteLineAsync(string.Create(culture, $"run {summary.RunName} ({model}): {status.Listed} images listed, {summary.Progress.Enqueued} enqueued this pass, {summary.Progress.Reused} reused")).ConfigureAwait(false);
        await output.WriteLineAsync(string.Create(culture, $"  done {status.Done}, failed {status.Failed}, pending {status.Pending} (image x task combinations: {status.Combinations})")).ConfigureAwait(false);
        if (status.Pending > 0)
        {
            await output.WriteLineAsync("  stopped waiting: no image finished within --stall-timeout; re-run the same command to resume.").ConfigureAwait(false);
        }

        await output.WriteLineAsync($"  see: pgpipe status {summary.RunName} | pgpipe export {summary.RunName} --format jsonl | pgpipe search \"...\"").ConfigureAwait(false);
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Model;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Producer;
using PaliGemma.Pipeline.Worker;
using Spectre.Console;

namespace PaliGemma.Pipeline.Cli.Commands;

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
        var command = new Command("run", "Run the whole job in this process: list SOURCE, run the model on every image, store results in ./pgpipe.db.");
        command.Add(source);
        foreach (var o in new Option[] { tasks, model, dtype, device, run, maxNew, db, batch, maskDecoder, stall })
        {
            command.Add(o);
        }

        filters.AddTo(command);
        command.SetAction((result, ct) => RunAsync(result, source, tasks, model, dtype, device, run, maxNew, db, batch, maskDecoder, stall, filters, ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, Argument<string> source, Option<string[]> tasks, Option<string> model, Option<string> dtype,
        Option<string?> device, Option<string?> run, Option<int?> maxNew, Option<string?> db, Option<int?> batch, Option<string?> maskDecoder,
        Option<int> stall, HostCommandSupport.FilterOptions filters, CancellationToken ct)
    {
        try
        {
            var specs = HostCommandSupport.ParseTasks(result.GetValue(tasks)!, result.GetValue(maxNew));
            var sourceText = result.GetValue(source)!;
            var defaults = new Dictionary<string, string?>
            {
                ["Messaging:Transport"] = "InMemory",
                ["Database:Provider"] = "Sqlite",
                ["Database:ConnectionString"] = DatabaseOptions.DefaultSqliteConnectionString,
                ["Observability:Port"] = "0",
                // An interactive command: the progress bar and summary speak; logs only for problems.
                ["Logging:LogLevel:Default"] = "Warning",
            };
            await ModelSource.EnsureAsync(result.GetValue(model), result.GetValue(dtype), Console.Error, ct).ConfigureAwait(false);
            var overrides = new Dictionary<string, string?> { ["Worker:Model"] = result.GetValue(model), ["Inference:Dtype"] = result.GetValue(dtype) };
            WorkerCommand.Set(overrides, "Inference:Device", result.GetValue(device));
            WorkerCommand.Set(overrides, "Worker:BatchSize", result.GetValue(batch)?.ToString(CultureInfo.InvariantCulture));
            WorkerCommand.Set(overrides, "Inference:MaskDecoderPath", result.GetValue(maskDecoder));
            if (!CatalogUri.IsS3(sourceText))
            {
                // The worker may read files only under the folder this run lists.
                overrides["Worker:LocalRoot"] = Path.GetFullPath(sourceText.StartsWith("file://", StringComparison.OrdinalIgnoreCase) ? new Uri(sourceText).LocalPath : sourceText);
            }

            HostCommandSupport.AddDatabase(overrides, result.GetValue(db));
            var builder = PipelineConfiguration.CreateHostBuilder(defaults, overrides);
            builder.AddWorker();
            builder.AddProducer(withBus: false);
            using var host = builder.Build();
            var store = host.Services.GetRequiredService<ResultStore>();
            // The embedded store is created on first use; a server store is migrated by `pgpipe migrate` instead.
            if (store.Provider == DatabaseProvider.Sqlite)
            {
                await store.MigrateAsync(ct).ConfigureAwait(false);
            }

            var key = host.Services.GetRequiredService<ModelReference>().Key;
            await host.StartAsync(ct).ConfigureAwait(false);
            try
            {
                var request = new EnqueueRequest(sourceText, filters.Build(result), key, specs, result.GetValue(run));
                var summary = await host.Services.GetRequiredService<EnqueueService>()
                    .EnqueueAsync(request, new Progress<EnqueueProgress>(EnqueueCommand.ReportProgress), ct).ConfigureAwait(false);
                var status = await WaitAsync(store, summary, TimeSpan.FromSeconds(result.GetValue(stall)), ct).ConfigureAwait(false);
                PrintSummary(summary, status, key.ToString());
                return status.Pending == 0 ? (status.Failed > 0 ? 1 : 0) : 3;
            }
            finally
            {
                await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is OptionsValidationException or ArgumentException or InvalidOperationException or DirectoryNotFoundException or ModelFormatException or InvalidDataException or PaliGemma.Hub.HubException)
        {
            return HostCommandSupport.Fail(ex is OptionsValidationException v ? string.Join("; ", v.Failures) : ex.Message);
        }
    }

    private static async Task<RunStatus> WaitAsync(ResultStore store, EnqueueSummary summary, TimeSpan stallTimeout, CancellationToken ct)
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

        if (AnsiConsole.Profile.Capabilities.Interactive && !Console.IsErrorRedirected)
        {
            await AnsiConsole.Progress().AutoClear(false).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
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
                    Console.Error.WriteLine($"done {status.Done}, failed {status.Failed}, pending {status.Pending} of {status.Combinations}");
                }
            }
        }

        return status;
    }

    private static void PrintSummary(EnqueueSummary summary, RunStatus status, string model)
    {
        var culture = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(culture, $"run {summary.RunName} ({model}): {status.Listed} images listed, {summary.Progress.Enqueued} enqueued this pass, {summary.Progress.Reused} reused"));
        Console.WriteLine(string.Create(culture, $"  done {status.Done}, failed {status.Failed}, pending {status.Pending} (image x task combinations: {status.Combinations})"));
        if (status.Pending > 0)
        {
            Console.WriteLine("  stopped waiting: no image finished within --stall-timeout; re-run the same command to resume.");
        }

        Console.WriteLine($"  see: pgpipe status {summary.RunName} | pgpipe export {summary.RunName} --format jsonl | pgpipe search \"...\"");
    }
}

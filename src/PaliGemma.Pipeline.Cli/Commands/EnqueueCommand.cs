using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Producer;
using PaliGemma.Pipeline.Worker;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe enqueue</c> was asked to do.</summary>
internal sealed record EnqueueSettings(string Source, string[] Tasks, string Model, string Dtype, string? Run, int? MaxNewTokens, string? Db, CatalogFilter Filter, DocumentJobOptions? Documents);

/// <summary><c>pgpipe enqueue</c>: the producer. Lists a source and queues one job per image that still needs work.</summary>
internal static class EnqueueCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("SOURCE") { Description = "s3://bucket/prefix or a local folder." };
        var tasks = HostCommandSupport.TaskOption();
        var model = new Option<string>("--model", "-m") { Description = "Model id (or folder; its name is the id). Workers serving it consume its queue.", Required = true };
        var dtype = new Option<string>("--dtype") { Description = $"Graph variant the workers run: {string.Join(", ", ModelDtypes.Names)}.", DefaultValueFactory = _ => "fp32" };
        var run = new Option<string?>("--run") { Description = "Run name; default derives from source, filters, model and tasks, so the same command resumes the same run." };
        var maxNew = HostCommandSupport.MaxNewTokensOption();
        var db = HostCommandSupport.DbOption();
        var filters = new HostCommandSupport.FilterOptions();
        var documents = new HostCommandSupport.DocumentJobOptionGroup();
        var command = new Command("enqueue", "List SOURCE and enqueue one job per image still missing a result (RabbitMQ + Postgres by default).");
        command.Add(source);
        foreach (var o in new Option[] { tasks, model, dtype, run, maxNew, db })
        {
            command.Add(o);
        }

        filters.AddTo(command);
        documents.AddTo(command);
        command.SetBody((r, c, ct) => RunAsync(c, new EnqueueSettings(r.GetValue(source)!, r.GetValue(tasks)!, r.GetValue(model)!, r.GetValue(dtype)!,
            r.GetValue(run), r.GetValue(maxNew), r.GetValue(db), filters.Build(r), documents.Build(r)), ct));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext c, EnqueueSettings s, CancellationToken ct)
    {
        var specs = HostCommandSupport.ParseTasks(s.Tasks, s.MaxNewTokens);
        var key = ModelReference.Resolve(s.Model, s.Dtype, null).Key;
        var overrides = new Dictionary<string, string?>();
        HostCommandSupport.AddDatabase(overrides, s.Db, c.Error);
        var defaults = new Dictionary<string, string?>(WorkerCommand.DistributedDefaults) { ["Logging:LogLevel:Default"] = "Warning" };
        var builder = PipelineConfiguration.CreateHostBuilder(defaults, overrides);
        c.AddLogging(builder.Logging, hostFormat: true);
        using (var loggerFactory = c.CreateLoggerFactory())
        {
            // A missing schema, a refused login or a broker that is down ends the command here, in one line, instead of
            // after the producer's retries.
            await HostCommandSupport.CheckServicesAsync(builder.Configuration, loggerFactory, broker: true, ct).ConfigureAwait(false);
        }

        builder.AddProducer();
        using var host = builder.Build();
        await host.StartAsync(ct).ConfigureAwait(false);
        try
        {
            var request = new EnqueueRequest(s.Source, s.Filter, key, specs, s.Run) { Documents = s.Documents };
            var summary = await host.Services.GetRequiredService<EnqueueService>()
                .EnqueueAsync(request, new Progress<EnqueueProgress>(p => ReportProgress(c.Error, p)), ct).ConfigureAwait(false);
            await c.Output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"run {summary.RunName} ({(summary.Resumed ? "resumed" : "new")}): listed {summary.Progress.Listed}, enqueued {summary.Progress.Enqueued}, reused {summary.Progress.Reused}, superseded {summary.Superseded}, queue {key.QueueName}, {summary.Progress.KeysPerSecond:0} keys/s")).ConfigureAwait(false);
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }

    /// <summary>One progress line on the error writer.</summary>
    internal static void ReportProgress(TextWriter error, EnqueueProgress p) =>
        error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"listed {p.Listed}, enqueued {p.Enqueued}, reused {p.Reused} ({p.KeysPerSecond:0} keys/s, {p.Elapsed:hh\\:mm\\:ss})"));
}

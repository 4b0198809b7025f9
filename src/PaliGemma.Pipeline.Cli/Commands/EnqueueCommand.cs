using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Runtime;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Producer;
using PaliGemma.Pipeline.Worker;

namespace PaliGemma.Pipeline.Cli.Commands;

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
        var command = new Command("enqueue", "List SOURCE and enqueue one job per image still missing a result (RabbitMQ + Postgres by default).");
        command.Add(source);
        foreach (var o in new Option[] { tasks, model, dtype, run, maxNew, db })
        {
            command.Add(o);
        }

        filters.AddTo(command);
        command.SetAction(async (result, ct) =>
        {
            try
            {
                var specs = HostCommandSupport.ParseTasks(result.GetValue(tasks)!, result.GetValue(maxNew));
                var key = ModelReference.Resolve(result.GetValue(model)!, result.GetValue(dtype)!, null).Key;
                var overrides = new Dictionary<string, string?>();
                HostCommandSupport.AddDatabase(overrides, result.GetValue(db));
                var defaults = new Dictionary<string, string?>(WorkerCommand.DistributedDefaults) { ["Logging:LogLevel:Default"] = "Warning" };
                var builder = PipelineConfiguration.CreateHostBuilder(defaults, overrides);
                builder.AddProducer();
                using var host = builder.Build();
                await host.StartAsync(ct).ConfigureAwait(false);
                try
                {
                    var request = new EnqueueRequest(result.GetValue(source)!, filters.Build(result), key, specs, result.GetValue(run));
                    var summary = await host.Services.GetRequiredService<EnqueueService>()
                        .EnqueueAsync(request, new Progress<EnqueueProgress>(ReportProgress), ct).ConfigureAwait(false);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"run {summary.RunName} ({(summary.Resumed ? "resumed" : "new")}): listed {summary.Progress.Listed}, enqueued {summary.Progress.Enqueued}, reused {summary.Progress.Reused}, superseded {summary.Superseded}, queue {key.QueueName}, {summary.Progress.KeysPerSecond:0} keys/s"));
                }
                finally
                {
                    await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
                }

                return 0;
            }
            catch (Exception ex) when (ex is OptionsValidationException or ArgumentException or InvalidOperationException or DirectoryNotFoundException)
            {
                return HostCommandSupport.Fail(ex is OptionsValidationException v ? string.Join("; ", v.Failures) : ex.Message);
            }
        });
        return command;
    }

    internal static void ReportProgress(EnqueueProgress p) =>
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"listed {p.Listed}, enqueued {p.Enqueued}, reused {p.Reused} ({p.KeysPerSecond:0} keys/s, {p.Elapsed:hh\\:mm\\:ss})"));
}

using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Hosting;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Worker;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe worker</c> was asked to do; null values come from configuration.</summary>
internal sealed record WorkerSettings(string? Model, string? Dtype, string? Device, int? BatchSize, string? MaskDecoder, int? MetricsPort, string? Db, bool PrintQueue);

/// <summary>
/// <c>pgpipe worker</c>: consumes one model's queue until SIGTERM/Ctrl+C, then drains (stops taking messages,
/// finishes and acknowledges the batch in hand) and exits.
/// </summary>
internal static class WorkerCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model folder, id under Worker:ModelsDirectory, or Hugging Face repo id (owner/name[@revision]) (default: Worker:Model)." };
        var dtype = new Option<string?>("--dtype") { Description = $"Graph variant: {string.Join(", ", ModelDtypes.Names)} (default: Inference:Dtype, fp32)." };
        var device = new Option<string?>("--device") { Description = "auto, cpu or cuda (default: Inference:Device, auto)." };
        var batch = new Option<int?>("--batch-size") { Description = "Images per batch (default: Worker:BatchSize, 8)." };
        var maskDecoder = HostCommandSupport.MaskDecoderOption();
        var port = new Option<int?>("--metrics-port") { Description = "Port for /metrics and /health (default: Observability:Port; 0 = off)." };
        var db = HostCommandSupport.DbOption();
        var printQueue = new Option<bool>("--print-queue") { Description = "Print the queue name this worker consumes (for KEDA) and exit." };
        var command = new Command("worker", "Consume a model's image jobs in batches and persist results (RabbitMQ + Postgres by default).");
        foreach (var o in new Option[] { model, dtype, device, batch, maskDecoder, port, db, printQueue })
        {
            command.Add(o);
        }

        command.SetBody((r, c, ct) => RunAsync(c, new WorkerSettings(r.GetValue(model), r.GetValue(dtype), r.GetValue(device), r.GetValue(batch),
            r.GetValue(maskDecoder), r.GetValue(port), r.GetValue(db), r.GetValue(printQueue)), ct));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext c, WorkerSettings s, CancellationToken ct)
    {
        var overrides = new Dictionary<string, string?>();
        Set(overrides, "Worker:Model", s.Model);
        Set(overrides, "Inference:Dtype", s.Dtype);
        Set(overrides, "Inference:Device", s.Device);
        Set(overrides, "Inference:MaskDecoderPath", s.MaskDecoder);
        Set(overrides, "Worker:BatchSize", s.BatchSize?.ToString(CultureInfo.InvariantCulture));
        Set(overrides, "Observability:Port", s.MetricsPort?.ToString(CultureInfo.InvariantCulture));
        HostCommandSupport.AddDatabase(overrides, s.Db, c.Error);
        var builder = PipelineConfiguration.CreateHostBuilder(DistributedDefaults, overrides);
        c.AddLogging(builder.Logging, hostFormat: true);
        if (s.PrintQueue)
        {
            await c.Output.WriteLineAsync(WorkerExtensions.Resolve(builder.Configuration).Key.QueueName).ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        // After configuration is merged, so a model or dtype from Worker__Model / Inference__Dtype counts too.
        await ModelSource.EnsureAsync(builder.Configuration["Worker:Model"], builder.Configuration["Inference:Dtype"], c, ct,
            builder.Configuration["Worker:ModelsDirectory"]).ConfigureAwait(false);
        // A model that is not there, a store without its schema or a refused login are mistakes to fix, reported here in
        // one line; the host would log them with a stack trace, or retry them like an outage.
        WorkerExtensions.Resolve(builder.Configuration).RequireFolder();
        using (var loggerFactory = c.CreateLoggerFactory())
        {
            try
            {
                await HostCommandSupport.CheckServicesAsync(builder.Configuration, loggerFactory, broker: true, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested && CliErrors.Describe(ex) is { ExitCode: ExitCodes.ServiceUnavailable } outage)
            {
                // An outage at start is ridden out like one during work (the host retries and reports not ready); only a
                // mistake stops a worker.
                await c.Error.WriteLineAsync($"warning: {outage.Message} Starting anyway; the worker waits for it.").ConfigureAwait(false);
            }
        }

        builder.AddWorker();
        using var host = builder.Build();
        await host.RunAsync(ct).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    /// <summary>Distributed hosts default to RabbitMQ and Postgres; configuration and flags override.</summary>
    public static readonly IReadOnlyDictionary<string, string?> DistributedDefaults = new Dictionary<string, string?>
    {
        ["Messaging:Transport"] = "RabbitMq",
        ["Database:Provider"] = "Postgres",
    };

    public static void Set(Dictionary<string, string?> overrides, string key, string? value)
    {
        if (!string.IsNullOrWhiteSpace(value))
        {
            overrides[key] = value;
        }
    }
}

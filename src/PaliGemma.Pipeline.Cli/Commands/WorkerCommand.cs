using System.CommandLine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Model;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Worker;

namespace PaliGemma.Pipeline.Cli.Commands;

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

        command.SetAction(async (result, ct) =>
        {
            var overrides = new Dictionary<string, string?>();
            Set(overrides, "Worker:Model", result.GetValue(model));
            Set(overrides, "Inference:Dtype", result.GetValue(dtype));
            Set(overrides, "Inference:Device", result.GetValue(device));
            Set(overrides, "Inference:MaskDecoderPath", result.GetValue(maskDecoder));
            Set(overrides, "Worker:BatchSize", result.GetValue(batch)?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Set(overrides, "Observability:Port", result.GetValue(port)?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            HostCommandSupport.AddDatabase(overrides, result.GetValue(db));
            var builder = PipelineConfiguration.CreateHostBuilder(DistributedDefaults, overrides);
            try
            {
                if (result.GetValue(printQueue))
                {
                    Console.WriteLine(WorkerExtensions.Resolve(builder.Configuration).Key.QueueName);
                    return 0;
                }

                // After configuration is merged, so a model or dtype from Worker__Model / Inference__Dtype counts too.
                await ModelSource.EnsureAsync(builder.Configuration["Worker:Model"], builder.Configuration["Inference:Dtype"], Console.Error, ct,
                    builder.Configuration["Worker:ModelsDirectory"]).ConfigureAwait(false);
                builder.AddWorker();
                using var host = builder.Build();
                await host.RunAsync(ct).ConfigureAwait(false);
                return 0;
            }
            catch (Exception ex) when (ex is OptionsValidationException or ModelFormatException or ArgumentException or InvalidDataException or FileNotFoundException or PaliGemma.Hub.HubException)
            {
                return HostCommandSupport.Fail(ex is OptionsValidationException v ? string.Join("; ", v.Failures) : ex.Message);
            }
        });
        return command;
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

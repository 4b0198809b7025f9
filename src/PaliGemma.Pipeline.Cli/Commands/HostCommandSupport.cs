using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Inference.Tasks;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.Worker;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>Options and conversions shared by the commands that host the pipeline (enqueue, worker, run).</summary>
internal static class HostCommandSupport
{
    public static Option<string?> DbOption() => StoreAccess.CreateDbOption();

    /// <summary>Configuration keys that a --db value stands for (same rules as the read-side commands).</summary>
    public static void AddDatabase(Dictionary<string, string?> overrides, string? db, TextWriter warnings)
    {
        if (string.IsNullOrWhiteSpace(db))
        {
            return;
        }

        var (provider, connectionString) = StoreAccess.InterpretDbOption(db, Environment.CurrentDirectory, warnings);
        overrides["Database:Provider"] = provider.ToString();
        overrides["Database:ConnectionString"] = connectionString;
    }

    public static Option<string[]> TaskOption() => new("--task", "-t")
    {
        Description = "Task prompt (repeatable): 'caption en', 'ocr', 'answer en QUESTION', 'detect cat ; dog', or a raw prompt.",
        Required = true,
    };

    /// <summary>The segmentation mask decoder shared by the commands that host a worker.</summary>
    public static Option<string?> MaskDecoderOption() => new("--mask-decoder")
    {
        Description = "vae_decoder.onnx for segment masks (default: Inference:MaskDecoderPath; none: boxes only).",
    };

    public static Option<int?> MaxNewTokensOption() => new("--max-new-tokens") { Description = "Token limit for every task (default: per task kind)." };

    /// <summary>Parses the task prompts up front, so a malformed one fails before any listing or model load.</summary>
    public static IReadOnlyList<TaskSpec> ParseTasks(string[] prompts, int? maxNewTokens)
    {
        if (TaskValidation.LimitProblem(maxNewTokens, "--max-new-tokens") is { } problem)
        {
            throw new ArgumentException(problem + ".");
        }

        return prompts.Distinct(StringComparer.Ordinal)
            .Select(p => new TaskSpec(p, maxNewTokens ?? PaliGemmaTask.Parse(p).DefaultMaxNewTokens))
            .ToList();
    }

    /// <summary>How a run renders and reads document pages; the values travel in every job.</summary>
    public sealed class DocumentJobOptionGroup
    {
        public Option<int?> PdfDpi { get; } = new("--pdf-dpi")
        {
            Description = $"Render PDF pages at this resolution ({ImageJobValidator.MinPdfDpi}-{ImageJobValidator.MaxPdfDpi}) instead of the one that gives the model's input size; Documents:MaxPagePixels still caps a page.",
        };

        public Option<string?> PdfTextLayer { get; } = new("--pdf-text-layer")
        {
            Description = "ocr (default): run the model on every page. prefer: for the ocr task, store a PDF page's usable text layer instead of running the model.",
        };

        public void AddTo(Command command)
        {
            command.Add(PdfDpi);
            command.Add(PdfTextLayer);
        }

        /// <summary>The job options, or null when neither option was given (the workers' defaults apply).</summary>
        /// <exception cref="ArgumentException">A value is out of range or not a known mode.</exception>
        public DocumentJobOptions? Build(ParseResult result)
        {
            var dpi = result.GetValue(PdfDpi);
            var layer = result.GetValue(PdfTextLayer)?.Trim().ToLowerInvariant();
            if (dpi is < ImageJobValidator.MinPdfDpi or > ImageJobValidator.MaxPdfDpi)
            {
                throw new ArgumentException($"--pdf-dpi must be {ImageJobValidator.MinPdfDpi} to {ImageJobValidator.MaxPdfDpi}, got {dpi}.");
            }

            if (layer is not null && !ImageJobValidator.PdfTextLayers.Contains(layer))
            {
                throw new ArgumentException($"--pdf-text-layer must be one of {string.Join(", ", ImageJobValidator.PdfTextLayers)}, got '{result.GetValue(PdfTextLayer)}'.");
            }

            return dpi is null && layer is null ? null : new DocumentJobOptions { PdfDpi = dpi, PdfTextLayer = layer };
        }
    }

    public sealed class FilterOptions
    {
        public Option<string?> Prefix { get; } = new("--prefix") { Description = "Only keys starting with this (relative to the source)." };
        public Option<string?> Glob { get; } = new("--glob") { Description = "Only keys matching this glob, e.g. '**/*.jpg'." };
        public Option<string[]> Extensions { get; } = new("--ext") { Description = "Only these extensions (repeatable), e.g. --ext jpg --ext png." };
        public Option<long?> MinSize { get; } = new("--min-size") { Description = "Skip objects smaller than this many bytes." };
        public Option<long?> MaxSize { get; } = new("--max-size") { Description = "Skip objects larger than this many bytes." };

        public void AddTo(Command command)
        {
            command.Add(Prefix);
            command.Add(Glob);
            command.Add(Extensions);
            command.Add(MinSize);
            command.Add(MaxSize);
        }

        public CatalogFilter Build(ParseResult result)
        {
            var extensions = result.GetValue(Extensions);
            return new CatalogFilter
            {
                Prefix = result.GetValue(Prefix),
                Glob = result.GetValue(Glob),
                Extensions = extensions is { Length: > 0 } ? extensions.Select(e => e.TrimStart('.')).ToHashSet(StringComparer.OrdinalIgnoreCase) : null,
                MinSize = result.GetValue(MinSize),
                MaxSize = result.GetValue(MaxSize),
            };
        }
    }

    /// <summary>
    /// Checks, before a host starts, that the store exists, is migrated and accepts the login, and (with RabbitMQ) that
    /// the broker answers and accepts the login, so those mistakes end the command at once with one line instead of
    /// retries. <paramref name="configuration"/> is the host's merged configuration.
    /// </summary>
    public static async Task CheckServicesAsync(IConfiguration configuration, ILoggerFactory loggerFactory, bool broker, CancellationToken ct)
    {
        _ = await StoreAccess.OpenExistingStoreAsync(configuration, loggerFactory, ct).ConfigureAwait(false);
        var messaging = configuration.GetSection(MessagingOptions.SectionName).Get<MessagingOptions>() ?? new MessagingOptions();
        if (broker && messaging.Transport == TransportKind.RabbitMq)
        {
            if (new MessagingOptionsValidator().Validate(null, messaging) is { Failed: true } invalid)
            {
                throw new OptionsValidationException(MessagingOptions.SectionName, typeof(MessagingOptions), invalid.Failures ?? [invalid.FailureMessage]);
            }

            await RabbitMqProbe.CheckAsync(messaging, TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
        }
    }
}

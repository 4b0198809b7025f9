using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Tasks;
using PaliGemma.Pipeline.Cli.Errors;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe infer</c> was asked to run.</summary>
internal sealed record InferSettings(ModelSettings Model, string[] Images, string[] Prompts, int? MaxNewTokens, bool Json, string? MaskDecoder);

/// <summary><c>pgpipe infer</c>: every image with every prompt, on one machine, without the pipeline.</summary>
internal static class InferCommand
{
    public static Command Create()
    {
        var model = new ModelOptions();
        var images = new Option<string[]>("--image", "-i") { Description = "Image file (repeatable).", Required = true, AllowMultipleArgumentsPerToken = false };
        var prompts = new Option<string[]>("--prompt", "-p")
        {
            Description = "Task prompt (repeatable): 'caption en', 'ocr', 'answer en QUESTION', 'detect cat ; dog', ... A first word that is not a task prefix runs as a raw prompt.",
            Required = true,
        };
        var maxNew = new Option<int?>("--max-new-tokens") { Description = "Overrides every task's default token limit." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per (image, prompt) line." };
        var maskDecoder = new Option<string?>("--mask-decoder")
        {
            Description = "vae_decoder.onnx (from tools/convert_vae_oid.py) for segment masks; without it segment returns boxes and a note.",
        };

        var command = new Command("infer", "Run every image with every prompt and print results in input order, image-major.");
        model.AddTo(command);
        command.Add(images);
        command.Add(prompts);
        command.Add(maxNew);
        command.Add(json);
        command.Add(maskDecoder);
        command.SetBody((r, c, ct) => RunAsync(c, new InferSettings(model.Bind(r), r.GetValue(images)!, r.GetValue(prompts)!, r.GetValue(maxNew), r.GetValue(json),
            r.GetValue(maskDecoder)), ct));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext c, InferSettings s, CancellationToken ct)
    {
        var (imagePaths, promptTexts, maxNew, json) = (s.Images, s.Prompts, s.MaxNewTokens, s.Json);
        var tasks = promptTexts.Select(PaliGemmaTask.Parse).ToArray();
        if (TaskValidation.LimitProblem(maxNew, "--max-new-tokens") is { } problem)
        {
            throw new UsageException(problem + ".");
        }

        using var loggerFactory = c.CreateLoggerFactory(s.Model.Verbose ? LogLevel.Information : LogLevel.Warning);
        var folder = await ModelSource.ResolveFolderAsync(s.Model.Model, s.Model.Dtype, c, ct).ConfigureAwait(false);
        var inference = s.Model.ToInferenceOptions();
        inference.MaskDecoderPath = s.MaskDecoder;
        var model = PaliGemmaModel.Load(folder, inference, loggerFactory.CreateLogger("pgpipe.infer"));
        using (model)
        {
            // Decode and resize on all cores; a bad image becomes an error row and never stops the others.
            var loaded = new PreprocessedImage?[imagePaths.Length];
            var errors = new string?[imagePaths.Length];
            await Parallel.ForAsync(0, imagePaths.Length, new ParallelOptions { CancellationToken = ct }, async (i, token) =>
            {
                try
                {
                    var bytes = await File.ReadAllBytesAsync(imagePaths[i], token).ConfigureAwait(false);
                    loaded[i] = model.Preprocessor.Preprocess(bytes, token);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ImageDecodeException)
                {
                    errors[i] = ex.Message;
                }
            }).ConfigureAwait(false);

            var goodImages = new List<PreprocessedImage>();
            var imageSlot = new int[imagePaths.Length];
            for (var i = 0; i < imagePaths.Length; i++)
            {
                imageSlot[i] = loaded[i] is { } img ? goodImages.Count : -1;
                if (loaded[i] is { } ok)
                {
                    goodImages.Add(ok);
                }
            }

            var requests = new List<GenerationRequest>();
            for (var i = 0; i < imagePaths.Length; i++)
            {
                if (imageSlot[i] >= 0)
                {
                    requests.AddRange(tasks.Select(t => new GenerationRequest(imageSlot[i], t, maxNew)));
                }
            }

            IReadOnlyList<GenerationOutput> outputs = requests.Count == 0 ? [] : model.Generate(goodImages, requests, ct);
            var failed = false;
            var next = 0;
            var stdout = c.Output;
            for (var i = 0; i < imagePaths.Length; i++)
            {
                for (var p = 0; p < tasks.Length; p++)
                {
                    if (imageSlot[i] < 0)
                    {
                        failed = true;
                        await stdout.WriteLineAsync(json
                            ? CliJsonOutput.Serialize(new InferError(imagePaths[i], promptTexts[p], errors[i]!))
                            : $"{imagePaths[i]} | {promptTexts[p]} | ERROR: {errors[i]}").ConfigureAwait(false);
                        continue;
                    }

                    var o = outputs[next++];
                    await stdout.WriteLineAsync(json ? ToJson(imagePaths[i], promptTexts[p], o) : ToText(imagePaths[i], promptTexts[p], o)).ConfigureAwait(false);
                }
            }

            return failed ? ExitCodes.Failure : ExitCodes.Ok;
        }
    }

    /// <summary>One --json line: boxes carry "mask" only when decoded; "note" only when there is one.</summary>
    internal static string ToJson(string image, string prompt, GenerationOutput o) =>
        CliJsonOutput.Serialize(new InferLine(
            image, prompt, o.Text, o.TokenIds,
            o.Boxes.Select(b => new InferBox(b.Label, b.X1, b.Y1, b.X2, b.Y2, b.Mask is { } m ? new InferMask([m.Height, m.Width], m.Counts) : null)).ToArray(),
            o.PromptTokens, o.GeneratedTokens, Math.Round(o.Milliseconds, 3), o.Note));

    private static string ToText(string image, string prompt, GenerationOutput o)
    {
        var line = $"{image} | {prompt} | {o.Text}";
        if (o.Boxes.Count > 0)
        {
            line += " | " + string.Join("; ", o.Boxes.Select(b => string.Create(CultureInfo.InvariantCulture, $"{b.Label} [{b.X1:0.#},{b.Y1:0.#},{b.X2:0.#},{b.Y2:0.#}]{(b.Mask is { } m ? $" mask {m.Area} px" : "")}")));
        }

        return o.Note is null ? line : $"{line} | note: {o.Note}";
    }
}

using System.CommandLine;
using System.Globalization;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Tasks;

namespace PaliGemma.Pipeline.Cli.Commands;

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
        command.SetAction((result, ct) => RunAsync(result, model, result.GetValue(images)!, result.GetValue(prompts)!, result.GetValue(maxNew), result.GetValue(json),
            result.GetValue(maskDecoder), ct));
        return command;
    }

    private static async Task<int> RunAsync(ParseResult result, ModelOptions modelOptions, string[] imagePaths, string[] promptTexts, int? maxNew, bool json,
        string? maskDecoder, CancellationToken ct)
    {
        PaliGemmaTask[] tasks;
        try
        {
            tasks = promptTexts.Select(PaliGemmaTask.Parse).ToArray();
            if (TaskValidation.LimitProblem(maxNew, "--max-new-tokens") is { } problem)
            {
                throw new ArgumentException(problem + ".");
            }
        }
        catch (ArgumentException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        using var loggerFactory = modelOptions.CreateLoggerFactory(result);
        PaliGemmaModel model;
        try
        {
            var folder = await ModelSource.ResolveFolderAsync(result.GetValue(modelOptions.Model)!, result.GetValue(modelOptions.Dtype) ?? "fp32", Console.Error, ct).ConfigureAwait(false);
            var inference = modelOptions.ToInferenceOptions(result);
            inference.MaskDecoderPath = maskDecoder;
            model = PaliGemmaModel.Load(folder, inference, loggerFactory.CreateLogger("pgpipe.infer"));
        }
        catch (Exception ex) when (ex is ModelFormatException or ArgumentException or InvalidOperationException or InvalidDataException or FileNotFoundException or PaliGemma.Inference.Tokenization.TokenizerJsonException or PaliGemma.Hub.HubException)
        {
            await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

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

            IReadOnlyList<GenerationOutput> outputs;
            try
            {
                outputs = requests.Count == 0 ? [] : model.Generate(goodImages, requests, ct);
            }
            catch (ArgumentException ex)
            {
                await Console.Error.WriteLineAsync($"error: {ex.Message}").ConfigureAwait(false);
                return 2;
            }

            var failed = false;
            var next = 0;
            var stdout = Console.Out;
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

            return failed ? 1 : 0;
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

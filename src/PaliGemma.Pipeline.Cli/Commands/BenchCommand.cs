using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Onnx;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>
/// <c>pgpipe bench</c>: benchmark programs that print ratios against a baseline measured in the same run.
/// </summary>
internal static partial class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Benchmarks that print ratios against a baseline measured side by side.");
        command.Add(CreateInference());
        command.Add(BenchPipelineCommand.Create());
        return command;
    }

    private static Command CreateInference()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model folder (e.g. one made by tools/gen_tiny_model.py --preset bench).", Required = true };
        var images = new Option<string[]>("--image", "-i") { Description = "Images already at the model's size (repeatable; cycled to fill a batch).", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "Prompt for every row.", DefaultValueFactory = _ => "caption en" };
        var batches = new Option<int[]>("--batch") { Description = "Batch sizes to measure.", DefaultValueFactory = _ => [1, 8], AllowMultipleArgumentsPerToken = true };
        var maxNew = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 32 };
        var threads = new Option<int>("--threads") { Description = "Intra-op threads for both sides (default: logical CPUs). Set it to the machine's physical cores, e.g. --threads 2 on the 2-core CI/dev machine.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var rounds = new Option<int>("--rounds") { Description = "Alternating rounds of both sides; the table shows medians.", DefaultValueFactory = _ => 1 };
        var iterations = new Option<int>("--iterations") { Description = "Timed calls per batch size.", DefaultValueFactory = _ => 3 };
        // Off by default: on a machine shared with other work, spinning threads of either side compete with
        // everything else for the cores and the numbers swing by 2x between runs; off, both sides are repeatable.
        var spinning = new Option<bool>("--allow-spinning") { Description = "Intra-op threads spin between kernels, on both sides (ONNX Runtime's own default is to spin).", DefaultValueFactory = _ => false };
        var skipReference = new Option<bool>("--skip-reference") { Description = "Measure only this implementation." };
        var script = new Option<string?>("--reference-script") { Description = "transformers.js benchmark script (default: tools/node/bench-reference.mjs above the working directory)." };

        var command = new Command("inference", "Our generator vs transformers.js on the same ONNX files, images and prompts.");
        foreach (var o in new Option[] { model, images, prompt, batches, maxNew, threads, iterations, rounds, spinning, skipReference, script })
        {
            command.Add(o);
        }

        command.SetAction(async (r, ct) => await RunInferenceAsync(new InferenceBenchSettings(
            await ModelSource.ResolveFolderAsync(r.GetValue(model)!, "fp32", Console.Error, ct).ConfigureAwait(false), r.GetValue(images)!, r.GetValue(prompt)!, r.GetValue(batches)!, r.GetValue(maxNew), r.GetValue(threads),
            Math.Max(1, r.GetValue(iterations)), r.GetValue(skipReference), r.GetValue(script), r.GetValue(spinning), Math.Max(1, r.GetValue(rounds))), ct).ConfigureAwait(false));
        return command;
    }

    private sealed record InferenceBenchSettings(string Model, string[] Images, string Prompt, int[] Batches, int MaxNewTokens, int Threads,
        int Iterations, bool SkipReference, string? ReferenceScript, bool AllowSpinning, int Rounds);

    private sealed record Measurement(string Name, int Batch, double ImagesPerSecond, long GeneratedTokens, double OrtShare, long PeakManagedBytes);

    private static async Task<int> RunInferenceAsync(InferenceBenchSettings s, CancellationToken ct)
    {
        var culture = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(culture,
            $"bench inference: model={s.Model} prompt='{s.Prompt}' max_new_tokens={s.MaxNewTokens} intra_op_threads={s.Threads} inter_op_threads=1 allow_spinning={s.AllowSpinning} (both sides) iterations={s.Iterations} rounds={s.Rounds} (median) warmup=1 (model load excluded; greedy; {Environment.ProcessorCount} logical CPUs)"));
        Console.WriteLine("  timed, ours: tokenization + vision + embed + decoder on images decoded and resized before timing");
        Console.WriteLine("  timed, transformers.js: its processor on in-memory images + tokenization + generate");
        var all = new List<Measurement>();
        for (var round = 1; round <= s.Rounds; round++)
        {
            // Rounds alternate the two sides, so a burst of load from other work on a shared machine lands on both
            // rather than on whichever side happened to run then; the table reports each row's median over rounds.
            Console.WriteLine(string.Create(culture, $"round {round} of {s.Rounds}"));
            foreach (var rewrite in new[] { true, false })
            {
                all.AddRange(MeasureOurs(s, rewrite, ct));
            }

            if (!s.SkipReference)
            {
                var scriptPath = s.ReferenceScript ?? FindUpwards(Path.Combine("tools", "node", "bench-reference.mjs"))
                    ?? throw new InvalidOperationException("tools/node/bench-reference.mjs not found; pass --reference-script or --skip-reference.");
                all.AddRange(await MeasureReferenceAsync(scriptPath, s, s.Model, "transformers.js (original decoder)", ct).ConfigureAwait(false));
                var rewrittenFolder = CreateRewrittenCopy(s.Model);
                try
                {
                    all.AddRange(await MeasureReferenceAsync(scriptPath, s, rewrittenFolder, "transformers.js (same last-position rewrite)", ct).ConfigureAwait(false));
                }
                finally
                {
                    Directory.Delete(rewrittenFolder, recursive: true);
                }
            }
        }

        var results = all.GroupBy(m => (m.Name, m.Batch))
            .Select(g =>
            {
                var sorted = g.OrderBy(m => m.ImagesPerSecond).ToList();
                var median = sorted[sorted.Count / 2];
                if (s.Rounds > 1)
                {
                    Console.WriteLine(string.Create(culture, $"  {g.Key.Name} batch {g.Key.Batch}: images/s per round [{string.Join(", ", g.Select(m => m.ImagesPerSecond.ToString("0.00", culture)))}]"));
                }

                return median with { PeakManagedBytes = g.Max(m => m.PeakManagedBytes) };
            })
            .ToList();

        Console.WriteLine();
        Console.WriteLine("| implementation | batch | images/s | generated tokens | time in ORT Run | peak managed MB |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var m in results)
        {
            Console.WriteLine(string.Create(culture,
                $"| {m.Name} | {m.Batch} | {m.ImagesPerSecond:0.00} | {m.GeneratedTokens} | {(double.IsNaN(m.OrtShare) ? "-" : m.OrtShare.ToString("P1", culture))} | {(m.PeakManagedBytes < 0 ? "-" : (m.PeakManagedBytes / 1048576.0).ToString("0.0", culture))} |"));
        }

        Console.WriteLine();
        foreach (var batch in s.Batches)
        {
            var ours = results.FirstOrDefault(r => r.Batch == batch && r.Name.StartsWith("pgpipe (rewrite", StringComparison.Ordinal));
            foreach (var baseline in results.Where(r => r.Batch == batch && r.Name.StartsWith("transformers.js", StringComparison.Ordinal)))
            {
                if (ours is not null && baseline.ImagesPerSecond > 0)
                {
                    Console.WriteLine(string.Create(culture, $"batch {batch}: pgpipe / {baseline.Name} = {ours.ImagesPerSecond / baseline.ImagesPerSecond:0.00}x"));
                }
            }
        }

        return 0;
    }

    private static IEnumerable<Measurement> MeasureOurs(InferenceBenchSettings s, bool rewrite, CancellationToken ct)
    {
        var options = new InferenceOptions
        {
            Device = ExecutionDevice.Cpu,
            IntraOpThreads = s.Threads,
            InterOpThreads = 1,
            MaxBatchSize = s.Batches.Max(),
            RewriteDecoder = rewrite,
            AllowSpinning = s.AllowSpinning,
        };
        using var model = PaliGemmaModel.Load(s.Model, options);
        var images = s.Images.Select(p => model.Preprocessor.Preprocess(File.ReadAllBytes(p), ct)).ToList();
        var task = PaliGemmaTask.Parse(s.Prompt);
        var name = rewrite && model.PrefillLastPositionOnly ? "pgpipe (rewrite: last-position prefill)" : "pgpipe (decoder as exported)";
        var list = new List<Measurement>();
        foreach (var batch in s.Batches)
        {
            // One image slot per row (images cycled), so the vision encoder runs once per row as in a real batch.
            var batchImages = Enumerable.Range(0, batch).Select(i => images[i % images.Count]).ToList();
            var requests = Enumerable.Range(0, batch).Select(i => new GenerationRequest(i, task, s.MaxNewTokens)).ToList();
            model.Generate(batchImages, requests, ct);
            // Garbage from earlier measurements (and rounds) is not this measurement's peak.
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            var before = model.Statistics;
            using var sampler = new ManagedMemorySampler();
            var sw = Stopwatch.StartNew();
            long tokens = 0;
            for (var it = 0; it < s.Iterations; it++)
            {
                tokens += model.Generate(batchImages, requests, ct).Sum(o => o.GeneratedTokens);
            }

            sw.Stop();
            var after = model.Statistics;
            var ort = (after.OrtTotal - before.OrtTotal).TotalSeconds / sw.Elapsed.TotalSeconds;
            list.Add(new Measurement(name, batch, batch * s.Iterations / sw.Elapsed.TotalSeconds, tokens / s.Iterations, ort, sampler.Peak));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name} batch {batch}: per call vision {(after.Vision - before.Vision).TotalMilliseconds / s.Iterations:0} ms, embed {(after.Embed - before.Embed).TotalMilliseconds / s.Iterations:0} ms, prefill {(after.Prefill - before.Prefill).TotalMilliseconds / s.Iterations:0} ms, decode {(after.Decode - before.Decode).TotalMilliseconds / s.Iterations:0} ms, wall {sw.Elapsed.TotalMilliseconds / s.Iterations:0} ms; spinning {s.AllowSpinning}"));
        }

        return list;
    }

    private static async Task<IReadOnlyList<Measurement>> MeasureReferenceAsync(string script, InferenceBenchSettings s, string modelFolder, string name, CancellationToken ct)
    {
        var list = new List<Measurement>();
        foreach (var batch in s.Batches)
        {
            var psi = new ProcessStartInfo("node")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var a in new[]
            {
                script, "--model", Path.GetFullPath(modelFolder), "--images", string.Join(",", s.Images.Select(Path.GetFullPath)), "--prompt", s.Prompt,
                "--batch", batch.ToString(CultureInfo.InvariantCulture), "--max-new-tokens", s.MaxNewTokens.ToString(CultureInfo.InvariantCulture),
                "--threads", s.Threads.ToString(CultureInfo.InvariantCulture), "--warmup", "1", "--iterations", s.Iterations.ToString(CultureInfo.InvariantCulture),
            })
            {
                psi.ArgumentList.Add(a);
            }

            // The same thread-pool behaviour on both sides, or the comparison measures the switch.
            psi.ArgumentList.Add("--allow-spinning");
            psi.ArgumentList.Add(s.AllowSpinning ? "1" : "0");

            using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start node");
            var stdoutTask = process.StandardOutput.ReadToEndAsync(ct);
            var stderrTask = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            var stdout = await stdoutTask.ConfigureAwait(false);
            var stderr = await stderrTask.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"reference benchmark failed (exit {process.ExitCode}): {stderr}");
            }

            var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
            using var doc = JsonDocument.Parse(last);
            var root = doc.RootElement;
            // bench-reference.mjs reports tokens per row of the last iteration (up to and including eos), the same
            // count our GenerationOutput.GeneratedTokens gives, so equal totals mean equal work on both sides.
            var tokens = root.TryGetProperty("generated_tokens_per_row", out var t) && t.ValueKind == JsonValueKind.Array
                ? t.EnumerateArray().Sum(e => e.GetInt64())
                : -1;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name} batch {batch}: {root.GetProperty("tool").GetString()} threads={root.GetProperty("threads").GetInt32()} inter_op=1 allow_spinning={(root.TryGetProperty("allow_spinning", out var sp) && sp.ValueKind != JsonValueKind.Null ? sp.GetBoolean().ToString() : "ORT default")} warmup={root.GetProperty("warmup").GetInt32()} iterations={root.GetProperty("iterations").GetInt32()} s/iteration=[{string.Join(", ", root.GetProperty("seconds_per_iteration").EnumerateArray().Select(e => e.GetDouble().ToString("0.000", CultureInfo.InvariantCulture)))}]"));
            list.Add(new Measurement(name, batch, root.GetProperty("images_per_s").GetDouble(), tokens, double.NaN, -1));
        }

        return list;
    }

    /// <summary>A throw-away copy of a model folder whose decoder carries our last-position rewrite, for transformers.js.</summary>
    private static string CreateRewrittenCopy(string modelFolder)
    {
        var source = Path.GetFullPath(modelFolder);
        var target = Path.Combine(Path.GetTempPath(), "pgpipe-bench-rewritten-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(target, "onnx"));
        foreach (var file in Directory.GetFiles(source))
        {
            File.CreateSymbolicLink(Path.Combine(target, Path.GetFileName(file)), file);
        }

        foreach (var file in Directory.GetFiles(Path.Combine(source, "onnx")))
        {
            if (Path.GetFileName(file) != "decoder_model_merged.onnx")
            {
                File.CreateSymbolicLink(Path.Combine(target, "onnx", Path.GetFileName(file)), file);
            }
        }

        var result = DecoderGraphRewriter.RewriteFile(Path.Combine(source, "onnx", "decoder_model_merged.onnx"), Path.Combine(target, "onnx", "decoder_model_merged.onnx"));
        if (!result.Rewritten)
        {
            throw new InvalidOperationException($"decoder could not be rewritten: {result.Description}");
        }

        return target;
    }

    internal static string? FindUpwards(string relative)
    {
        for (var dir = new DirectoryInfo(Directory.GetCurrentDirectory()); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        var fromBase = Path.Combine(AppContext.BaseDirectory, relative);
        return File.Exists(fromBase) ? fromBase : null;
    }
}

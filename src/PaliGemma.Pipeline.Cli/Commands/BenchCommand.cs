using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Onnx;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Hosting;

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
        var device = new Option<ExecutionDevice>("--device") { Description = "Execution provider for our side: cpu or cuda (cuda needs the GPU build, -p:OrtFlavor=Gpu). transformers.js always runs on the CPU.", DefaultValueFactory = _ => ExecutionDevice.Cpu };
        var rewriteOnly = new Option<bool>("--rewrite-only") { Description = "Skip our decoder-as-exported measurement, whose prefill computes [B,S,V] logits (about 34 GB at 3B widths, batch 32)." };
        var hostBound = new Option<bool>("--host-bound") { Description = "Also measure the host-bound data flow (KV cache, features and logits in host memory): the 'before' column of the transfer table." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per batch size on stdout (device, batch_size, images_per_s, reference_images_per_s, transfer bytes); the human-readable report goes to stderr." };

        var command = new Command("inference", "Our generator vs transformers.js on the same ONNX files, images and prompts, with the host/device transfer table.");
        foreach (var o in new Option[] { model, images, prompt, batches, maxNew, threads, iterations, rounds, spinning, skipReference, script, device, rewriteOnly, hostBound, json })
        {
            command.Add(o);
        }

        command.SetAction(async (r, ct) => await RunInferenceAsync(new InferenceBenchSettings(
            await ModelSource.ResolveFolderAsync(r.GetValue(model)!, "fp32", new CommandContext(r.InvocationConfiguration.Output, r.InvocationConfiguration.Error), ct).ConfigureAwait(false), r.GetValue(images)!, r.GetValue(prompt)!, r.GetValue(batches)!, r.GetValue(maxNew), r.GetValue(threads),
            Math.Max(1, r.GetValue(iterations)), r.GetValue(skipReference), r.GetValue(script), r.GetValue(spinning), Math.Max(1, r.GetValue(rounds)),
            r.GetValue(device), r.GetValue(rewriteOnly), r.GetValue(hostBound), r.GetValue(json))
        {
            Output = r.InvocationConfiguration.Output,
            Error = r.InvocationConfiguration.Error,
        }, ct).ConfigureAwait(false));
        return command;
    }

    private sealed record InferenceBenchSettings(string Model, string[] Images, string Prompt, int[] Batches, int MaxNewTokens, int Threads,
        int Iterations, bool SkipReference, string? ReferenceScript, bool AllowSpinning, int Rounds, ExecutionDevice Device = ExecutionDevice.Cpu,
        bool RewriteOnly = false, bool HostBound = false, bool Json = false)
    {
        /// <summary>The invocation's output writer: the report, or the JSON lines in --json mode.</summary>
        public required TextWriter Output { get; init; }

        /// <summary>The invocation's error writer: the report in --json mode.</summary>
        public required TextWriter Error { get; init; }
    }

    private sealed record Measurement(string Name, int Batch, double ImagesPerSecond, long GeneratedTokens, double OrtShare, long PeakManagedBytes,
        TransferFigures? Transfers = null, string? Device = null);

    /// <summary>Host/device bytes of one measured call (the last timed one).</summary>
    private sealed record TransferFigures(double DecodePerRowStep, double DecodeMaxPerRowStep, double PrefillPerRow, long VisionToDevice, long VisionToHost,
        long PrefillToDevice, long PrefillToHost, long Rows, bool StateOnDevice, bool GreedyOnDevice, bool Pinned)
    {
        public static TransferFigures From(TransferStatistics t, PaliGemmaModel model) => new(t.DecodeBytesPerRowStep, t.DecodeMaxBytesPerRowStep, t.PrefillBytesPerRow,
            t.VisionHostToDevice, t.VisionDeviceToHost, t.PrefillHostToDevice, t.PrefillDeviceToHost, t.PrefillRows, model.StateOnDevice, model.GreedyOnDevice, model.HostBuffersPinned);
    }

    /// <summary>The report: stdout normally; stderr in --json mode, where stdout carries only the JSON lines.</summary>
    private static TextWriter Report(InferenceBenchSettings s) => s.Json ? s.Error : s.Output;

    private static async Task<int> RunInferenceAsync(InferenceBenchSettings s, CancellationToken ct)
    {
        var culture = CultureInfo.InvariantCulture;
        Report(s).WriteLine(string.Create(culture,
            $"bench inference: model={s.Model} prompt='{s.Prompt}' max_new_tokens={s.MaxNewTokens} intra_op_threads={s.Threads} inter_op_threads=1 allow_spinning={s.AllowSpinning} (both sides) iterations={s.Iterations} rounds={s.Rounds} (median) warmup=1 (model load excluded; greedy; {Environment.ProcessorCount} logical CPUs)"));
        Report(s).WriteLine("  timed, ours: tokenization + vision + embed + decoder on images decoded and resized before timing");
        Report(s).WriteLine("  timed, transformers.js: its processor on in-memory images + tokenization + generate");
        var all = new List<Measurement>();
        for (var round = 1; round <= s.Rounds; round++)
        {
            // Rounds alternate the two sides, so a burst of load from other work on a shared machine lands on both
            // rather than on whichever side happened to run then; the table reports each row's median over rounds.
            Report(s).WriteLine(string.Create(culture, $"round {round} of {s.Rounds}"));
            all.AddRange(MeasureOurs(s, rewrite: true, hostBound: false, ct));
            if (s.HostBound)
            {
                all.AddRange(MeasureOurs(s, rewrite: true, hostBound: true, ct));
            }

            if (!s.RewriteOnly)
            {
                all.AddRange(MeasureOurs(s, rewrite: false, hostBound: false, ct));
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
                    Report(s).WriteLine(string.Create(culture, $"  {g.Key.Name} batch {g.Key.Batch}: images/s per round [{string.Join(", ", g.Select(m => m.ImagesPerSecond.ToString("0.00", culture)))}]"));
                }

                return median with { PeakManagedBytes = g.Max(m => m.PeakManagedBytes) };
            })
            .ToList();

        Report(s).WriteLine();
        Report(s).WriteLine("| implementation | batch | images/s | generated tokens | time in ORT Run | peak managed MB |");
        Report(s).WriteLine("|---|---:|---:|---:|---:|---:|");
        foreach (var m in results)
        {
            Report(s).WriteLine(string.Create(culture,
                $"| {m.Name} | {m.Batch} | {m.ImagesPerSecond:0.00} | {m.GeneratedTokens} | {(double.IsNaN(m.OrtShare) ? "-" : m.OrtShare.ToString("P1", culture))} | {(m.PeakManagedBytes < 0 ? "-" : (m.PeakManagedBytes / 1048576.0).ToString("0.0", culture))} |"));
        }

        Report(s).WriteLine();
        foreach (var batch in s.Batches)
        {
            var ours = results.FirstOrDefault(r => r.Batch == batch && r.Name.StartsWith("pgpipe (rewrite", StringComparison.Ordinal));
            foreach (var baseline in results.Where(r => r.Batch == batch && r.Name.StartsWith("transformers.js", StringComparison.Ordinal)))
            {
                if (ours is not null && baseline.ImagesPerSecond > 0)
                {
                    Report(s).WriteLine(string.Create(culture, $"batch {batch}: pgpipe / {baseline.Name} = {ours.ImagesPerSecond / baseline.ImagesPerSecond:0.00}x"));
                }
            }
        }

        PrintTransfers(s, results);
        if (s.Json)
        {
            foreach (var batch in s.Batches)
            {
                var ours = results.FirstOrDefault(r => r.Batch == batch && r.Name.StartsWith("pgpipe (rewrite", StringComparison.Ordinal));
                if (ours?.Transfers is not { } t)
                {
                    continue;
                }

                var reference = results.FirstOrDefault(r => r.Batch == batch && r.Name == "transformers.js (original decoder)");
                var hostBound = results.FirstOrDefault(r => r.Batch == batch && r.Name.StartsWith("pgpipe (host-bound", StringComparison.Ordinal));
                var line = new Dictionary<string, object?>
                {
                    ["device"] = ours.Device,
                    ["batch_size"] = batch,
                    ["images_per_s"] = Math.Round(ours.ImagesPerSecond, 3),
                    ["reference_images_per_s"] = reference is null ? null : Math.Round(reference.ImagesPerSecond, 3),
                    ["ratio_vs_reference"] = reference is null || reference.ImagesPerSecond <= 0 ? null : Math.Round(ours.ImagesPerSecond / reference.ImagesPerSecond, 3),
                    ["decode_host_device_bytes_per_row_step"] = Math.Round(t.DecodePerRowStep, 2),
                    ["decode_max_host_device_bytes_per_row_step"] = Math.Round(t.DecodeMaxPerRowStep, 2),
                    ["prefill_host_device_bytes_per_row"] = Math.Round(t.PrefillPerRow, 1),
                    ["host_bound_images_per_s"] = hostBound is null ? null : Math.Round(hostBound.ImagesPerSecond, 3),
                    ["host_bound_decode_host_device_bytes_per_row_step"] = hostBound?.Transfers is { } h ? Math.Round(h.DecodePerRowStep, 1) : null,
                    ["host_bound_prefill_host_device_bytes_per_row"] = hostBound?.Transfers is { } hp ? Math.Round(hp.PrefillPerRow, 1) : null,
                    ["generated_tokens"] = ours.GeneratedTokens,
                    ["max_new_tokens"] = s.MaxNewTokens,
                    ["state_on_device"] = t.StateOnDevice,
                    ["greedy_on_device"] = t.GreedyOnDevice,
                    ["pinned_host_buffers"] = t.Pinned,
                    ["peak_managed_mb"] = Math.Round(ours.PeakManagedBytes / 1048576.0, 1),
                };
                s.Output.WriteLine(JsonSerializer.Serialize(line));
                s.Output.Flush();
            }
        }

        return 0;
    }

    /// <summary>
    /// Bytes crossing between host memory and provider-bound tensors per measured implementation, against the targets:
    /// a decode step at most 64 bytes per row (both directions), prefill at most the token ids, positions and pixels.
    /// </summary>
    private static void PrintTransfers(InferenceBenchSettings s, IEnumerable<Measurement> results)
    {
        var w = Report(s);
        var culture = CultureInfo.InvariantCulture;
        w.WriteLine();
        w.WriteLine("host <-> device transfers (counted on the bindings: host buffers bound as inputs, outputs read in host memory; the same on CPU as on CUDA)");
        w.WriteLine("| implementation | device | batch | decode bytes/row/step (mean, max) | prefill bytes/row (vision + prefill, both ways) | state on device | greedy on device | pinned host buffers |");
        w.WriteLine("|---|---|---:|---:|---:|---|---|---|");
        foreach (var m in results.Where(m => m.Transfers is not null))
        {
            var t = m.Transfers!;
            w.WriteLine(string.Create(culture,
                $"| {m.Name} | {m.Device} | {m.Batch} | {t.DecodePerRowStep:0.0}, {t.DecodeMaxPerRowStep:0.0} | {t.PrefillPerRow:0} | {t.StateOnDevice} | {t.GreedyOnDevice} | {t.Pinned} |"));
        }

        w.WriteLine("targets: decode <= 64 bytes/row/step; prefill <= the prompt's ids + positions (8 bytes each per position) + pixel values (3*H*W*4)");
    }

    private static IEnumerable<Measurement> MeasureOurs(InferenceBenchSettings s, bool rewrite, bool hostBound, CancellationToken ct)
    {
        var options = new InferenceOptions
        {
            Device = s.Device,
            IntraOpThreads = s.Threads,
            InterOpThreads = 1,
            MaxBatchSize = s.Batches.Max(),
            RewriteDecoder = rewrite,
            AllowSpinning = s.AllowSpinning,
            HostBoundState = hostBound,
        };
        using var model = PaliGemmaModel.Load(s.Model, options);
        var images = s.Images.Select(p => model.Preprocessor.Preprocess(File.ReadAllBytes(p), ct)).ToList();
        var task = PaliGemmaTask.Parse(s.Prompt);
        var name = hostBound ? "pgpipe (host-bound state, rewrite)" : rewrite && model.PrefillLastPositionOnly ? "pgpipe (rewrite: last-position prefill)" : "pgpipe (decoder as exported)";
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
            TransferStatistics? transfers = null;
            for (var it = 0; it < s.Iterations; it++)
            {
                var result = model.Generate(batchImages, requests, ct);
                tokens += result.Sum(o => o.GeneratedTokens);
                transfers = result.Transfers;
            }

            sw.Stop();
            var after = model.Statistics;
            var ort = (after.OrtTotal - before.OrtTotal).TotalSeconds / sw.Elapsed.TotalSeconds;
            list.Add(new Measurement(name, batch, batch * s.Iterations / sw.Elapsed.TotalSeconds, tokens / s.Iterations, ort, sampler.Peak,
                TransferFigures.From(transfers!, model), model.Device));
            Report(s).WriteLine(string.Create(CultureInfo.InvariantCulture,
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
            Report(s).WriteLine(string.Create(CultureInfo.InvariantCulture,
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

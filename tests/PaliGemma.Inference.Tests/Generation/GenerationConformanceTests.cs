using System.Diagnostics;
using System.Text.Json;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Imaging;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;
using PaliGemma.Inference.Tests.Tokenization;
using Xunit.Abstractions;

namespace PaliGemma.Inference.Tests.Generation;

/// <summary>
/// Token conformance: our generator against transformers.js (PaliGemmaForConditionalGeneration, greedy) on the
/// committed tiny models, the same ONNX files and the same images (already at model size, so no resize differs).
/// The reference runs at test time; nothing here is a stored output of our own code.
/// </summary>
[Collection(GemmaFileCollection.Name)]
public sealed class GenerationConformanceTests(ITestOutputHelper output)
{
    private static readonly Lazy<ReferenceRun> Reference = new(RunReference);

    /// <summary>The production path: state on the provider through IOBinding, the decoder's greedy head choosing tokens.</summary>
    [NodeReferenceFact]
    public void Generated_ids_equal_transformers_js_for_every_case_with_the_decoder_rewrite() => AssertConformance(rewrite: true);

    [NodeReferenceFact]
    public void Generated_ids_equal_transformers_js_for_every_case_without_the_decoder_rewrite() => AssertConformance(rewrite: false);

    /// <summary>The host-bound data flow (KV cache, features and logits in host memory), kept for transfer measurements.</summary>
    [NodeReferenceFact]
    public void Generated_ids_equal_transformers_js_for_every_case_with_state_bound_to_the_host() => AssertConformance(rewrite: true, hostBound: true);

    /// <summary>The fallback for decoders the greedy head cannot extend: state on the provider, logits read on the host.</summary>
    [NodeReferenceFact]
    public void Generated_ids_equal_transformers_js_for_every_case_with_logits_read_on_the_host() => AssertConformance(rewrite: true, greedyHead: false);

    [NodeReferenceFact]
    public void Cases_cover_batches_every_task_prefix_and_both_decoders()
    {
        var cases = Reference.Value.Cases;
        Assert.True(cases.Sum(c => c.Rows.Count) >= 20, "at least 20 (image, prompt) rows");
        Assert.Contains(cases, c => c.Rows.Count == 1);
        Assert.Contains(cases, c => c.Rows.Count > 1);
        var kinds = cases.SelectMany(c => c.Rows).Select(r => TaskOf(r.Prompt).Kind).ToHashSet();
        foreach (var kind in Enum.GetValues<TaskKind>())
        {
            Assert.Contains(kind, kinds);
        }

        Assert.True(cases.Select(c => c.Model).Distinct().Count() >= 2, "both the plain and the attention_mask decoder are covered");
    }

    /// <summary>
    /// The reference cases include an empty raw prompt (the model sees only the image tokens and &lt;bos&gt;), which the
    /// runtime must still match. <see cref="PaliGemmaTask.Parse"/> refuses an empty prompt from users, so that one task is
    /// built directly.
    /// </summary>
    private static PaliGemmaTask TaskOf(string prompt) =>
        prompt.Length == 0 ? new PaliGemmaTask(TaskKind.Raw, prompt, null, null, [], PaliGemmaTask.RawMaxNewTokens) : PaliGemmaTask.Parse(prompt);

    private void AssertConformance(bool rewrite, bool hostBound = false, bool greedyHead = true)
    {
        var reference = Reference.Value;
        var minMargin = float.PositiveInfinity;
        var rows = 0;
        foreach (var group in reference.Cases.GroupBy(c => c.Model))
        {
            using var model = PaliGemmaModel.Load(group.Key, new InferenceOptions
            {
                Device = ExecutionDevice.Cpu,
                IntraOpThreads = 1,
                MaxBatchSize = 8,
                RewriteDecoder = rewrite,
                TrackTopMargin = true,
                HostBoundState = hostBound,
                DisableGreedyHead = !greedyHead,
            });
            Assert.Equal(rewrite || model.SupportsPadding, model.PrefillLastPositionOnly);
            Assert.Equal(greedyHead && !hostBound, model.GreedyOnDevice);
            Assert.Equal(!hostBound, model.StateOnDevice);
            foreach (var c in group)
            {
                // One Generate call per case, so rows batch together exactly as the case groups them.
                var images = c.Rows.Select(r => model.Preprocessor.Preprocess(File.ReadAllBytes(r.Image))).ToList();
                var requests = c.Rows.Select((r, i) => new GenerationRequest(i, TaskOf(r.Prompt), c.MaxNewTokens)).ToList();
                var outputs = model.Generate(images, requests);
                for (var i = 0; i < c.Rows.Count; i++)
                {
                    var expected = c.Rows[i];
                    var actual = outputs[i];
                    var where = $"case '{c.Id}' row {i} ({Path.GetFileName(expected.Image)}, '{expected.Prompt}')";
                    Assert.True(expected.PromptIds.SequenceEqual(model.BuildPrefix(expected.Prompt)),
                        $"{where}: prompt ids differ\n expected {string.Join(",", expected.PromptIds)}\n actual   {string.Join(",", model.BuildPrefix(expected.Prompt))}");
                    Assert.Equal(expected.PromptIds.Length, actual.PromptTokens);
                    Assert.True(expected.GeneratedIds.SequenceEqual(actual.TokenIds),
                        $"{where}: generated ids differ\n expected {string.Join(",", expected.GeneratedIds)}\n actual   {string.Join(",", actual.TokenIds)}");
                    Assert.Equal(expected.StoppedOnEos, actual.StoppedOnEos);
                    Assert.Equal(expected.Text, actual.Text);
                    minMargin = Math.Min(minMargin, actual.MinTopMargin!.Value);
                    rows++;
                }
            }
        }

        output.WriteLine($"{rows} rows equal to transformers.js (rewrite={rewrite}, hostBound={hostBound}, greedyHead={greedyHead}); smallest top-1 margin seen: {minMargin:0.0000}");
        // Agreement must not hang on float noise between two ONNX Runtime builds (~1e-5 on these logits);
        // tools/gen_conformance_cases.py keeps only cases whose torch margin is >= 0.02 at every step.
        Assert.True(minMargin > 1e-2f, $"smallest top-1 margin {minMargin} is below 0.01: a step this close can flip between ONNX Runtime builds; regenerate tests/fixtures/conformance-cases.json with tools/gen_conformance_cases.py");
    }

    private static ReferenceRun RunReference()
    {
        NodeReference.EnsureAvailable();
        var casesFile = Path.Combine(NodeReference.RepoRoot, "tests", "fixtures", "conformance-cases.json");
        var start = new ProcessStartInfo(NodeReference.Node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.Combine(NodeReference.RepoRoot, "tools", "node"),
        };
        start.ArgumentList.Add(Path.Combine(NodeReference.RepoRoot, "tools", "node", "reference-generate.mjs"));
        start.ArgumentList.Add(casesFile);
        start.Environment["REF_THREADS"] = "1";
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start node");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("reference-generate.mjs did not finish within 10 minutes");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"reference-generate.mjs exited with {process.ExitCode}: {stderr.Result}");
        }

        using var doc = JsonDocument.Parse(stdout.Result);
        var casesDoc = JsonDocument.Parse(File.ReadAllBytes(casesFile));
        var limits = casesDoc.RootElement.GetProperty("cases").EnumerateArray()
            .ToDictionary(c => c.GetProperty("id").GetString()!, c => c.GetProperty("max_new_tokens").GetInt32());
        // Paths in the output are as the cases file gives them: relative to its folder (images to images_dir).
        var baseDir = Path.GetDirectoryName(casesFile)!;
        var imagesDir = casesDoc.RootElement.TryGetProperty("images_dir", out var dirProperty) ? Path.Combine(baseDir, dirProperty.GetString()!) : baseDir;
        var cases = new List<ReferenceCase>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var id = c.GetProperty("id").GetString()!;
            var rows = c.GetProperty("rows").EnumerateArray().Select(r => new ReferenceRow(
                Path.GetFullPath(Path.Combine(imagesDir, r.GetProperty("image").GetString()!)),
                r.GetProperty("prompt").GetString()!,
                r.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                r.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                r.GetProperty("stopped_on_eos").GetBoolean(),
                r.GetProperty("text").GetString()!)).ToList();
            cases.Add(new ReferenceCase(id, Path.GetFullPath(Path.Combine(baseDir, c.GetProperty("model").GetString()!)), limits[id], rows));
        }

        return new ReferenceRun(cases);
    }

    private sealed record ReferenceRun(IReadOnlyList<ReferenceCase> Cases);

    private sealed record ReferenceCase(string Id, string Model, int MaxNewTokens, IReadOnlyList<ReferenceRow> Rows);

    private sealed record ReferenceRow(string Image, string Prompt, int[] PromptIds, int[] GeneratedIds, bool StoppedOnEos, string Text);
}

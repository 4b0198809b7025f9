using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;
using Xunit.Abstractions;

namespace PaliGemma.Inference.Tests.Generation;

/// <summary>
/// The host/device transfer counter on the committed tiny models (CPU provider, where the counter means what it means
/// on CUDA): device-resident decoding moves only token ids, the host-bound flow moves the whole KV cache both ways
/// every step, and both produce the same tokens.
/// </summary>
public sealed class TransferAccountingTests(ITestOutputHelper output)
{
    private const int MaxNewTokens = 10;

    [Theory]
    [InlineData("tiny", "56x56")]
    [InlineData("tiny-masked", "42x42")]
    public void Device_resident_decoding_moves_at_most_64_bytes_per_row_and_step_and_prefill_only_ids_positions_and_pixels(string modelName, string size)
    {
        using var model = Load(modelName, hostBound: false);
        var (images, requests) = Requests(model, size, ["caption en", "detect cat ; dog"]);

        var result = model.Generate(images, requests);

        var t = result.Transfers;
        Assert.True(model.StateOnDevice && model.GreedyOnDevice);
        Assert.NotEmpty(t.DecodeSteps);
        foreach (var s in t.DecodeSteps)
        {
            Assert.True((s.HostToDevice + s.DeviceToHost) / (double)s.Rows <= 64, $"step {s.Step} of batch {s.Batch}: {s.HostToDevice} + {s.DeviceToHost} bytes for {s.Rows} rows");
            // The chosen ids are read every step: a counter that reads zero fails here.
            Assert.True(s.DeviceToHost >= 8L * s.Rows, $"step {s.Step}: {s.DeviceToHost} bytes read for {s.Rows} rows");
        }

        // Prefill: at most the prompts' token ids and positions (int64 each) and the pixel values.
        var pixelBytes = 3L * model.Preprocessor.Height * model.Preprocessor.Width * 4;
        var limit = requests.Sum(r => (2L * model.BuildPrefix(r.Task.Prompt).Length * 8) + pixelBytes);
        var prefill = t.VisionHostToDevice + t.VisionDeviceToHost + t.PrefillHostToDevice + t.PrefillDeviceToHost;
        output.WriteLine($"{modelName}: prefill {prefill} bytes for {requests.Count} rows (limit {limit}), decode {t.DecodeBytesPerRowStep:0.0} bytes per row-step (max {t.DecodeMaxBytesPerRowStep:0.0})");
        Assert.True(prefill <= limit, $"prefill moved {prefill} bytes, more than ids + positions + pixels ({limit})");
        Assert.True(t.VisionHostToDevice >= pixelBytes * images.Count, "pixel values are counted");
        Assert.Equal(0, t.VisionDeviceToHost);
    }

    [Theory]
    [InlineData("tiny", "56x56")]
    [InlineData("tiny-masked", "42x42")]
    public void Host_bound_state_moves_the_whole_kv_cache_both_ways_every_step_and_gives_the_same_tokens(string modelName, string size)
    {
        using var device = Load(modelName, hostBound: false);
        using var host = Load(modelName, hostBound: true);
        // One prompt: every row has the same prefix length L, so step k's past holds L + k - 1 positions per row.
        var (images, requests) = Requests(device, size, ["caption en"]);
        var length = device.BuildPrefix("caption en").Length;

        var onDevice = device.Generate(images, requests);
        var onHost = host.Generate(images, requests);

        Assert.False(host.StateOnDevice);
        Assert.Equal(onDevice.Select(o => o.TokenIds), onHost.Select(o => o.TokenIds));
        var kv = host.KvBytesPerPosition;
        Assert.NotEmpty(onHost.Transfers.DecodeSteps);
        foreach (var s in onHost.Transfers.DecodeSteps)
        {
            var past = (long)s.Rows * (length + s.Step - 1) * kv;
            var present = (long)s.Rows * (length + s.Step) * kv;
            Assert.True(s.HostToDevice >= past, $"step {s.Step}: {s.HostToDevice} bytes to the device, the past KV cache alone is {past}");
            Assert.True(s.DeviceToHost >= present, $"step {s.Step}: {s.DeviceToHost} bytes to the host, the present KV cache alone is {present}");
        }

        // Image features come back to the host and go out again.
        var features = (long)images.Count * device.ImageTokens * device.Config.HiddenSize * 4;
        Assert.True(onHost.Transfers.VisionDeviceToHost >= features);
        output.WriteLine($"{modelName}: decode bytes per row-step host-bound {onHost.Transfers.DecodeBytesPerRowStep:0} vs device {onDevice.Transfers.DecodeBytesPerRowStep:0}; prefill per row {onHost.Transfers.PrefillBytesPerRow:0} vs {onDevice.Transfers.PrefillBytesPerRow:0}");
        Assert.True(onHost.Transfers.DecodeBytesPerRowStep > 100 * onDevice.Transfers.DecodeBytesPerRowStep);
    }

    [Theory]
    [InlineData("tiny", "56x56")]
    [InlineData("tiny-masked", "42x42")]
    public void Batches_smaller_than_the_call_share_one_feature_table_and_give_the_same_tokens(string modelName, string size)
    {
        using var wide = Load(modelName, hostBound: false);
        using var narrow = Load(modelName, hostBound: false, maxBatchSize: 2);
        var (images, requests) = Requests(wide, size, ["caption en", "answer en what is this ?"]);

        var expected = wide.Generate(images, requests);
        var actual = narrow.Generate(images, requests);

        Assert.Equal(expected.Select(o => o.TokenIds), actual.Select(o => o.TokenIds));
        Assert.Equal(images.Count, actual.Statistics.Images);
        Assert.True(actual.Statistics.Batches >= 3);
    }

    [Fact]
    public async Task Each_call_reports_its_own_statistics_when_two_run_at_once()
    {
        using var model = Load("tiny", hostBound: false);
        var (images, requests) = Requests(model, "56x56", ["caption en"]);
        var (more, moreRequests) = Requests(model, "56x56", ["caption en", "ocr", "detect cat"]);

        var results = await Task.WhenAll(Task.Run(() => model.Generate(images, requests)), Task.Run(() => model.Generate(more, moreRequests)));

        Assert.Equal(requests.Count, results[0].Statistics.Rows);
        Assert.Equal(moreRequests.Count, results[1].Statistics.Rows);
        foreach (var r in results)
        {
            Assert.Equal(r.Sum(o => (long)o.GeneratedTokens), r.Statistics.GeneratedTokens);
            Assert.True(r.Statistics.Decode > TimeSpan.Zero && r.Statistics.Wall >= r.Statistics.Decode);
        }

        Assert.Equal(results.Sum(r => r.Statistics.GeneratedTokens), model.Statistics.GeneratedTokens);
    }

    [Fact]
    public void An_allocation_failure_names_the_batch_size_and_the_memory_asked_for()
    {
        // OnnxRuntimeException has no public constructor; the message is what is classified.
        var ort = new InvalidOperationException(
            "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned while running Concat node. Name:'/Concat' Status Message: " +
            "/onnxruntime_src/onnxruntime/core/framework/bfc_arena.cc:359 void* onnxruntime::BFCArena::AllocateRawInternal(size_t, bool, onnxruntime::Stream*) " +
            "Failed to allocate memory for requested buffer of size 1879048192");
        Assert.True(DeviceOutOfMemoryException.IsOutOfMemory(ort));

        var ex = new DeviceOutOfMemoryException("cuda:0", "prefill and decoding", 32, 1057, 212_992, ort);

        Assert.Equal(32, ex.BatchSize);
        Assert.Equal(1879048192, ex.RequestedBytes);
        Assert.Equal(32L * 1057 * 212_992, ex.KvCacheBytes);
        Assert.Contains("batch of 32 row(s)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("1.75 GiB (1879048192 bytes)", ex.Message, StringComparison.Ordinal);
        Assert.Contains("MaxBatchSize", ex.Message, StringComparison.Ordinal);
        Assert.False(DeviceOutOfMemoryException.IsOutOfMemory(new InvalidOperationException("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid dimensions for input: position_ids")));
    }

    private static PaliGemmaModel Load(string name, bool hostBound, int maxBatchSize = 8) => PaliGemmaModel.Load(Path.Combine(RepoRoot, "tests", "fixtures", "models", name), new InferenceOptions
    {
        Device = ExecutionDevice.Cpu,
        IntraOpThreads = 1,
        MaxBatchSize = maxBatchSize,
        HostBoundState = hostBound,
    });

    private static (List<PaliGemma.Inference.Imaging.PreprocessedImage> Images, List<GenerationRequest> Requests) Requests(PaliGemmaModel model, string size, string[] prompts)
    {
        var files = Directory.GetFiles(Path.Combine(RepoRoot, "tests", "fixtures", "images"), size + "-*.png").Order().Take(3).ToList();
        var images = files.Select(f => model.Preprocessor.Preprocess(File.ReadAllBytes(f))).ToList();
        var requests = new List<GenerationRequest>();
        for (var i = 0; i < images.Count; i++)
        {
            requests.AddRange(prompts.Select(p => new GenerationRequest(i, PaliGemmaTask.Parse(p), MaxNewTokens)));
        }

        return (images, requests);
    }

    private static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "PaliGemma.Pipeline.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("PaliGemma.Pipeline.sln not found above the test binaries.");
    }
}

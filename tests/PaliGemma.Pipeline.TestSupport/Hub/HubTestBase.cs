using System.Security.Cryptography;
using PaliGemma.Hub;
using PaliGemma.ModelLayout;

namespace PaliGemma.Pipeline.TestSupport.Hub;

/// <summary>
/// A fake Hub serving the tiny fixture model as <see cref="RepoName"/> (plus fp16 graphs, a README and an
/// .onnx_data companion that a fp32 pull must or must not take), and a fresh cache folder per test.
/// </summary>
public abstract class HubTestBase : IAsyncLifetime
{
    protected const string RepoName = "pgpipe-tests/tiny-paligemma";
    protected const string Token = "hf_reader";

    protected FakeHub Hub { get; private set; } = null!;
    protected FakeRepo Repo { get; private set; } = null!;
    protected string CacheDir { get; } = TestEnvironment.NewTempDirectory();
    protected HubCache Cache => new(CacheDir);

    public async Task InitializeAsync()
    {
        Hub = await FakeHub.StartAsync();
        Repo = Hub.AddRepo(new FakeRepo(RepoName, NewCommit(), FakeHub.FilesOf(TestEnvironment.TinyModel,
            ("README.md", "# tiny\n"u8.ToArray()),
            ("onnx/decoder_model_merged.onnx_data", RandomNumberGenerator.GetBytes(40_000)),
            ("onnx/vision_encoder_fp16.onnx", RandomNumberGenerator.GetBytes(3_000)),
            ("onnx/embed_tokens_fp16.onnx", RandomNumberGenerator.GetBytes(3_000)),
            ("onnx/decoder_model_merged_fp16.onnx", RandomNumberGenerator.GetBytes(3_000)),
            ("onnx/decoder_model_merged_fp16.onnx_data", RandomNumberGenerator.GetBytes(3_000)))));
    }

    public async Task DisposeAsync()
    {
        await Hub.DisposeAsync();
        TestEnvironment.DeleteQuietly(CacheDir);
    }

    protected static string NewCommit() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));

    protected HubSettings Settings(string? token = Token, bool offline = false, string? endpoint = null) => new()
    {
        Endpoint = endpoint ?? Hub.Endpoint,
        CacheDirectory = CacheDir,
        Token = token,
        TokenSource = token is null ? null : "HF_TOKEN",
        Offline = offline,
    };

    protected async Task<PullResult> PullAsync(string repo = RepoName, string revision = "main", string? token = Token, ModelDtype dtype = ModelDtype.Fp32,
        HubClientOptions? options = null, IEnumerable<string>? include = null, bool all = false)
    {
        using var client = new HubClient(Settings(token), options ?? TestEnvironment.FastOptions());
        return await new HubModelPuller(client, Cache).PullAsync(new HubModelId(repo, revision), new ModelFileSelection(dtype, include, all), null, CancellationToken.None);
    }

    /// <summary>The files a fp32 pull of the test repo must bring.</summary>
    protected static readonly string[] Fp32Files =
    [
        "config.json", "generation_config.json", "onnx/decoder_model_merged.onnx", "onnx/decoder_model_merged.onnx_data",
        "onnx/embed_tokens.onnx", "onnx/vision_encoder.onnx", "preprocessor_config.json", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json",
    ];
}

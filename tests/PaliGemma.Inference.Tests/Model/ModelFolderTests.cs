using System.Text.Json.Nodes;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;
using PaliGemma.ModelLayout;

namespace PaliGemma.Inference.Tests.Model;

/// <summary>Model folder resolution by dtype and the errors a broken folder gives, on copies of the tiny fixture.</summary>
public sealed class ModelFolderTests : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("model-folder-");

    private static string Fixture => Path.Combine(FindRepoRoot(), "tests", "fixtures", "models", "tiny");

    public void Dispose() => _work.Delete(recursive: true);

    [Theory]
    [InlineData("fp32", "")]
    [InlineData("fp16", "_fp16")]
    [InlineData("q4", "_q4")]
    [InlineData("q4f16", "_q4f16")]
    [InlineData("int8", "_int8")]
    [InlineData("uint8", "_uint8")]
    [InlineData("quantized", "_quantized")]
    [InlineData("bnb4", "_bnb4")]
    public void Dtype_selects_the_suffixed_graph_files(string dtype, string suffix)
    {
        var folder = ModelFolder.Open(CopyFixture(suffix), ModelDtypes.Parse(dtype));
        Assert.EndsWith($"onnx/vision_encoder{suffix}.onnx", folder.VisionEncoderPath, StringComparison.Ordinal);
        Assert.EndsWith($"onnx/embed_tokens{suffix}.onnx", folder.EmbedTokensPath, StringComparison.Ordinal);
        Assert.EndsWith($"onnx/decoder_model_merged{suffix}.onnx", folder.DecoderPath, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_dtype_names_the_file_and_the_dtypes_present()
    {
        var dir = CopyFixture("_q4");
        var ex = Assert.Throws<ModelFormatException>(() => ModelFolder.Open(dir, ModelDtype.Fp32));
        Assert.Contains("vision_encoder.onnx", ex.Message, StringComparison.Ordinal);
        Assert.Contains("dtypes with all three graphs here: q4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_dtype_lists_the_valid_names()
    {
        var ex = Assert.Throws<ArgumentException>(() => ModelDtypes.Parse("fp8"));
        Assert.Contains("fp32, fp16, q4, q4f16, int8, uint8, quantized, bnb4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_q4_named_copy_loads_and_generates_what_the_fp32_files_do()
    {
        // The q4 files here are byte copies of the fp32 graphs, so the dtype must change only which files load.
        var dir = CopyFixture("_q4");
        var image = File.ReadAllBytes(Path.Combine(FindRepoRoot(), "tests", "fixtures", "images", "56x56-shapes.png"));
        using var fp32 = PaliGemmaModel.Load(Fixture, Cpu("fp32"));
        using var q4 = PaliGemmaModel.Load(dir, Cpu("q4"));
        var request = new[] { new GenerationRequest(0, PaliGemmaTask.Parse("caption en"), 12) };
        var expected = fp32.Generate([fp32.Preprocessor.Preprocess(image)], request)[0].TokenIds;
        var actual = q4.Generate([q4.Preprocessor.Preprocess(image)], request)[0].TokenIds;
        Assert.Equal(expected, actual);
        Assert.Equal(ModelDtype.Q4, q4.Folder.Dtype);
    }

    [Fact]
    public void Missing_config_names_the_file()
    {
        var dir = CopyFixture("");
        File.Delete(Path.Combine(dir, "config.json"));
        var ex = Assert.Throws<ModelFormatException>(() => PaliGemmaModel.Load(dir, Cpu("fp32")));
        Assert.EndsWith("config.json", ex.File, StringComparison.Ordinal);
    }

    [Fact]
    public void Layer_count_that_disagrees_with_the_decoder_names_both_files()
    {
        var dir = CopyFixture("");
        EditJson(Path.Combine(dir, "config.json"), root => root["text_config"]!["num_hidden_layers"] = 3);
        var ex = Assert.Throws<ModelFormatException>(() => PaliGemmaModel.Load(dir, Cpu("fp32")));
        Assert.Contains("decoder_model_merged.onnx", ex.Message, StringComparison.Ordinal);
        Assert.Contains("config.json declares 3 layers", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Hidden_size_that_disagrees_with_the_graphs_is_refused()
    {
        var dir = CopyFixture("");
        EditJson(Path.Combine(dir, "config.json"), root => root["text_config"]!["hidden_size"] = 65);
        var ex = Assert.Throws<ModelFormatException>(() => PaliGemmaModel.Load(dir, Cpu("fp32")));
        Assert.Contains("hidden_size 65", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Image_token_id_must_be_the_image_token_of_the_tokenizer()
    {
        var dir = CopyFixture("");
        EditJson(Path.Combine(dir, "config.json"), root => root["image_token_index"] = 5);
        var ex = Assert.Throws<ModelFormatException>(() => PaliGemmaModel.Load(dir, Cpu("fp32")));
        Assert.Contains("image_token_index 5", ex.Message, StringComparison.Ordinal);
        Assert.Contains("expected '<image>'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Image_token_count_must_agree_between_preprocessor_and_graph()
    {
        var dir = CopyFixture("");
        EditJson(Path.Combine(dir, "preprocessor_config.json"), root => root["image_seq_length"] = 17);
        var ex = Assert.ThrowsAny<Exception>(() => PaliGemmaModel.Load(dir, Cpu("fp32")));
        Assert.Contains("17", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_prompt_longer_than_the_model_allows_is_refused_before_any_compute()
    {
        var dir = CopyFixture("");
        EditJson(Path.Combine(dir, "config.json"), root => root["text_config"]!["max_position_embeddings"] = 30);
        using var model = PaliGemmaModel.Load(dir, Cpu("fp32"));
        var image = model.Preprocessor.Preprocess(File.ReadAllBytes(Path.Combine(FindRepoRoot(), "tests", "fixtures", "images", "56x56-noise.png")));
        var before = model.Statistics;
        var ex = Assert.Throws<ArgumentException>(() => model.Generate([image], [new GenerationRequest(0, PaliGemmaTask.Parse("caption en"), 20)]));
        Assert.Contains("max_position_embeddings", ex.Message, StringComparison.Ordinal);
        Assert.Equal(before.Images, model.Statistics.Images);
    }

    [Fact]
    public void Decoder_graph_facts_come_from_the_files()
    {
        using var model = PaliGemmaModel.Load(Fixture, Cpu("fp32"));
        Assert.Equal(2, model.Config.NumLayers);
        Assert.Equal(2, model.Config.NumKeyValueHeads);
        Assert.Equal(16, model.Config.HeadDim);
        Assert.Equal(64, model.Config.HiddenSize);
        Assert.Equal(16, model.ImageTokens);
        Assert.Equal(960, model.Config.ImageTokenId);
        Assert.False(model.SupportsPadding);
        Assert.True(model.PrefillLastPositionOnly);
    }

    private static InferenceOptions Cpu(string dtype) => new() { Dtype = dtype, Device = ExecutionDevice.Cpu, IntraOpThreads = 1 };

    private string CopyFixture(string suffix)
    {
        var dir = Path.Combine(_work.FullName, "model" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(Path.Combine(dir, "onnx"));
        foreach (var file in Directory.GetFiles(Fixture))
        {
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        }

        foreach (var graph in ExportLayout.GraphNames)
        {
            File.Copy(Path.Combine(Fixture, "onnx", graph + ".onnx"), Path.Combine(dir, "onnx", graph + suffix + ".onnx"));
        }

        return dir;
    }

    private static void EditJson(string path, Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(root);
        File.WriteAllText(path, root.ToJsonString());
    }

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

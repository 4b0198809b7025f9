using PaliGemma.Inference.Imaging;

namespace PaliGemma.Inference.Tests.Imaging;

public sealed class ImageProcessorConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pg-preproc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Reads_the_onnx_community_paligemma2_448_file()
    {
        // The preprocessor_config.json as published with onnx-community/paligemma2-3b-pt-448.
        string path = Write("""
            {
              "do_convert_rgb": null,
              "do_normalize": true,
              "do_rescale": true,
              "do_resize": true,
              "image_mean": [0.5, 0.5, 0.5],
              "image_processor_type": "SiglipImageProcessor",
              "image_seq_length": 1024,
              "image_std": [0.5, 0.5, 0.5],
              "processor_class": "PaliGemmaProcessor",
              "resample": 3,
              "rescale_factor": 0.00392156862745098,
              "size": { "height": 448, "width": 448 }
            }
            """);

        ImageProcessorConfig c = ImageProcessorConfig.FromFile(path);

        Assert.Equal((448, 448, 1024, 3), (c.Height, c.Width, c.ImageSeqLength, c.Resample));
        Assert.Equal([0.5f, 0.5f, 0.5f], c.Mean);
        Assert.Equal([0.5f, 0.5f, 0.5f], c.Std);
        Assert.Equal(1f / 255f, c.RescaleFactor, 7);
        Assert.True(c.DoResize && c.DoRescale && c.DoNormalize);
    }

    [Fact]
    public void Missing_image_seq_length_is_derived_from_the_patch_grid()
    {
        // 224 / 14 = 16 patches per side -> 16 * 16 = 256 image tokens.
        string path = Write("""{ "size": { "height": 224, "width": 224 } }""");
        Assert.Equal(256, ImageProcessorConfig.FromFile(path).ImageSeqLength);
    }

    [Theory]
    [InlineData("""{ "image_seq_length": 256 }""", "'size'")]
    [InlineData("""{ "size": { "shortest_edge": 224 } }""", "shortest_edge")]
    [InlineData("""{ "size": { "height": 0, "width": 224 } }""", "'size.height'")]
    [InlineData("""{ "size": { "height": 224, "width": 224 }, "resample": 2 }""", "'resample'")]
    [InlineData("""{ "size": { "height": 224, "width": 224 }, "image_std": [0.5, 0, 0.5] }""", "'image_std'")]
    [InlineData("""{ "size": { "height": 224, "width": 224 }, "image_mean": [0.5, 0.5] }""", "'image_mean'")]
    [InlineData("""{ "size": { "height": 100, "width": 100 } }""", "'image_seq_length'")]
    [InlineData("""{ "size": { "height": 224, "width": 224 }, "image_processor_type": "CLIPImageProcessor" }""", "SiglipImageProcessor")]
    [InlineData("""{ "size": { "height": 224, "width": 224 }, "do_resize": "yes" }""", "'do_resize'")]
    [InlineData("""not json""", "not valid JSON")]
    public void Bad_files_name_the_file_and_the_field(string json, string expectedFragment)
    {
        string path = Write(json);
        var ex = Assert.Throws<InvalidDataException>(() => ImageProcessorConfig.FromFile(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
        Assert.Contains(expectedFragment, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_file_is_FileNotFound()
    {
        string path = Path.Combine(_dir, "nope.json");
        var ex = Assert.Throws<FileNotFoundException>(() => ImageProcessorConfig.FromFile(path));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    private string Write(string json)
    {
        string path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".json");
        File.WriteAllText(path, json);
        return path;
    }
}

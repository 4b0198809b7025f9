using PaliGemma.Pipeline.Contracts;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>How --model values become model keys and queue names, which producers and workers must agree on.</summary>
public sealed class ModelReferenceTests
{
    [Fact]
    public void A_model_folder_is_keyed_by_its_folder_name_and_keeps_its_full_path()
    {
        var reference = ModelReference.Resolve(Fixtures.TinyModel + "/", "FP32", null);
        Assert.Equal(new ModelKey("tiny", "fp32"), reference.Key);
        Assert.Equal(Path.GetFullPath(Fixtures.TinyModel), reference.Folder);
        Assert.Equal("tiny:fp32", reference.Key.ToString());
    }

    [Fact]
    public void An_id_under_the_models_directory_resolves_to_that_folder()
    {
        var models = Path.GetDirectoryName(Fixtures.TinyModel)!;
        var reference = ModelReference.Resolve("tiny", "fp32", models);
        Assert.Equal(new ModelKey("tiny", "fp32"), reference.Key);
        Assert.Equal(Path.GetFullPath(Fixtures.TinyModel), reference.Folder);
    }

    [Fact]
    public void A_bare_id_without_files_still_has_a_key_so_a_producer_can_enqueue_for_it()
    {
        var reference = ModelReference.Resolve("onnx-community/paligemma2-3b-pt-448", "q4", null);
        Assert.Equal(new ModelKey("onnx-community/paligemma2-3b-pt-448", "q4"), reference.Key);
        Assert.Null(reference.Folder);
    }

    [Fact]
    public void An_unknown_dtype_is_refused()
    {
        Assert.Throws<ArgumentException>(() => ModelReference.Resolve("tiny", "fp8", null));
    }

    [Fact]
    public void Producer_and_worker_agree_on_the_queue_whether_given_a_folder_or_an_id()
    {
        var worker = ModelReference.Resolve(Fixtures.TinyModel, "fp32", null);
        var producer = ModelReference.Resolve("tiny", "fp32", null);
        Assert.Equal(worker.Key.QueueName, producer.Key.QueueName);
    }

    [Fact]
    public void The_queue_name_is_a_readable_slug_plus_the_first_8_hex_of_the_key_sha256()
    {
        // Hash from `printf 'tiny:fp32' | sha256sum`.
        Assert.Equal("pgpipe-jobs-tiny-fp32-916432da", new ModelKey("tiny", "fp32").QueueName);
    }

    [Fact]
    public void Ids_that_slug_alike_get_different_queues()
    {
        var a = new ModelKey("org/model", "fp32").QueueName;
        var b = new ModelKey("org_model", "fp32").QueueName;
        Assert.StartsWith("pgpipe-jobs-org-model-fp32-", a);
        Assert.StartsWith("pgpipe-jobs-org-model-fp32-", b);
        Assert.NotEqual(a, b);
    }

    [Fact]
    public void Queue_names_are_lower_case_safe_characters_and_bounded()
    {
        var name = new ModelKey("Org/" + new string('X', 400) + " ünïcode", "fp16").QueueName;
        Assert.Matches("^[a-z0-9.-]+$", name);
        Assert.Equal(180 + 1 + 8, name.Length);
    }

    [Theory]
    [InlineData("tiny:fp32", "tiny", "fp32")]
    [InlineData("org/model:v2:q4", "org/model:v2", "q4")]
    public void Parse_splits_at_the_last_colon(string text, string id, string dtype)
    {
        var key = ModelKey.Parse(text);
        Assert.Equal(new ModelKey(id, dtype), key);
        Assert.Equal(text, key.ToString());
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData(":fp32")]
    [InlineData("tiny:")]
    public void Parse_refuses_keys_without_id_and_dtype(string text) =>
        Assert.Throws<FormatException>(() => ModelKey.Parse(text));
}

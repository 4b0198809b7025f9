using PaliGemma.Pipeline.Contracts;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>What makes an <see cref="ImageJob"/> message unprocessable, and the sentences that say so.</summary>
public sealed class ImageJobValidatorTests
{
    private static ImageJob Good(params TaskSpec[] tasks) => new()
    {
        RunId = Guid.NewGuid(),
        Uri = "s3://bucket/a b/ünï+%.png",
        ETag = "abc",
        Size = 10,
        Model = "tiny:fp32",
        Tasks = tasks.Length == 0 ? [new TaskSpec("caption en", 32), new TaskSpec("ocr", 8192)] : tasks,
    };

    [Fact]
    public void A_well_formed_job_has_no_problems() => Assert.Empty(ImageJobValidator.Validate(Good()));

    [Fact]
    public void Every_missing_field_is_named()
    {
        // What System.Text.Json leaves when a message spells the fields as explicit nulls (required only checks presence).
        var job = new ImageJob { RunId = Guid.Empty, Uri = null!, ETag = " ", Size = -1, Model = null!, Tasks = null! };
        Assert.Equal(
            ["RunId is missing (an all-zero GUID)", "Uri is missing or blank", "ETag is missing or blank", "Size must not be negative, got -1", "Model is missing or blank", "Tasks is missing or empty"],
            ImageJobValidator.Validate(job));
        Assert.Equal(["the message has no ImageJob body"], ImageJobValidator.Validate(null));
    }

    [Theory]
    [InlineData("caption", 32, "Tasks[0]: Prompt 'caption' is malformed (the language code is missing)")]
    [InlineData("", 32, "Tasks[0]: The prompt is empty")]
    [InlineData("caption en\u0000", 32, "Tasks[0]: The prompt contains the control character U+0000")]
    [InlineData("caption en", 0, "Tasks[0]: MaxNewTokens must be between 1 and 8192, got 0")]
    [InlineData("caption en", -5, "Tasks[0]: MaxNewTokens must be between 1 and 8192, got -5")]
    [InlineData("caption en", 2_000_000_000, "Tasks[0]: MaxNewTokens must be between 1 and 8192, got 2000000000")]
    [InlineData("caption en", 8193, "Tasks[0]: MaxNewTokens must be between 1 and 8192, got 8193")]
    public void Malformed_tasks_and_absurd_token_limits_are_refused(string prompt, int maxNewTokens, string expected)
    {
        var problem = Assert.Single(ImageJobValidator.Validate(Good(new TaskSpec(prompt, maxNewTokens))));
        Assert.StartsWith(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Page_and_document_options_are_checked()
    {
        Assert.Empty(ImageJobValidator.Validate(Good() with { Page = 1, Documents = new DocumentJobOptions { PdfDpi = 300, PdfTextLayer = "prefer" } }));
        Assert.Equal(["Page is 1-based when present, got 0"], ImageJobValidator.Validate(Good() with { Page = 0 }));
        Assert.Equal(
            ["Documents.PdfDpi must be 10 to 1200, got 5000", "Documents.PdfTextLayer must be one of ocr, prefer, got 'PREFER'"],
            ImageJobValidator.Validate(Good() with { Documents = new DocumentJobOptions { PdfDpi = 5000, PdfTextLayer = "PREFER" } }));
    }

    [Fact]
    public void A_100_KB_prompt_and_too_many_tasks_are_refused()
    {
        var huge = Good(new TaskSpec("answer en " + new string('q', 100_000), 32));
        Assert.Contains("the limit is 2048", Assert.Single(ImageJobValidator.Validate(huge)), StringComparison.Ordinal);
        var many = Good([.. Enumerable.Range(0, 33).Select(i => new TaskSpec("caption en", 8))]);
        Assert.Equal("Tasks holds 33 tasks; at most 32 are allowed", Assert.Single(ImageJobValidator.Validate(many)));
    }

    [Fact]
    public void The_exception_message_names_the_object_and_every_problem()
    {
        var ex = new InvalidImageJobException("s3://b/k.png", ["Tasks[0]: x", "Tasks[1]: y"]);
        Assert.Equal("Invalid ImageJob message for 's3://b/k.png': Tasks[0]: x; Tasks[1]: y.", ex.Message);
        Assert.Equal("Invalid ImageJob message: Uri is missing or blank.", new InvalidImageJobException(null, ["Uri is missing or blank"]).Message);
    }

    [Fact]
    public void Unsupported_formats_have_their_own_failure_reason()
    {
        var ex = new PaliGemma.Inference.Imaging.ImageDecodeException(PaliGemma.Inference.Imaging.ImageFailureReason.UnsupportedFormat, "The input is SVG");
        Assert.Equal("unsupported_format", ImageJobBatchConsumer.Classify(ex));
    }
}

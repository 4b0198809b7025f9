using System.Net;
using Amazon.S3;
using PaliGemma.Inference.Imaging;
using PaliGemma.Pipeline.Catalog;

namespace PaliGemma.Pipeline.Worker.Tests;

/// <summary>
/// Which exceptions become a failure row for one image (with which reason code) and which must fail the batch so it
/// is redelivered: recording an outage as a per-image failure would lose work silently.
/// </summary>
public sealed class ClassifyTests
{
    public static TheoryData<Exception, string> PerImage => new()
    {
        { new CatalogObjectMissingException("s3://b/k"), "not_found" },
        { new CatalogObjectChangedException("s3://b/k", "a", "b"), "changed" },
        { new CatalogObjectTooLargeException("s3://b/k", 10, 5), "too_large" },
        { new ImageDecodeException(ImageFailureReason.Empty, "empty"), "empty" },
        { new ImageDecodeException(ImageFailureReason.NotAnImage, "text"), "not_an_image" },
        { new ImageDecodeException(ImageFailureReason.Corrupt, "cut"), "corrupt" },
        { new ImageDecodeException(ImageFailureReason.TooLarge, "bomb"), "too_large" },
        { new AmazonS3Exception("no such key") { StatusCode = HttpStatusCode.NotFound }, "not_found" },
        { new AmazonS3Exception("denied") { StatusCode = HttpStatusCode.Forbidden }, "forbidden" },
        { new CatalogUriException("/etc/passwd", "outside the catalog"), "invalid_uri" },
        { new FileNotFoundException("gone"), "not_found" },
        { new DirectoryNotFoundException("gone"), "not_found" },
    };

    [Theory]
    [MemberData(nameof(PerImage))]
    public void Image_specific_errors_map_to_their_reason_code(Exception error, string reason) =>
        Assert.Equal(reason, ImageJobBatchConsumer.Classify(error));

    public static TheoryData<Exception> Infrastructure => new()
    {
        new AmazonS3Exception("slow down") { StatusCode = HttpStatusCode.ServiceUnavailable },
        new AmazonS3Exception("boom") { StatusCode = HttpStatusCode.InternalServerError },
        new HttpRequestException("connection refused"),
        new TimeoutException("database"),
        new IOException("disk"),
        new InvalidOperationException("transient failure"),
        new OperationCanceledException(),
        // A bug in our own code (a bad argument somewhere in the pipeline) must fail the batch loudly, not be filed
        // against the image as if its URI were bad.
        new ArgumentException("bad argument"),
        new ArgumentOutOfRangeException("index"),
    };

    [Theory]
    [MemberData(nameof(Infrastructure))]
    public void Infrastructure_faults_are_not_per_image_failures(Exception error) =>
        Assert.Null(ImageJobBatchConsumer.Classify(error));
}

/// <summary>Generated text must be storable in Postgres text/jsonb, which refuse U+0000.</summary>
public sealed class StorableTextTests
{
    [Theory]
    [InlineData("a cat", "a cat")]
    [InlineData("a\0cat\0", "a\uFFFDcat\uFFFD")]
    [InlineData("", "")]
    public void Nul_characters_become_replacement_characters_and_nothing_else_changes(string generated, string stored) =>
        Assert.Equal(stored, ImageJobBatchConsumer.StorableText(generated));
}

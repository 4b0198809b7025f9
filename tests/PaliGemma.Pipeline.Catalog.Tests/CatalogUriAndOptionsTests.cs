using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Catalog.Tests;

public sealed class CatalogUriAndOptionsTests
{
    [Theory]
    [InlineData("s3://bucket/key.jpg", "bucket", "key.jpg")]
    [InlineData("S3://bucket/a/b c/+%20é.jpg", "bucket", "a/b c/+%20é.jpg")]
    [InlineData("s3://bucket", "bucket", "")]
    [InlineData("s3://bucket/", "bucket", "")]
    [InlineData("s3://bucket//double", "bucket", "/double")]
    public void ParseS3_splits_at_the_first_slash_without_decoding(string uri, string bucket, string key)
    {
        Assert.Equal((bucket, key), CatalogUri.ParseS3(uri));
    }

    [Theory]
    [InlineData("s3://")]
    [InlineData("s3:///key")]
    [InlineData("http://bucket/key")]
    [InlineData("/local/path")]
    public void ParseS3_rejects_non_s3_uris(string uri) =>
        Assert.Throws<CatalogUriException>(() => CatalogUri.ParseS3(uri));

    [Fact]
    public void Factory_rejects_unknown_schemes_and_missing_folders()
    {
        using var factory = new CatalogSourceFactory(Options.Create(new S3Options()), Options.Create(new CatalogOptions()));
        var scheme = Assert.Throws<ArgumentException>(() => factory.Create("gs://bucket/prefix"));
        Assert.Contains("gs", scheme.Message, StringComparison.Ordinal);
        var missing = Path.Combine(Path.GetTempPath(), "pgpipe-no-such-folder-" + Guid.NewGuid());
        var error = Assert.Throws<DirectoryNotFoundException>(() => factory.Create(missing));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Factory_accepts_folder_paths_and_file_uris()
    {
        var folder = Directory.CreateTempSubdirectory("pgpipe-catalog-").FullName;
        try
        {
            using var factory = new CatalogSourceFactory(Options.Create(new S3Options()), Options.Create(new CatalogOptions()));
            Assert.Equal(folder, factory.Create(folder).Root);
            Assert.Equal(folder, factory.Create(new Uri(folder).AbsoluteUri).Root);
            Assert.IsType<LocalFolderCatalogSource>(factory.Create(folder + "/"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void S3Options_ToString_never_shows_secrets()
    {
        var options = new S3Options { ServiceUrl = "http://minio:9000", AccessKey = "AKIAEXAMPLEKEY", SecretKey = "wJalrXUtnFEMI/K7MDENG" };
        var text = options.ToString();
        Assert.DoesNotContain("AKIAEXAMPLEKEY", text, StringComparison.Ordinal);
        Assert.DoesNotContain("wJalrXUtnFEMI", text, StringComparison.Ordinal);
        Assert.Contains("http://minio:9000", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not a url", "k", "s", null, "ServiceUrl")]
    [InlineData("ftp://host", null, null, null, "ServiceUrl")]
    [InlineData(null, "k", null, null, "SecretKey")]
    [InlineData(null, null, "s", null, "AccessKey")]
    [InlineData(null, "k", "s", "prof", "ProfileName")]
    public void S3Options_validation_names_the_setting(string? url, string? access, string? secret, string? profile, string setting)
    {
        var options = new S3Options { ServiceUrl = url, AccessKey = access, SecretKey = secret, ProfileName = profile };
        var result = new S3OptionsValidator().Validate(null, options);
        Assert.True(result.Failed);
        Assert.Contains(setting, result.FailureMessage, StringComparison.Ordinal);
        Assert.Throws<OptionsValidationException>(() => S3ClientFactory.Create(options));
    }

    [Fact]
    public void S3Options_without_credentials_are_valid_and_path_style_follows_the_endpoint()
    {
        Assert.True(new S3OptionsValidator().Validate(null, new S3Options()).Succeeded);
        Assert.False(new S3Options().UsePathStyle);
        Assert.True(new S3Options { ServiceUrl = "http://127.0.0.1:4569" }.UsePathStyle);
        Assert.False(new S3Options { ServiceUrl = "http://127.0.0.1:4569", ForcePathStyle = false }.UsePathStyle);
    }
}

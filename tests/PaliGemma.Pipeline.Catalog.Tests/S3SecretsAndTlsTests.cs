using System.Security.Authentication;
using System.Text;
using Amazon.S3;
using Amazon.S3.Model;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Catalog.Tests;

/// <summary>
/// The S3 secret key from a file, the custom CA bundle for an https endpoint (exercised against a real TLS handshake
/// on loopback), and the validation that names each setting.
/// </summary>
public sealed class S3SecretsAndTlsTests(S3ServerFixture s3) : IClassFixture<S3ServerFixture>, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-s3-tls-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [S3Fact]
    public async Task SecretKeyFile_signs_requests_like_the_inline_key()
    {
        // Given the server's secret only in a file (with the newline an editor adds)
        var bucket = await s3.CreateBucketAsync(nameof(SecretKeyFile_signs_requests_like_the_inline_key), CancellationToken.None);
        await s3.PutObjectAsync(bucket, "a.jpg", "abc"u8.ToArray(), CancellationToken.None);
        var options = new S3Options { ServiceUrl = s3.ServiceUrl, AccessKey = s3.AccessKey, SecretKeyFile = Write("s3-secret", s3.SecretKey + "\n") };

        // When a client built from the options lists the bucket
        using var client = S3ClientFactory.Create(options);
        var listed = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket });

        // Then the signature matched, and the options describe themselves without the secret
        Assert.Equal(["a.jpg"], listed.S3Objects.Select(o => o.Key));
        Assert.DoesNotContain(s3.SecretKey, options.ToString(), StringComparison.Ordinal);
        Assert.Contains("(set, redacted)", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Secret_and_tls_settings_are_validated_naming_the_setting()
    {
        var validator = new S3OptionsValidator();
        var secret = Write("s", "x");
        var cases = new (S3Options Options, string Setting)[]
        {
            (new S3Options { AccessKey = "a", SecretKey = "b", SecretKeyFile = secret }, "S3:SecretKeyFile are alternatives"),
            (new S3Options { AccessKey = "a", SecretKeyFile = Path.Combine(_folder, "absent") }, "S3:SecretKeyFile names"),
            (new S3Options { SecretKeyFile = secret }, "S3:AccessKey and S3:SecretKey (or SecretKeyFile)"),
            (new S3Options { ServiceUrl = "https://minio:9000", CaBundlePath = Path.Combine(_folder, "absent.pem") }, "S3:CaBundlePath names"),
            (new S3Options { ServiceUrl = "http://minio:9000", CaBundlePath = secret }, "is not https"),
        };

        foreach (var (options, setting) in cases)
        {
            var result = validator.Validate(null, options);
            Assert.True(result.Failed, setting);
            Assert.Contains(setting, result.FailureMessage, StringComparison.Ordinal);
        }

        Assert.True(validator.Validate(null, new S3Options { AccessKey = "a", SecretKeyFile = secret }).Succeeded);
    }

    [Fact]
    public void A_ca_bundle_reaches_the_client_configuration()
    {
        using var ca = new TestCertificateAuthority("pgpipe test CA");
        var options = new S3Options { ServiceUrl = "https://minio.internal:9000", CaBundlePath = ca.WritePem(Path.Combine(_folder, "ca.pem")), ForcePathStyle = true };

        using var client = S3ClientFactory.Create(options);

        var factory = Assert.IsType<CustomCaHttpClientFactory>(client.Config.HttpClientFactory);
        Assert.Equal(ca.Certificate.Thumbprint, Assert.Single(factory.Roots).Thumbprint);
        Assert.StartsWith("https://minio.internal:9000", client.Config.ServiceURL, StringComparison.Ordinal);
        Assert.True(((AmazonS3Config)client.Config).ForcePathStyle);
        using var handler = factory.CreateHandler();
        Assert.Equal(System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust, handler.SslOptions.CertificateChainPolicy!.TrustMode);
    }

    [Fact]
    public void A_file_that_is_not_a_pem_bundle_is_refused_naming_the_setting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new CustomCaHttpClientFactory(Write("not.pem", "hello")));
        Assert.Contains("S3:CaBundlePath", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_client_trusts_a_server_signed_by_the_bundle_and_refuses_any_other()
    {
        // Given a private CA, a server it signed, and a server signed by another CA (neither in the system store)
        using var ours = new TestCertificateAuthority("pgpipe private CA");
        using var theirs = new TestCertificateAuthority("someone else's CA");
        using var trustedCert = ours.IssueServer("localhost");
        using var strangerCert = theirs.IssueServer("localhost");
        await using var trusted = new LoopbackTlsServer(trustedCert);
        await using var stranger = new LoopbackTlsServer(strangerCert);
        var factory = new CustomCaHttpClientFactory(ours.WritePem(Path.Combine(_folder, "ca.pem")));
        using var http = new HttpClient(factory.CreateHandler());

        // When the client calls each
        using var ok = await http.GetAsync(new Uri($"https://localhost:{trusted.Port}/"));
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"https://localhost:{stranger.Port}/")));
        // A server with a certificate for another name is refused too, even when our CA signed it
        using var wrongNameCert = ours.IssueServer("other.example");
        await using var wrongName = new LoopbackTlsServer(wrongNameCert);
        var mismatch = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync(new Uri($"https://localhost:{wrongName.Port}/")));

        // Then only the server signed by the bundle's CA for the right name is accepted
        Assert.Equal(System.Net.HttpStatusCode.OK, ok.StatusCode);
        Assert.IsType<AuthenticationException>(refused.InnerException);
        Assert.IsType<AuthenticationException>(mismatch.InnerException);
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, content, Encoding.UTF8);
        return path;
    }
}

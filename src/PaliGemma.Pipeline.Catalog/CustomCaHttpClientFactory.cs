using System.Security.Cryptography.X509Certificates;
using Amazon.Runtime;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// Gives the S3 client an <see cref="HttpClient"/> that trusts only the CA certificates of <see cref="S3Options.CaBundlePath"/>
/// (custom root trust), for an https endpoint signed by a private CA. Host-name checks stay on: .NET validates the
/// name, and the chain policy replaces only the set of trusted roots.
/// </summary>
public sealed class CustomCaHttpClientFactory : HttpClientFactory
{
    private readonly string _bundlePath;

    /// <summary>Loads the bundle now, so a bad file fails when the client is created, naming the setting.</summary>
    /// <exception cref="InvalidOperationException">The file is not a readable PEM bundle with at least one certificate.</exception>
    public CustomCaHttpClientFactory(string bundlePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(bundlePath);
        _bundlePath = bundlePath;
        Roots = new X509Certificate2Collection();
        try
        {
            Roots.ImportFromPemFile(bundlePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
        {
            throw new InvalidOperationException($"{S3Options.SectionName}:CaBundlePath '{bundlePath}' is not a readable PEM certificate bundle: {e.Message}", e);
        }

        if (Roots.Count == 0)
        {
            throw new InvalidOperationException($"{S3Options.SectionName}:CaBundlePath '{bundlePath}' holds no PEM certificate.");
        }
    }

    /// <summary>The trusted CA certificates.</summary>
    public X509Certificate2Collection Roots { get; }

    /// <summary>The handler the clients use; exposed so tests can check its TLS policy.</summary>
    public SocketsHttpHandler CreateHandler()
    {
        var policy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        policy.CustomTrustStore.AddRange(Roots);
        var handler = new SocketsHttpHandler();
        handler.SslOptions.CertificateChainPolicy = policy;
        return handler;
    }

    /// <inheritdoc />
    public override HttpClient CreateHttpClient(IClientConfig clientConfig)
    {
        ArgumentNullException.ThrowIfNull(clientConfig);
        return new HttpClient(CreateHandler(), disposeHandler: true) { Timeout = clientConfig.Timeout ?? TimeSpan.FromSeconds(100) };
    }

    /// <inheritdoc />
    public override bool UseSDKHttpClientCaching(IClientConfig clientConfig) => true;

    /// <inheritdoc />
    public override bool DisposeHttpClientsAfterUse(IClientConfig clientConfig) => false;

    /// <inheritdoc />
    public override string GetConfigUniqueString(IClientConfig clientConfig) => "pgpipe-ca:" + _bundlePath;
}

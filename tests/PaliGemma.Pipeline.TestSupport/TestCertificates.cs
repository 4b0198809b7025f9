using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// A private CA and server certificates made in memory for TLS tests (no files from outside the test), and a
/// loopback TLS server that answers any HTTP request with 200, so a client's trust settings can be exercised for real.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    /// <summary>Creates a self-signed CA named <paramref name="name"/>.</summary>
    public TestCertificateAuthority(string name)
    {
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        Certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    /// <summary>The CA certificate (with its private key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The CA certificate as PEM, as a CA bundle file holds it.</summary>
    public string Pem => Certificate.ExportCertificatePem();

    /// <summary>Writes <see cref="Pem"/> to <paramref name="path"/> and returns the path.</summary>
    public string WritePem(string path)
    {
        File.WriteAllText(path, Pem, Encoding.ASCII);
        return path;
    }

    /// <summary>A server certificate for <paramref name="dnsName"/> (and 127.0.0.1) signed by this CA, with its private key.</summary>
    public X509Certificate2 IssueServer(string dnsName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(dnsName);
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var serial = RandomNumberGenerator.GetBytes(8);
        using var issued = request.Create(Certificate, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        // SslStream on Linux needs the key in an exportable, persisted form: round-trip through PKCS#12.
        return X509CertificateLoader.LoadPkcs12(issued.CopyWithPrivateKey(key).Export(X509ContentType.Pkcs12), null);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}

/// <summary>A loopback HTTPS server presenting one certificate; every request gets "200 OK" and the connection closes.</summary>
public sealed class LoopbackTlsServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly X509Certificate2 _certificate;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    /// <summary>Starts listening on a free port.</summary>
    public LoopbackTlsServer(X509Certificate2 certificate)
    {
        _certificate = certificate;
        _listener.Start();
        _loop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The port the server listens on.</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _loop;
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopping.
        }

        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                await using var tls = new SslStream(client.GetStream());
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _stop.Token);
                var buffer = new byte[8192];
                _ = await tls.ReadAsync(buffer, _stop.Token);
                var body = "<ListAllMyBucketsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>x</ID></Owner><Buckets></Buckets></ListAllMyBucketsResult>";
                var response = $"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";
                await tls.WriteAsync(Encoding.UTF8.GetBytes(response), _stop.Token);
                await tls.FlushAsync(_stop.Token);
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or ObjectDisposedException)
            {
                // The client refused our certificate, or the server is stopping: that is what some tests want.
            }
        }
    }
}

using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MassTransit;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>Applies the TLS settings of <see cref="MessagingOptions"/> to MassTransit's RabbitMQ SSL configuration.</summary>
public static class RabbitMqTls
{
    /// <summary>
    /// Server name (default: the host), TLS 1.2 or 1.3 as the OS negotiates, optional client certificate, and, with
    /// <see cref="MessagingOptions.SslCaCertificatePath"/>, a certificate check against that CA bundle only. Name
    /// mismatches are never allowed.
    /// </summary>
    public static void Configure(IRabbitMqSslConfigurator ssl, MessagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(ssl);
        ArgumentNullException.ThrowIfNull(options);
        ssl.ServerName = string.IsNullOrWhiteSpace(options.SslServerName) ? options.Host : options.SslServerName;
        ssl.Protocol = System.Security.Authentication.SslProtocols.None;
        if (!string.IsNullOrWhiteSpace(options.SslClientCertificatePath))
        {
            ssl.CertificatePath = options.SslClientCertificatePath;
        }

        if (!string.IsNullOrWhiteSpace(options.SslCaCertificatePath))
        {
            ssl.CertificateValidationCallback = TrustOnly(LoadBundle(options.SslCaCertificatePath));
        }
    }

    /// <summary>The same settings as <see cref="Configure"/>, for a RabbitMQ.Client connection of its own (<see cref="RabbitMqProbe"/>).</summary>
    public static RabbitMQ.Client.SslOption ToSslOption(MessagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var ssl = new RabbitMQ.Client.SslOption
        {
            Enabled = true,
            ServerName = string.IsNullOrWhiteSpace(options.SslServerName) ? options.Host : options.SslServerName,
            Version = System.Security.Authentication.SslProtocols.None,
        };
        if (!string.IsNullOrWhiteSpace(options.SslClientCertificatePath))
        {
            ssl.CertPath = options.SslClientCertificatePath;
        }

        if (!string.IsNullOrWhiteSpace(options.SslCaCertificatePath))
        {
            ssl.CertificateValidationCallback = TrustOnly(LoadBundle(options.SslCaCertificatePath));
        }

        return ssl;
    }

    /// <summary>
    /// A validation callback that accepts a server certificate only when its name matches and its chain ends at one of
    /// <paramref name="roots"/> (custom root trust: the system store is not consulted).
    /// </summary>
    public static RemoteCertificateValidationCallback TrustOnly(X509Certificate2Collection roots)
    {
        ArgumentNullException.ThrowIfNull(roots);
        return (_, certificate, chain, errors) =>
        {
            if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateNotAvailable)) != 0)
            {
                return false;
            }

            using var custom = new X509Chain();
            custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.AddRange(roots);
            custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (chain is not null)
            {
                // Intermediates the server sent.
                foreach (var element in chain.ChainElements)
                {
                    custom.ChainPolicy.ExtraStore.Add(element.Certificate);
                }
            }

            if (certificate is X509Certificate2 leaf)
            {
                return custom.Build(leaf);
            }

            using var copy = new X509Certificate2(certificate);
            return custom.Build(copy);
        };
    }

    private static X509Certificate2Collection LoadBundle(string path)
    {
        var roots = new X509Certificate2Collection();
        try
        {
            roots.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"{MessagingOptions.SectionName}:SslCaCertificatePath '{path}' is not a readable PEM certificate bundle: {e.Message}", e);
        }

        if (roots.Count == 0)
        {
            throw new InvalidOperationException($"{MessagingOptions.SectionName}:SslCaCertificatePath '{path}' holds no PEM certificate.");
        }

        return roots;
    }
}

using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Hosting;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>RabbitMQ password from a file, TLS settings bound, validated and applied to MassTransit's SSL configuration.</summary>
public sealed class MessagingSecurityOptionsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-mq-tls-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Settings_bind_from_configuration_and_the_password_file_wins()
    {
        var options = Bind(new()
        {
            ["Messaging:Transport"] = "RabbitMq",
            ["Messaging:Password"] = "inline",
            ["Messaging:PasswordFile"] = Write("mq-password", "from-file\n"),
            ["Messaging:UseSsl"] = "true",
            ["Messaging:Port"] = "5671",
            ["Messaging:SslServerName"] = "rabbit.internal",
        });

        Assert.Equal("from-file", options.ResolvePassword());
        Assert.True(options.UseSsl);
        Assert.Equal("rabbit.internal", options.SslServerName);
        Assert.DoesNotContain("from-file", options.ToString(), StringComparison.Ordinal);
        Assert.StartsWith("rabbitmqs://", options.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Missing_files_and_tls_settings_without_UseSsl_fail_naming_the_setting()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Bind(new()
        {
            ["Messaging:Transport"] = "RabbitMq",
            ["Messaging:PasswordFile"] = Path.Combine(_folder, "absent"),
            ["Messaging:SslCaCertificatePath"] = Path.Combine(_folder, "absent.pem"),
        }));

        Assert.Contains("Messaging:PasswordFile names", error.Message, StringComparison.Ordinal);
        Assert.Contains("Messaging:SslCaCertificatePath names", error.Message, StringComparison.Ordinal);
        Assert.Contains("need Messaging:UseSsl=true", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tls_settings_reach_the_MassTransit_ssl_configuration()
    {
        using var ca = new TestCertificateAuthority("pgpipe broker CA");
        var options = new MessagingOptions
        {
            Transport = TransportKind.RabbitMq,
            Host = "rabbitmq.default.svc",
            UseSsl = true,
            SslCaCertificatePath = ca.WritePem(Path.Combine(_folder, "ca.pem")),
            SslClientCertificatePath = "/run/secrets/client.pfx",
        };
        var ssl = new RecordingSslConfigurator();

        RabbitMqTls.Configure(ssl, options);

        Assert.Equal("rabbitmq.default.svc", ssl.ServerName);
        Assert.Equal("/run/secrets/client.pfx", ssl.CertificatePath);
        Assert.NotNull(ssl.CertificateValidationCallback);
        Assert.Empty(ssl.AllowedErrors);

        // Without a CA bundle the system roots decide (no callback), and an explicit server name wins.
        var system = new RecordingSslConfigurator();
        RabbitMqTls.Configure(system, new MessagingOptions { Host = "10.0.0.5", UseSsl = true, SslServerName = "rabbit.internal" });
        Assert.Equal("rabbit.internal", system.ServerName);
        Assert.Null(system.CertificateValidationCallback);
    }

    [Fact]
    public void The_ca_callback_accepts_only_certificates_of_that_ca_with_a_matching_name()
    {
        using var ours = new TestCertificateAuthority("pgpipe broker CA");
        using var theirs = new TestCertificateAuthority("another CA");
        var roots = new X509Certificate2Collection(ours.Certificate);
        var callback = RabbitMqTls.TrustOnly(roots);
        using var good = ours.IssueServer("rabbit.internal");
        using var foreign = theirs.IssueServer("rabbit.internal");

        Assert.True(callback(this, good, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(callback(this, foreign, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(callback(this, good, null, SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(callback(this, null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }

    private static MessagingOptions Bind(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.SectionName).ValidateDataAnnotations();
        services.AddSingleton<IValidateOptions<MessagingOptions>, MessagingOptionsValidator>();
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<MessagingOptions>>().Value;
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_folder, name);
        File.WriteAllText(path, content);
        return path;
    }

    /// <summary>Records what <see cref="RabbitMqTls.Configure"/> sets.</summary>
    private sealed class RecordingSslConfigurator : IRabbitMqSslConfigurator
    {
        public List<SslPolicyErrors> AllowedErrors { get; } = [];

        public SslProtocols Protocol { get; set; }

        public string? ServerName { get; set; }

        public string? CertificatePath { get; set; }

        public string? CertificatePassphrase { get; set; }

        public X509Certificate? Certificate { get; set; }

        public bool UseCertificateAsAuthenticationIdentity { get; set; }

        public LocalCertificateSelectionCallback? CertificateSelectionCallback { get; set; }

        public RemoteCertificateValidationCallback? CertificateValidationCallback { get; set; }

        public void AllowPolicyErrors(SslPolicyErrors policyErrors) => AllowedErrors.Add(policyErrors);

        public void EnforcePolicyErrors(SslPolicyErrors policyErrors) => AllowedErrors.Remove(policyErrors);
    }
}

using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>Which MassTransit transport carries jobs.</summary>
public enum TransportKind
{
    /// <summary>In-process transport: the embedded default (producer and worker in one process).</summary>
    InMemory,
    /// <summary>RabbitMQ: producers and worker pools on many machines.</summary>
    RabbitMq,
}

/// <summary>Broker settings, bound from the "Messaging" section.</summary>
public sealed class MessagingOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Messaging";

    /// <summary>InMemory or RabbitMq.</summary>
    public TransportKind Transport { get; set; } = TransportKind.InMemory;

    /// <summary>RabbitMQ host name.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>RabbitMQ AMQP port.</summary>
    [Range(1, 65535)]
    public int Port { get; set; } = 5672;

    /// <summary>RabbitMQ virtual host.</summary>
    public string VirtualHost { get; set; } = "/";

    /// <summary>RabbitMQ user.</summary>
    public string Username { get; set; } = "guest";

    /// <summary>RabbitMQ password; never logged. <see cref="PasswordFile"/> takes precedence.</summary>
    public string Password { get; set; } = "guest";

    /// <summary>
    /// A file holding the RabbitMQ password (a Docker or Kubernetes secret mount); trailing line breaks are ignored.
    /// Takes precedence over <see cref="Password"/>, so the password need not be in the environment at all.
    /// </summary>
    public string? PasswordFile { get; set; }

    /// <summary>Use TLS (AMQPS) to the broker; set <see cref="Port"/> to the TLS listener, usually 5671.</summary>
    public bool UseSsl { get; set; }

    /// <summary>
    /// The name the broker's certificate must carry (TLS SNI and host-name check). Empty means <see cref="Host"/>.
    /// </summary>
    public string? SslServerName { get; set; }

    /// <summary>
    /// PEM file of the CA(s) that sign the broker's certificate, trusted instead of the system roots (a private CA).
    /// Empty means the system trust store.
    /// </summary>
    public string? SslCaCertificatePath { get; set; }

    /// <summary>A client certificate (PKCS#12/PFX) for brokers that require mutual TLS.</summary>
    public string? SslClientCertificatePath { get; set; }

    /// <summary>
    /// The broker's consumer_timeout in milliseconds (RabbitMQ default 30 minutes). A worker's batch time limit and
    /// its longest batch must stay well inside it, or the broker closes the channel and redelivers the batch.
    /// </summary>
    [Range(10_000, int.MaxValue)]
    public int ConsumerTimeoutMs { get; set; } = 1_800_000;

    /// <summary>
    /// The password to use: the content of <see cref="PasswordFile"/> when set, else <see cref="Password"/>. A method,
    /// not a property, because it reads a file (binders and validators read every property).
    /// </summary>
    /// <exception cref="InvalidOperationException">The file cannot be read; the message names the setting.</exception>
    public string ResolvePassword()
    {
        if (string.IsNullOrWhiteSpace(PasswordFile))
        {
            return Password;
        }

        return SecretFile.Read(PasswordFile, $"{SectionName}:{nameof(PasswordFile)}");
    }

    /// <summary>A redacted description for logs.</summary>
    public override string ToString() => Transport == TransportKind.InMemory
        ? "in-memory transport"
        : $"{(UseSsl ? "rabbitmqs" : "rabbitmq")}://{Username}:***@{Host}:{Port}{(VirtualHost.StartsWith('/') ? VirtualHost : "/" + VirtualHost)}";
}

/// <summary>Checks that the secret and TLS files <see cref="MessagingOptions"/> names exist, naming the setting when not.</summary>
public sealed class MessagingOptionsValidator : IValidateOptions<MessagingOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, MessagingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Transport != TransportKind.RabbitMq)
        {
            return ValidateOptionsResult.Success;
        }

        var errors = new List<string>();
        foreach (var (setting, path) in new[]
                 {
                     ("PasswordFile", options.PasswordFile),
                     ("SslCaCertificatePath", options.SslCaCertificatePath),
                     ("SslClientCertificatePath", options.SslClientCertificatePath),
                 })
        {
            if (!string.IsNullOrWhiteSpace(path) && !File.Exists(path))
            {
                errors.Add($"{MessagingOptions.SectionName}:{setting} names '{path}', which does not exist.");
            }
        }

        if (!options.UseSsl && (!string.IsNullOrWhiteSpace(options.SslServerName) || !string.IsNullOrWhiteSpace(options.SslCaCertificatePath) || !string.IsNullOrWhiteSpace(options.SslClientCertificatePath)))
        {
            errors.Add($"{MessagingOptions.SectionName}:SslServerName, SslCaCertificatePath and SslClientCertificatePath need {MessagingOptions.SectionName}:UseSsl=true; without it the connection is plain AMQP.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

using System.ComponentModel.DataAnnotations;

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

    /// <summary>RabbitMQ password; never logged.</summary>
    public string Password { get; set; } = "guest";

    /// <summary>Use TLS to the broker.</summary>
    public bool UseSsl { get; set; }

    /// <summary>
    /// The broker's consumer_timeout in milliseconds (RabbitMQ default 30 minutes). A worker's batch time limit and
    /// its longest batch must stay well inside it, or the broker closes the channel and redelivers the batch.
    /// </summary>
    [Range(10_000, int.MaxValue)]
    public int ConsumerTimeoutMs { get; set; } = 1_800_000;

    /// <summary>A redacted description for logs.</summary>
    public override string ToString() => Transport == TransportKind.InMemory
        ? "in-memory transport"
        : $"rabbitmq://{Username}:***@{Host}:{Port}{(VirtualHost.StartsWith('/') ? VirtualHost : "/" + VirtualHost)}";
}

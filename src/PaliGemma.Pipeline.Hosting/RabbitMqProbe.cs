using RabbitMQ.Client;

namespace PaliGemma.Pipeline.Hosting;

/// <summary>
/// One connection to the configured broker, opened and closed, so a command learns before it starts work whether
/// the broker answers and accepts the login. MassTransit itself retries a refused login like an outage, for minutes,
/// and a wrong password is a mistake to report at once.
/// </summary>
public static class RabbitMqProbe
{
    /// <summary>Connects once with <paramref name="options"/> (TLS as <see cref="RabbitMqTls"/> sets it) and disconnects.</summary>
    /// <exception cref="RabbitMQ.Client.Exceptions.BrokerUnreachableException">
    /// The broker did not answer, or (with an inner <see cref="RabbitMQ.Client.Exceptions.AuthenticationFailureException"/>) refused the login.
    /// </exception>
    public static async Task CheckAsync(MessagingOptions options, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var factory = new ConnectionFactory
        {
            HostName = options.Host,
            Port = options.Port,
            VirtualHost = options.VirtualHost,
            UserName = options.Username,
            Password = options.ResolvePassword(),
            AutomaticRecoveryEnabled = false,
            RequestedConnectionTimeout = timeout,
        };
        if (options.UseSsl)
        {
            factory.Ssl = RabbitMqTls.ToSslOption(options);
        }

        var connection = await factory.CreateConnectionAsync("pgpipe-check", cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await connection.CloseAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}

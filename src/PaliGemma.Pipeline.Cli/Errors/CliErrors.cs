using System.Data.Common;
using System.Net.Sockets;
using Amazon.Runtime;
using Microsoft.Extensions.Options;
using Npgsql;
using PaliGemma.Hub;
using PaliGemma.Inference.Model;
using PaliGemma.Inference.Tokenization;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Web;
using RabbitMQ.Client.Exceptions;

namespace PaliGemma.Pipeline.Cli.Errors;

/// <summary>What the operator reads: an exit code from <see cref="ExitCodes"/> and one line that says what to fix.</summary>
internal sealed record CliError(int ExitCode, string Message);

/// <summary>
/// The one mapping from exceptions to exit codes and one-line errors, for every command. The chain of inner
/// exceptions is searched, outermost first, because services wrap their causes (EF Core a Npgsql error, RabbitMQ's
/// "unreachable" an ACCESS_REFUSED, the AWS SDK a refused connection). Messages pass through
/// <see cref="ConnectionStringRedactor"/>: a connection string or URI quoted by a library never shows its password.
/// </summary>
internal static class CliErrors
{
    /// <summary>Classifies <paramref name="exception"/>; null when no rule applies (a bug, reported in full by the caller).</summary>
    public static CliError? Describe(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        // Specific causes first, anywhere in the chain: EF Core wraps a refused connection in an InvalidOperationException,
        // which alone would read as a usage error.
        var chain = Chain(exception).ToList();
        var error = chain.Select(Specific).FirstOrDefault(d => d is not null) ?? chain.Select(General).FirstOrDefault(d => d is not null);
        return error is null ? null : error with { Message = ConnectionStringRedactor.Redact(error.Message.ReplaceLineEndings(" ")) };
    }

    private static CliError? Specific(Exception e) => e switch
    {
        UsageException or StoreConfigurationException or ResultsBrowserConfigurationException => new(ExitCodes.Usage, e.Message),
        OptionsValidationException v => new(ExitCodes.Usage, string.Join("; ", v.Failures)),
        StoreUnavailableException => new(ExitCodes.StoreUnavailable, e.Message),
        StoredValueException or CommandFailedException => new(ExitCodes.Failure, e.Message),
        PostgresException p => Postgres(p),
        NpgsqlException n when n.IsTransient => new(ExitCodes.ServiceUnavailable,
            $"cannot reach Postgres: {Innermost(n).Message} ({n.Message}). Is the server running, and do Database:ConnectionString / --db name its host and port?"),
        AuthenticationFailureException => new(ExitCodes.Usage,
            $"RabbitMQ refused the login ({e.Message}). Check Messaging:Username and Messaging:Password (or Messaging:PasswordFile) and the user's access to Messaging:VirtualHost."),
        BrokerUnreachableException when e.InnerException is null || !Chain(e.InnerException).Any(i => i is AuthenticationFailureException) => new(ExitCodes.ServiceUnavailable,
            $"cannot reach RabbitMQ: {Innermost(e).Message}. Is the broker running, and do Messaging:Host / Messaging:Port name it?"),
        AmazonServiceException or AmazonClientException or HttpRequestException when IsUnreachable(e) && ThrownThroughAwsSdk(e) => new(ExitCodes.ServiceUnavailable,
            $"cannot reach the S3 server: {Innermost(e).Message}. Is it running, and does S3:ServiceUrl name it?"),
        AmazonServiceException s when s.StatusCode is System.Net.HttpStatusCode.Forbidden or System.Net.HttpStatusCode.Unauthorized
            || s.ErrorCode is "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "AccessDenied" => new(ExitCodes.Usage,
            $"the S3 server refused the request ({s.ErrorCode}: {s.Message}). Check S3:AccessKey and S3:SecretKey (or S3:SecretKeyFile) and the key's access to the bucket."),
        AmazonServiceException { ErrorCode: "NoSuchBucket" } s => new(ExitCodes.Usage, $"the S3 bucket does not exist ({s.Message}). Check the s3:// source."),
        HubRepoNotFoundException or HubGatedRepoException or HubRevisionNotFoundException or HubEntryNotFoundException or HubCacheMissException => new(ExitCodes.Usage, e.Message),
        HubUnavailableException => new(ExitCodes.ServiceUnavailable, e.Message),
        HubException => new(ExitCodes.Failure, e.Message),
        ModelFormatException or TokenizerJsonException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException => new(ExitCodes.Usage, e.Message),
        _ => null,
    };

    /// <summary>Kinds that name a class of problem rather than its cause; used when nothing in the chain is more specific.</summary>
    private static CliError? General(Exception e) => e switch
    {
        SocketException or HttpRequestException or TimeoutException when IsUnreachable(e) => new(ExitCodes.ServiceUnavailable,
            $"a service did not answer: {e.Message}. Is it running, and do the settings name it (S3:ServiceUrl, Database:ConnectionString, Messaging:Host)?"),
        DbException => new(ExitCodes.Failure, $"the result store failed: {e.Message}"),
        IOException => new(ExitCodes.Failure, $"writing the output failed: {e.Message}"),
        ArgumentException or InvalidOperationException => new(ExitCodes.Usage, e.Message),
        _ => null,
    };

    private static CliError Postgres(PostgresException p) => p.SqlState switch
    {
        PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification => new(ExitCodes.Usage,
            $"Postgres refused the login ({p.SqlState}: {p.MessageText}). Check the user and password of Database:ConnectionString (or Database:PasswordFile, --db)."),
        PostgresErrorCodes.InvalidCatalogName => new(ExitCodes.StoreUnavailable,
            $"the Postgres database does not exist ({p.MessageText}). Create the database, then run `pgpipe migrate`."),
        PostgresErrorCodes.UndefinedTable => new(ExitCodes.StoreUnavailable,
            $"the result store has no tables ({p.MessageText}). Run `pgpipe migrate` first."),
        PostgresErrorCodes.InsufficientPrivilege => new(ExitCodes.Usage,
            $"Postgres denied the access ({p.SqlState}: {p.MessageText}). Grant the role its privileges with `pgpipe migrate --worker-role/--producer-role/--reader-role`."),
        _ => new(ExitCodes.Failure, $"the result store failed ({p.SqlState}: {p.MessageText})."),
    };

    /// <summary>True when the chain below <paramref name="e"/> says a service did not answer, rather than answered with an error.</summary>
    private static bool IsUnreachable(Exception e) =>
        e is TimeoutException || Chain(e).Any(i => i is SocketException or TimeoutException or HttpRequestException { StatusCode: null });

    /// <summary>
    /// True when the AWS SDK is on <paramref name="e"/>'s stack: its refused connections surface as a bare
    /// <see cref="HttpRequestException"/>, which alone does not say which service it was.
    /// </summary>
    private static bool ThrownThroughAwsSdk(Exception e) =>
        new System.Diagnostics.StackTrace(e).GetFrames().Any(f => f.GetMethod()?.DeclaringType?.Namespace?.StartsWith("Amazon", StringComparison.Ordinal) == true);

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null)
        {
            e = e.InnerException;
        }

        return e;
    }

    /// <summary>The exception and its causes, outermost first, the inner exceptions of an aggregate included.</summary>
    private static IEnumerable<Exception> Chain(Exception exception)
    {
        var pending = new Queue<Exception>();
        pending.Enqueue(exception);
        while (pending.TryDequeue(out var e))
        {
            yield return e;
            if (e is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Enqueue(inner);
                }
            }
            else if (e.InnerException is not null)
            {
                pending.Enqueue(e.InnerException);
            }
        }
    }
}

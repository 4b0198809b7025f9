namespace PaliGemma.Pipeline.Cli.Errors;

/// <summary>A command line the command refuses (a value out of range, an unknown run); the message says what to change.</summary>
internal sealed class UsageException(string message, Exception? innerException = null) : Exception(message, innerException);

/// <summary>A value read back from the result store is not what the worker writes; the message names the row.</summary>
internal sealed class StoredValueException(string message, Exception innerException) : Exception(message, innerException);

/// <summary>The command could not do its work for a reason the message states (exit code 1).</summary>
internal sealed class CommandFailedException(string message, Exception innerException) : Exception(message, innerException);

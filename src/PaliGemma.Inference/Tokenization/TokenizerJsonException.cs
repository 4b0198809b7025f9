namespace PaliGemma.Inference.Tokenization;

/// <summary>A tokenizer.json that cannot be used: wrong model type, a missing field or an unsupported component.</summary>
public sealed class TokenizerJsonException : Exception
{
    /// <summary>Creates the exception; the message should name the file and what was expected.</summary>
    public TokenizerJsonException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the underlying cause.</summary>
    public TokenizerJsonException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception without a message.</summary>
    public TokenizerJsonException()
    {
    }
}

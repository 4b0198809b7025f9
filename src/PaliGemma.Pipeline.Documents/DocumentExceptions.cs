namespace PaliGemma.Pipeline.Documents;

/// <summary>Why a whole document could not be read.</summary>
public enum DocumentFailureReason
{
    /// <summary>The PDF needs a password to open.</summary>
    Encrypted,

    /// <summary>Truncated, damaged, or not the format it was opened as.</summary>
    Corrupt,

    /// <summary>The document has no page.</summary>
    NoPages,

    /// <summary>More pages than <see cref="DocumentOptions.MaxPages"/>.</summary>
    TooManyPages,

    /// <summary>A file larger than <see cref="DocumentOptions.MaxBytes"/>.</summary>
    TooLarge,
}

/// <summary>A document that cannot be read at all; no page of it is processed.</summary>
public sealed class DocumentException : Exception
{
    /// <summary>Creates the exception for <paramref name="reason"/>.</summary>
    public DocumentException(DocumentFailureReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>Creates an exception with reason <see cref="DocumentFailureReason.Corrupt"/>.</summary>
    public DocumentException()
        : this(DocumentFailureReason.Corrupt, "The document is corrupt.")
    {
    }

    /// <summary>Creates an exception with reason <see cref="DocumentFailureReason.Corrupt"/>.</summary>
    public DocumentException(string message)
        : this(DocumentFailureReason.Corrupt, message)
    {
    }

    /// <summary>Creates an exception with reason <see cref="DocumentFailureReason.Corrupt"/>.</summary>
    public DocumentException(string message, Exception innerException)
        : this(DocumentFailureReason.Corrupt, message, innerException)
    {
    }

    /// <summary>Why the document failed.</summary>
    public DocumentFailureReason Reason { get; }

    /// <summary>The failure reason code stored with the result: <c>encrypted</c>, <c>corrupt</c>, <c>no_pages</c>, <c>too_many_pages</c> or <c>too_large</c>.</summary>
    public string ReasonCode => Reason switch
    {
        DocumentFailureReason.Encrypted => "encrypted",
        DocumentFailureReason.Corrupt => "corrupt",
        DocumentFailureReason.NoPages => "no_pages",
        DocumentFailureReason.TooManyPages => "too_many_pages",
        DocumentFailureReason.TooLarge => "too_large",
        _ => throw new InvalidOperationException($"No reason code for {Reason}."),
    };
}

/// <summary>One page that cannot be rendered; the document's other pages are unaffected.</summary>
public sealed class DocumentPageException : Exception
{
    /// <summary>The reason code of a damaged page.</summary>
    public const string Corrupt = "corrupt";

    /// <summary>The reason code of a page over <see cref="DocumentOptions.MaxPagePixels"/> that cannot be scaled down.</summary>
    public const string TooLarge = "too_large";

    /// <summary>The reason code of a page that did not render within <see cref="DocumentOptions.RenderTimeoutMs"/>.</summary>
    public const string Timeout = "timeout";

    /// <summary>Creates the exception for 1-based <paramref name="page"/>.</summary>
    public DocumentPageException(int page, string reasonCode, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Page = page;
        ReasonCode = reasonCode;
    }

    /// <summary>Creates a page exception for page 0 with reason <c>corrupt</c>.</summary>
    public DocumentPageException()
        : this(0, Corrupt, "The page is corrupt.")
    {
    }

    /// <summary>Creates a page exception for page 0 with reason <c>corrupt</c>.</summary>
    public DocumentPageException(string message)
        : this(0, Corrupt, message)
    {
    }

    /// <summary>Creates a page exception for page 0 with reason <c>corrupt</c>.</summary>
    public DocumentPageException(string message, Exception innerException)
        : this(0, Corrupt, message, innerException)
    {
    }

    /// <summary>The 1-based page that failed.</summary>
    public int Page { get; }

    /// <summary>The failure reason code stored with the page: <c>corrupt</c>, <c>too_large</c> or <c>timeout</c>.</summary>
    public string ReasonCode { get; }
}

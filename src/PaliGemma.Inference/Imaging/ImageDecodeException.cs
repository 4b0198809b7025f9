namespace PaliGemma.Inference.Imaging;

/// <summary>Why an input could not be turned into model pixels.</summary>
public enum ImageFailureReason
{
    /// <summary>The input had zero bytes.</summary>
    Empty,

    /// <summary>The bytes are not in any recognised image format.</summary>
    NotAnImage,

    /// <summary>The format was recognised but the data is truncated or damaged.</summary>
    Corrupt,

    /// <summary>The input or its declared dimensions exceed <see cref="ImageDecodeLimits"/>.</summary>
    TooLarge,

    /// <summary>A recognised format using a feature the decoder does not implement.</summary>
    Unsupported,

    /// <summary>
    /// A known non-raster or undecodable format (SVG, PDF, HEIC, AVIF), refused by name rather than reported as
    /// <see cref="NotAnImage"/>; the message names the format.
    /// </summary>
    UnsupportedFormat,
}

/// <summary>An image could not be decoded; <see cref="Reason"/> says why in a form callers can branch on.</summary>
public sealed class ImageDecodeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ImageDecodeException(ImageFailureReason reason, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>The failure category.</summary>
    public ImageFailureReason Reason { get; }
}

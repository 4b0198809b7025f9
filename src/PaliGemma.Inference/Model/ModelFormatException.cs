namespace PaliGemma.Inference.Model;

/// <summary>
/// A model folder is missing a file or a file disagrees with the contract or with another file.
/// The message always names the file and what was expected, so a user can fix the folder.
/// </summary>
public sealed class ModelFormatException : Exception
{
    /// <summary>Creates the exception for <paramref name="file"/>.</summary>
    public ModelFormatException(string file, string message, Exception? inner = null)
        : base($"{file}: {message}", inner)
    {
        File = file;
    }

    /// <summary>The file (path) at fault.</summary>
    public string File { get; }
}

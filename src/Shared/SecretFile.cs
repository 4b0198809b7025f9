namespace PaliGemma.Pipeline;

/// <summary>
/// Reads a secret mounted as a file (Docker/Kubernetes secrets, `*File` options). Compiled into each options project
/// (Data, Catalog, Hosting) as a linked source file, because those projects share no dependency to put it in.
/// </summary>
internal static class SecretFile
{
    /// <summary>The file's content without trailing line breaks (editors and `echo` add one).</summary>
    /// <param name="path">The file.</param>
    /// <param name="setting">The configuration key that named it, e.g. <c>Database:PasswordFile</c>, for the error.</param>
    /// <exception cref="InvalidOperationException">The file cannot be read; the message names the setting, never the content.</exception>
    public static string Read(string path, string setting)
    {
        try
        {
            return File.ReadAllText(path).TrimEnd('\r', '\n');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidOperationException($"{setting} names '{path}', which cannot be read: {e.GetType().Name}.", e);
        }
    }
}

using System.Text.RegularExpressions;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Masks credentials in text that may carry a connection string or a URI, before it is printed or logged:
/// <c>Password=...</c> (and Npgsql's aliases) in Key=Value strings, and the password of <c>scheme://user:password@host</c>.
/// A pattern, not a parser, so it also works on malformed strings and on error messages that quote them.
/// </summary>
public static partial class ConnectionStringRedactor
{
    /// <summary>What replaces a secret.</summary>
    public const string Mask = "***";

    /// <summary>Returns <paramref name="text"/> with every password it recognises replaced by <see cref="Mask"/>.</summary>
    public static string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var masked = KeyValuePassword().Replace(text, m => m.Groups["key"].Value + Mask);
        return UriPassword().Replace(masked, m => m.Groups["user"].Value + ":" + Mask + "@");
    }

    // Password/Pwd (any case, optional spaces) up to the next ';' or the end; a quoted value may hold ';'.
    [GeneratedRegex(@"(?<key>\b(?:password|pwd|ssl\s*password|ssl\s*key\s*password)\s*=\s*)(?:""[^""]*""|'[^']*'|[^;]*)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex KeyValuePassword();

    [GeneratedRegex(@"(?<user>\b[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s/]*@", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex UriPassword();
}

using System.Text;

namespace PaliGemma.Pipeline.Contracts;

/// <summary>
/// Builds a <c>pgpipe</c> command line that a user can paste into a POSIX shell: every value is quoted as one literal
/// word. Whoever suggests a command to a user (the results browser's retry hint, the CLI's own messages) builds it
/// here, so quoting is written once and no value from a store can turn into shell syntax.
/// </summary>
public sealed class PgpipeCommandLine
{
    private readonly StringBuilder _text = new("pgpipe");

    /// <summary>Starts a command line for a subcommand, e.g. <c>run</c> or <c>enqueue</c>.</summary>
    public PgpipeCommandLine(string command)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(command);
        _text.Append(' ').Append(command);
    }

    /// <summary>Appends a positional argument, quoted.</summary>
    public PgpipeCommandLine Argument(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _text.Append(' ').Append(Quote(value));
        return this;
    }

    /// <summary>Appends <c>--name value</c>, the value quoted.</summary>
    public PgpipeCommandLine Option(string name, string value)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(value);
        _text.Append(" --").Append(name).Append(' ').Append(Quote(value));
        return this;
    }

    /// <summary>The command line.</summary>
    public override string ToString() => _text.ToString();

    /// <summary>POSIX shell quoting: bare when every character is safe, else single quotes with ' written as '\''.</summary>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || "_-./:@%+=,".Contains(c, StringComparison.Ordinal)))
        {
            return value;
        }

        return "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
    }
}

using System.CommandLine;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>What one in-process pgpipe invocation printed and returned.</summary>
public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    /// <summary>Stdout split into lines, without the trailing empty one.</summary>
    public IReadOnlyList<string> Lines => Stdout.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();

    public override string ToString() => $"exit {ExitCode}\n--- stdout ---\n{Stdout}\n--- stderr ---\n{Stderr}";
}

/// <summary>
/// Runs the real command tree in-process with its own stdout/stderr writers (InvocationConfiguration), so tests
/// never swap the process-wide Console and can run in parallel.
/// </summary>
public static class CliRunner
{
    public static async Task<CliResult> RunAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var exit = await PgpipeCli.InvokeAsync(args, new InvocationConfiguration { Output = stdout, Error = stderr });
        return new CliResult(exit, stdout.ToString(), stderr.ToString());
    }
}

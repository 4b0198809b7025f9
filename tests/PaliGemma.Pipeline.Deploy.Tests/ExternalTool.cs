using System.Diagnostics;

namespace PaliGemma.Pipeline.Deploy.Tests;

/// <summary>
/// The real programs the chart checks run: helm (installed by tools/install_helm.sh, found through PGPIPE_HELM or
/// PATH), node (the schema validator in tools/node) and the pgpipe binary. A missing one fails the test that needs
/// it, in CI and elsewhere alike: a chart check that did not run must not pass.
/// </summary>
internal static class ExternalTool
{
    /// <summary>The output of one finished run.</summary>
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    /// <summary>helm: PGPIPE_HELM (written to .ci/services.env by .ci/services.sh) or helm on PATH.</summary>
    public static string Helm => Find("PGPIPE_HELM", "helm",
        "run 'bash tools/install_helm.sh DIR' and set PGPIPE_HELM=DIR/helm (.ci/services.sh does both)");

    /// <summary>node, which runs tools/node/validate-manifests.mjs.</summary>
    public static string Node => Find("PGPIPE_NODE", "node", "apt-get install nodejs, then npm ci in tools/node");

    /// <summary>
    /// Runs <paramref name="file"/> to completion (two minutes at most) with <paramref name="stdin"/> as its input.
    /// <paramref name="environment"/> entries replace the inherited ones; a null value removes a variable.
    /// </summary>
    public static Result Run(string file, IEnumerable<string> args, string? stdin = null,
        IReadOnlyDictionary<string, string?>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = stdin is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? RepositoryFiles.Root,
        };
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(name);
            }
            else
            {
                info.Environment[name] = value;
            }
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        }

        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within two minutes.");
        }

        return new Result(process.ExitCode, stdout.GetAwaiter().GetResult(), stderr.GetAwaiter().GetResult());
    }

    private static string Find(string variable, string name, string howToInstall)
    {
        var configured = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(configured)
                ? configured
                : throw new FileNotFoundException($"{variable}={configured} does not exist; {howToInstall}.", configured);
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{name} is not installed (neither {variable} nor PATH has it); {howToInstall}.", name);
    }
}

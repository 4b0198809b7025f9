using System.Diagnostics;

namespace PaliGemma.Inference.Tests.Masks;

/// <summary>
/// Finds the repository's tools and fixtures, and runs Debian's /usr/bin/python3 (python3-numpy, python3-onnx) for the
/// live NumPy references. PALIGEMMA_TEST_PYTHON overrides the interpreter.
/// </summary>
internal static class PythonTools
{
    private static readonly string Python = Environment.GetEnvironmentVariable("PALIGEMMA_TEST_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
    private static readonly Lazy<string?> Unavailable = new(Probe);

    public static string RepoRoot { get; } = FindRoot();

    public static string VaeFixture(string name) => Path.Combine(RepoRoot, "tests", "fixtures", "vae", name);

    public static string Tool(string name) => Path.Combine(RepoRoot, "tools", name);

    /// <summary>True when CI=true: a missing interpreter or module then fails instead of skipping.</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Null when python3 with NumPy and onnx is usable; otherwise why not.</summary>
    public static string? UnavailableReason => Unavailable.Value;

    /// <summary>Runs python3 with the arguments; stdin is written when given. Throws with stderr on a non-zero exit.</summary>
    public static string Run(IEnumerable<string> args, string? stdin = null)
    {
        if (UnavailableReason is { } why)
        {
            throw new InvalidOperationException($"Python reference unavailable (CI={Environment.GetEnvironmentVariable("CI")}): {why}");
        }

        return RunRaw(args, stdin);
    }

    private static string RunRaw(IEnumerable<string> args, string? stdin)
    {
        var psi = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {Python}.");
        // Write stdin while reading stdout: the script answers line by line, and a full pipe would block both sides.
        var writer = stdin is null ? Task.CompletedTask : Task.Run(() =>
        {
            process.StandardInput.Write(stdin);
            process.StandardInput.Close();
        });
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        writer.GetAwaiter().GetResult();
        if (!process.WaitForExit(180_000))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{Python} {string.Join(' ', psi.ArgumentList)} timed out.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Python} {string.Join(' ', psi.ArgumentList)} exited {process.ExitCode}: {stderr.Result}");
        }

        return stdout;
    }

    /// <summary>Little-endian float32 file as floats.</summary>
    public static float[] ReadF32(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var data = new float[bytes.Length / 4];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = BitConverter.ToSingle(bytes, i * 4);
        }

        return data;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "tools", "convert_vae_oid.py")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"tools/convert_vae_oid.py not found above '{AppContext.BaseDirectory}'.");
    }

    private static string? Probe()
    {
        if (!File.Exists(Python))
        {
            return $"{Python} not found (install Debian's python3, python3-numpy, python3-onnx)";
        }

        try
        {
            RunRaw(["-c", "import numpy, onnx"], null);
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return $"{Python} lacks NumPy or onnx (apt-get install python3-numpy python3-onnx): {ex.Message}";
        }
    }
}

/// <summary>A fact that needs python3 with NumPy and onnx: skipped without them, except under CI=true where it runs and fails.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (!PythonTools.IsCi && PythonTools.UnavailableReason is { } why)
        {
            Skip = why;
        }
    }
}

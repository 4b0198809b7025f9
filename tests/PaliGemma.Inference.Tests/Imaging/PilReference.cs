using System.Diagnostics;

namespace PaliGemma.Inference.Tests.Imaging;

/// <summary>
/// Runs tools/pil_reference.py with Debian's /usr/bin/python3 (python3-pil, python3-numpy): the reference for how
/// Hugging Face's Python processor converts and resizes. Generates the test images once per test run into a temp dir.
/// </summary>
internal static class PilReference
{
    /// <summary>Debian's interpreter (it has python3-pil and python3-numpy); PALIGEMMA_TEST_PYTHON overrides it.</summary>
    private static readonly string Python = Environment.GetEnvironmentVariable("PALIGEMMA_TEST_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
    private static readonly Lazy<string?> Unavailable = new(Probe);
    private static readonly Lazy<string> FixtureDir = new(GenerateFixtures);

    /// <summary>True when CI=true: missing tools then fail instead of skipping.</summary>
    public static bool IsCi =>
        string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Null when python3 with PIL and NumPy is usable; otherwise why not.</summary>
    public static string? UnavailableReason => Unavailable.Value;

    /// <summary>The folder holding the generated test images.</summary>
    public static string Fixtures
    {
        get
        {
            if (UnavailableReason is { } why)
            {
                throw new InvalidOperationException($"PIL reference unavailable (CI={Environment.GetEnvironmentVariable("CI")}): {why}");
            }

            return FixtureDir.Value;
        }
    }

    public static string ScriptPath
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null)
            {
                string candidate = Path.Combine(dir, "tools", "pil_reference.py");
                if (File.Exists(candidate))
                {
                    return candidate;
                }

                dir = Path.GetDirectoryName(dir);
            }

            throw new FileNotFoundException($"tools/pil_reference.py not found above {AppContext.BaseDirectory}.");
        }
    }

    public static byte[] ReadFixture(string name) => File.ReadAllBytes(Path.Combine(Fixtures, name));

    /// <summary>PIL's RGB conversion + BICUBIC resize of a fixture: H*W*3 interleaved bytes.</summary>
    public static byte[] Resize(string fixture, int width, int height)
    {
        string output = Path.Combine(Fixtures, $"ref_{Path.GetFileNameWithoutExtension(fixture)}_{width}x{height}.rgb");
        string stdout = Run("resize", Path.Combine(Fixtures, fixture), width.ToString(System.Globalization.CultureInfo.InvariantCulture), height.ToString(System.Globalization.CultureInfo.InvariantCulture), output);
        Assert.Equal($"{width} {height}", stdout.Trim());
        return File.ReadAllBytes(output);
    }

    /// <summary>PIL's RGB conversion only (size after EXIF orientation).</summary>
    public static (byte[] Rgb, int Width, int Height) Convert(string fixture)
    {
        string output = Path.Combine(Fixtures, $"conv_{Path.GetFileNameWithoutExtension(fixture)}.rgb");
        string[] size = Run("convert", Path.Combine(Fixtures, fixture), output).Trim().Split(' ');
        return (File.ReadAllBytes(output), int.Parse(size[0], System.Globalization.CultureInfo.InvariantCulture), int.Parse(size[1], System.Globalization.CultureInfo.InvariantCulture));
    }

    public static double MeanAbsDiff(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        Assert.Equal(a.Length, b.Length);
        long sum = 0;
        for (int i = 0; i < a.Length; i++)
        {
            sum += Math.Abs(a[i] - b[i]);
        }

        return (double)sum / a.Length;
    }

    private static string? Probe()
    {
        if (!File.Exists(Python))
        {
            return $"{Python} not found (install Debian's python3, python3-pil, python3-numpy)";
        }

        try
        {
            Run("-c", "import PIL, numpy");
            return null;
        }
        catch (InvalidOperationException ex)
        {
            return $"{Python} lacks PIL or NumPy (apt-get install python3-pil python3-numpy): {ex.Message}";
        }
    }

    private static string GenerateFixtures()
    {
        string dir = Path.Combine(Path.GetTempPath(), "paligemma-imaging-" + Guid.NewGuid().ToString("N"));
        Run("fixtures", dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort: a leftover temp folder is harmless.
            }
        };
        return dir;
    }

    private static string Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (args[0] != "-c")
        {
            psi.ArgumentList.Add(ScriptPath);
        }

        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using Process p = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {Python}.");
        Task<string> stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{Python} {string.Join(' ', args)} timed out.");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Python} {string.Join(' ', psi.ArgumentList)} exited {p.ExitCode}: {stderr.Result}");
        }

        return stdout;
    }
}

/// <summary>A fact that needs the PIL reference: skipped without it, except under CI=true where it runs and fails.</summary>
public sealed class PilFactAttribute : FactAttribute
{
    public PilFactAttribute()
    {
        if (!PilReference.IsCi && PilReference.UnavailableReason is { } why)
        {
            Skip = why;
        }
    }
}

/// <summary>A theory that needs the PIL reference: skipped without it, except under CI=true where it runs and fails.</summary>
public sealed class PilTheoryAttribute : TheoryAttribute
{
    public PilTheoryAttribute()
    {
        if (!PilReference.IsCi && PilReference.UnavailableReason is { } why)
        {
            Skip = why;
        }
    }
}

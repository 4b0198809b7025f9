using System.Globalization;
using System.Text.Json;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// The committed bad-input corpus (tests/fixtures/bad-inputs, made by tools/gen_bad_inputs.py): each file with its S3
/// key, its local-folder key, its kind and the outcome PIL or hand reasoning expects.
/// </summary>
public static class BadInputCorpus
{
    private static readonly Lazy<(long MaxObjectBytes, IReadOnlyList<BadInput> Files)> Loaded = new(Load);

    /// <summary>The folder holding the files and manifest.json.</summary>
    public static string Folder { get; } = FindFolder();

    /// <summary>Catalog:MaxObjectBytes the tests configure; one valid PNG of the corpus is just over it.</summary>
    public static long MaxObjectBytes => Loaded.Value.MaxObjectBytes;

    public static IReadOnlyList<BadInput> Files => Loaded.Value.Files;

    /// <summary>Peak resident set ("high water mark") of a process from /proc, in bytes; null where /proc is absent.</summary>
    public static long? PeakRssBytes(int pid)
    {
        var status = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status";
        if (!File.Exists(status))
        {
            return null;
        }

        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return line is null ? null : long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    private static string FindFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "bad-inputs");
            if (File.Exists(Path.Combine(candidate, "manifest.json")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"tests/fixtures/bad-inputs/manifest.json not found above {AppContext.BaseDirectory}; regenerate with tools/gen_bad_inputs.py.");
    }

    private static (long, IReadOnlyList<BadInput>) Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, "manifest.json")));
        var root = doc.RootElement;
        var files = new List<BadInput>();
        foreach (var f in root.GetProperty("files").EnumerateArray())
        {
            var expected = f.GetProperty("expected");
            var isResult = expected.GetProperty("outcome").GetString() == "result";
            var file = f.GetProperty("file").GetString()!;
            files.Add(new BadInput(file, f.GetProperty("key").GetString()!, f.GetProperty("local_key").GetString()!, f.GetProperty("kind").GetString()!,
                isResult ? null : expected.GetProperty("reason").GetString(),
                isResult ? expected.GetProperty("width").GetInt32() : 0, isResult ? expected.GetProperty("height").GetInt32() : 0,
                File.ReadAllBytes(Path.Combine(Folder, file))));
        }

        return (root.GetProperty("max_object_bytes").GetInt64(), files);
    }
}

/// <summary>One corpus file. <see cref="Reason"/> is null when a result is expected (of <see cref="Width"/> x <see cref="Height"/> after EXIF orientation).</summary>
public sealed record BadInput(string File, string Key, string LocalKey, string Kind, string? Reason, int Width, int Height, byte[] Content)
{
    public bool ExpectsResult => Reason is null;

    public string Expected => Reason ?? $"result {Width}x{Height}";
}

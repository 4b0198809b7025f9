using System.Globalization;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// The embedded pipeline writes only where the user said: `pgpipe run` in an empty working directory creates the
/// default store there (./pgpipe.db, with SQLite's -wal/-shm companions) and `pgpipe export --out` creates the export
/// file; besides the local hash cache under $XDG_CACHE_HOME/pgpipe, nothing else appears or changes in the working
/// directory, HOME, TMPDIR, the catalog folder or the model folder. A file link in the catalog pointing outside it is skipped, so the file it points to is never processed.
/// </summary>
public sealed class NoStrayWritesTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _base = Directory.CreateTempSubdirectory("pgpipe-nowrites-").FullName;
    private readonly List<PgpipeProcess> _processes = [];

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            output.WriteLine(process.Log);
            process.Dispose();
        }

        Directory.Delete(_base, recursive: true);
    }

    [Fact]
    public async Task Run_status_and_export_write_only_the_store_and_the_export_files()
    {
        // Given an empty working directory, HOME and TMPDIR, a catalog with a link leading out of it, and an output folder
        var cwd = Folder("cwd");
        var home = Folder("home");
        var tmp = Folder("tmp");
        var exports = Folder("out");
        var catalog = Folder("catalog");
        var outside = Folder("outside");
        for (var i = 0; i < 3; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(catalog, $"img{i}.png"), Images.Png(100 + i));
        }

        await File.WriteAllBytesAsync(Path.Combine(outside, "private.png"), Images.Png(999));
        File.CreateSymbolicLink(Path.Combine(catalog, "leak.png"), Path.Combine(outside, "private.png"));
        var environment = new Dictionary<string, string>
        {
            ["HOME"] = home,
            ["TMPDIR"] = tmp,
            ["XDG_CACHE_HOME"] = Path.Combine(home, ".cache"),
            ["XDG_CONFIG_HOME"] = Path.Combine(home, ".config"),
            ["Inference__IntraOpThreads"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        };
        var before = Snapshot(_base);
        var modelBefore = Snapshot(PipelineRun.TinyModel);

        // When the embedded run, status and both exports run there
        await RunAsync("run", environment, cwd, "run", catalog, "--task", "caption en", "--max-new-tokens", "4", "--model", PipelineRun.TinyModel, "--run", "nowrites");
        var status = await RunAsync("status", environment, cwd, "status", "nowrites", "--json");
        await RunAsync("export-jsonl", environment, cwd, "export", "nowrites", "--format", "jsonl", "--out", Path.Combine(exports, "results.jsonl"));
        await RunAsync("export-coco", environment, cwd, "export", "nowrites", "--format", "coco", "--out", Path.Combine(exports, "results.coco.json"));

        // Then exactly the store and the two export files are new, and nothing else changed anywhere
        var after = Snapshot(_base);
        var created = after.Keys.Except(before.Keys).Order(StringComparer.Ordinal).ToList();
        var changed = before.Keys.Where(k => after.TryGetValue(k, out var now) && now != before[k]).ToList();
        var removed = before.Keys.Except(after.Keys).ToList();
        string[] allowedStore = ["cwd/pgpipe.db", "cwd/pgpipe.db-wal", "cwd/pgpipe.db-shm"];
        string[] expectedExports = ["out/results.coco.json", "out/results.jsonl"];
        // The local hash cache is the one other file, where caches belong ($XDG_CACHE_HOME/pgpipe), so the next run
        // over the catalog need not read it again.
        var hashCache = created.Where(c => c.StartsWith("home/.cache/pgpipe/hashes-", StringComparison.Ordinal)).Concat(["home/.cache", "home/.cache/pgpipe"]).ToList();
        Assert.Contains(hashCache, c => c.EndsWith(".db", StringComparison.Ordinal));
        var stray = created.Except(allowedStore).Except(expectedExports).Except(hashCache).ToList();
        Assert.True(stray.Count == 0, "Files written outside the store and the export file: " + string.Join(", ", stray));
        Assert.Contains("cwd/pgpipe.db", created);
        Assert.All(expectedExports, e => Assert.Contains(e, created));
        Assert.True(changed.Count == 0, "Files modified: " + string.Join(", ", changed));
        Assert.True(removed.Count == 0, "Files removed: " + string.Join(", ", removed));
        Assert.Equal(modelBefore, Snapshot(PipelineRun.TinyModel));

        // And the linked file outside the catalog was never listed or read
        Assert.Contains("\"listed\":3", status.StandardOutput, StringComparison.Ordinal);
        var jsonl = await File.ReadAllTextAsync(Path.Combine(exports, "results.jsonl"));
        Assert.DoesNotContain("leak.png", jsonl, StringComparison.Ordinal);
        Assert.DoesNotContain("private.png", jsonl, StringComparison.Ordinal);
        Assert.Equal(3, jsonl.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    private string Folder(string name) => Directory.CreateDirectory(Path.Combine(_base, name)).FullName;

    private async Task<PgpipeProcess> RunAsync(string name, Dictionary<string, string> environment, string cwd, params string[] args)
    {
        var process = PgpipeProcess.StartIn(name, environment, cwd, args);
        _processes.Add(process);
        var code = await process.WaitForExitAsync(TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"pgpipe {args[0]} exited with {code}:\n{process.Log}");
        return process;
    }

    /// <summary>Every file, link and folder below <paramref name="root"/> (links not followed); files with size and modification time.</summary>
    private static Dictionary<string, string> Snapshot(string root)
    {
        var entries = new Dictionary<string, string>(StringComparer.Ordinal);
        var options = new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0, IgnoreInaccessible = false };
        foreach (var info in new DirectoryInfo(root).EnumerateFileSystemInfos("*", options))
        {
            var key = Path.GetRelativePath(root, info.FullName).Replace(Path.DirectorySeparatorChar, '/');
            // A folder's own time changes whenever an entry is added below it; what is added is what counts.
            entries[key] = info switch
            {
                DirectoryInfo => "folder " + info.LinkTarget,
                FileInfo { LinkTarget: { } target } => "link " + target,
                FileInfo file => string.Create(CultureInfo.InvariantCulture, $"{file.Length} {file.LastWriteTimeUtc.Ticks}"),
                _ => "other",
            };
        }

        return entries;
    }
}

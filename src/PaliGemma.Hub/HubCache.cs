using System.Text.RegularExpressions;

namespace PaliGemma.Hub;

/// <summary>
/// The huggingface_hub cache layout under one cache folder:
/// <code>
/// models--org--name/blobs/&lt;etag&gt;                    file contents, named by the Hub's etag (sha256 for LFS files, git blob sha1 otherwise)
/// models--org--name/blobs/&lt;etag&gt;.incomplete         a download in progress (never used as a model file)
/// models--org--name/snapshots/&lt;commit&gt;/&lt;path&gt;     relative symlink to ../../blobs/&lt;etag&gt; (one ../ more per folder level)
/// models--org--name/refs/&lt;revision&gt;                 the commit hash, with no trailing newline
/// models--org--name/.no_exist/&lt;commit&gt;/&lt;path&gt;     empty marker: the file does not exist at that commit
/// .locks/models--org--name/&lt;etag&gt;.lock             one writer per blob, across processes (flock, as Python's filelock)
/// </code>
/// </summary>
public sealed partial class HubCache
{
    /// <summary>Opens the cache at <paramref name="directory"/>; nothing is created until something is written.</summary>
    public HubCache(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = Path.GetFullPath(directory);
    }

    /// <summary>The cache folder.</summary>
    public string Directory { get; }

    /// <summary>The folder of one repo.</summary>
    public string RepoDirectory(string repo) => Path.Combine(Directory, HubModelId.CacheFolderNameOf(repo));

    /// <summary>The blob holding a file's bytes.</summary>
    public string BlobPath(string repo, string etag) => Path.Combine(RepoDirectory(repo), "blobs", etag);

    /// <summary>The partial download of a blob.</summary>
    public string IncompletePath(string repo, string etag) => BlobPath(repo, etag) + ".incomplete";

    /// <summary>The lock file guarding a blob's download.</summary>
    public string LockPath(string repo, string etag) => Path.Combine(Directory, ".locks", HubModelId.CacheFolderNameOf(repo), etag + ".lock");

    /// <summary>The snapshot folder of a commit.</summary>
    public string SnapshotDirectory(string repo, string commit) => Path.Combine(RepoDirectory(repo), "snapshots", commit);

    /// <summary>A file's path inside a snapshot.</summary>
    public string SnapshotPath(string repo, string commit, string path) => Path.Combine(SnapshotDirectory(repo, commit), ToLocal(path));

    /// <summary>The ref file naming a revision's commit.</summary>
    public string RefPath(string repo, string revision) => Path.Combine(RepoDirectory(repo), "refs", ToLocal(revision));

    /// <summary>The marker recording that <paramref name="path"/> does not exist at <paramref name="commit"/>.</summary>
    public string NoExistPath(string repo, string commit, string path) => Path.Combine(RepoDirectory(repo), ".no_exist", commit, ToLocal(path));

    /// <summary>
    /// The commit a revision points to in the cache: the revision itself when it is a commit hash with a snapshot,
    /// else the contents of refs/&lt;revision&gt;; null when unknown.
    /// </summary>
    public string? ResolveCommit(string repo, string revision)
    {
        if (HubModelId.IsCommitHash(revision))
        {
            return System.IO.Directory.Exists(SnapshotDirectory(repo, revision)) ? revision : null;
        }

        var refPath = RefPath(repo, revision);
        if (!File.Exists(refPath))
        {
            return null;
        }

        var commit = File.ReadAllText(refPath).Trim();
        return HubModelId.IsCommitHash(commit) ? commit : null;
    }

    /// <summary>Writes refs/&lt;revision&gt; = commit (no trailing newline, as huggingface_hub), unless the revision is the commit.</summary>
    public void WriteRef(string repo, string revision, string commit)
    {
        if (revision == commit)
        {
            return;
        }

        var refPath = RefPath(repo, revision);
        if (File.Exists(refPath) && File.ReadAllText(refPath) == commit)
        {
            return;
        }

        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(refPath)!);
        // Write then rename, so a reader never sees an empty ref.
        var temp = refPath + "." + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllText(temp, commit);
        File.Move(temp, refPath, overwrite: true);
    }

    /// <summary>Records that a file does not exist at a commit (huggingface_hub's .no_exist marker).</summary>
    public void MarkMissing(string repo, string commit, string path)
    {
        var marker = NoExistPath(repo, commit, path);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(marker)!);
        if (!File.Exists(marker))
        {
            File.WriteAllBytes(marker, []);
        }
    }

    /// <summary>
    /// Points snapshots/&lt;commit&gt;/&lt;path&gt; at its blob with a relative symlink (so the cache can be moved or mounted
    /// elsewhere). Where symlinks are not allowed (Windows without developer mode) the blob is copied, as
    /// huggingface_hub does.
    /// </summary>
    public void LinkSnapshotFile(string repo, string commit, string path, string etag)
    {
        var pointer = SnapshotPath(repo, commit, path);
        var pointerDir = Path.GetDirectoryName(pointer)!;
        System.IO.Directory.CreateDirectory(pointerDir);
        var blob = BlobPath(repo, etag);
        var target = Path.GetRelativePath(pointerDir, blob);
        var existing = new FileInfo(pointer);
        if (existing.LinkTarget == target)
        {
            return;
        }

        try
        {
            // Made beside it and renamed over it: two pulls linking the same file at once never see "file exists",
            // and a reader never sees the link missing.
            var temp = pointer + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.CreateSymbolicLink(temp, target);
            File.Move(temp, pointer, overwrite: true);
        }
        catch (Exception ex) when (OperatingSystem.IsWindows() && ex is IOException or UnauthorizedAccessException)
        {
            File.Copy(blob, pointer, overwrite: true);
        }
    }

    /// <summary>Every model repo in the cache, with its refs, snapshots and blob bytes.</summary>
    public IReadOnlyList<CachedRepo> ListRepos()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        var repos = new List<CachedRepo>();
        foreach (var dir in System.IO.Directory.EnumerateDirectories(Directory, "models--*").Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(dir)["models--".Length..];
            var parts = name.Split("--");
            if (parts.Length != 2)
            {
                continue;
            }

            var repo = parts[0] + "/" + parts[1];
            var refs = new Dictionary<string, string>(StringComparer.Ordinal);
            var refsDir = Path.Combine(dir, "refs");
            if (System.IO.Directory.Exists(refsDir))
            {
                foreach (var file in System.IO.Directory.EnumerateFiles(refsDir, "*", SearchOption.AllDirectories))
                {
                    refs[Path.GetRelativePath(refsDir, file).Replace('\\', '/')] = File.ReadAllText(file).Trim();
                }
            }

            var snapshots = new List<CachedSnapshot>();
            var snapshotsDir = Path.Combine(dir, "snapshots");
            if (System.IO.Directory.Exists(snapshotsDir))
            {
                foreach (var snapshot in System.IO.Directory.EnumerateDirectories(snapshotsDir).Order(StringComparer.Ordinal))
                {
                    var commit = Path.GetFileName(snapshot);
                    var files = System.IO.Directory.EnumerateFiles(snapshot, "*", SearchOption.AllDirectories)
                        .Where(File.Exists)
                        .Select(f => Path.GetRelativePath(snapshot, f).Replace('\\', '/'))
                        .Order(StringComparer.Ordinal)
                        .ToList();
                    var size = files.Sum(f => LinkedLength(Path.Combine(snapshot, f)));
                    var names = refs.Where(r => r.Value == commit).Select(r => r.Key).Order(StringComparer.Ordinal).ToList();
                    snapshots.Add(new CachedSnapshot(commit, names, files, size, ModelFileSelection.DtypesPresent(files)));
                }
            }

            var blobsDir = Path.Combine(dir, "blobs");
            var blobBytes = System.IO.Directory.Exists(blobsDir)
                ? System.IO.Directory.EnumerateFiles(blobsDir).Where(f => !f.EndsWith(".incomplete", StringComparison.Ordinal)).Sum(f => new FileInfo(f).Length)
                : 0;
            repos.Add(new CachedRepo(repo, dir, refs, snapshots, blobBytes));
        }

        return repos;
    }

    /// <summary>
    /// Re-hashes every blob of a repo against its name: sha256 for LFS blobs (64 hex digits), the git blob sha1 for
    /// the others (40 hex digits). A blob that does not match is deleted (its snapshot links then dangle, so the
    /// next pull fetches it again) and reported.
    /// </summary>
    public async Task<IReadOnlyList<BlobCheck>> VerifyAsync(string repo, IProgress<BlobCheck>? progress, CancellationToken cancellationToken)
    {
        var blobsDir = Path.Combine(RepoDirectory(repo), "blobs");
        if (!System.IO.Directory.Exists(blobsDir))
        {
            throw new HubCacheMissException($"Model repo '{repo}' is not in the Hugging Face cache at {Directory}.");
        }

        var results = new List<BlobCheck>();
        foreach (var blob in System.IO.Directory.EnumerateFiles(blobsDir).Order(StringComparer.Ordinal))
        {
            var etag = Path.GetFileName(blob);
            if (!EtagPattern().IsMatch(etag))
            {
                continue;
            }

            var kind = etag.Length == 64 ? BlobHashKind.Sha256 : BlobHashKind.GitSha1;
            var length = new FileInfo(blob).Length;
            string actual;
            // Read-only: nothing to flush, so a synchronous dispose waits on nothing.
            using (var stream = new FileStream(blob, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan))
            {
                actual = kind == BlobHashKind.Sha256
                    ? await BlobHasher.Sha256Async(stream, cancellationToken).ConfigureAwait(false)
                    : await BlobHasher.GitBlobSha1Async(stream, length, cancellationToken).ConfigureAwait(false);
            }

            var ok = string.Equals(actual, etag, StringComparison.Ordinal);
            if (!ok)
            {
                File.Delete(blob);
            }

            var check = new BlobCheck(etag, kind, length, actual, ok);
            results.Add(check);
            progress?.Report(check);
        }

        return results;
    }

    private static long LinkedLength(string path)
    {
        var info = new FileInfo(path);
        return (info.ResolveLinkTarget(returnFinalTarget: true) as FileInfo ?? info).Length;
    }

    private static string ToLocal(string hubPath) => hubPath.Replace('/', Path.DirectorySeparatorChar);

    [GeneratedRegex("^([0-9a-f]{40}|[0-9a-f]{64})$")]
    private static partial Regex EtagPattern();
}

/// <summary>One repo in the cache.</summary>
/// <param name="Repo">owner/name.</param>
/// <param name="Directory">Its models--owner--name folder.</param>
/// <param name="Refs">Revision name to commit.</param>
/// <param name="Snapshots">The snapshots present.</param>
/// <param name="BlobBytes">Bytes of all complete blobs (shared between snapshots, so counted once).</param>
public sealed record CachedRepo(string Repo, string Directory, IReadOnlyDictionary<string, string> Refs, IReadOnlyList<CachedSnapshot> Snapshots, long BlobBytes);

/// <summary>One snapshot (commit) of a cached repo.</summary>
/// <param name="Commit">The commit hash.</param>
/// <param name="Revisions">Refs pointing at it.</param>
/// <param name="Files">Files present (links whose blob exists), repo-relative with '/'.</param>
/// <param name="Bytes">Sum of the present files' sizes.</param>
/// <param name="Dtypes">Dtypes whose three graphs are all present.</param>
public sealed record CachedSnapshot(string Commit, IReadOnlyList<string> Revisions, IReadOnlyList<string> Files, long Bytes, IReadOnlyList<string> Dtypes);

/// <summary>How a blob's name is derived from its bytes.</summary>
public enum BlobHashKind
{
    /// <summary>LFS file: sha256 of the contents.</summary>
    Sha256,
    /// <summary>Regular git file: sha1 of "blob {size}\0" + contents.</summary>
    GitSha1,
}

/// <summary>The outcome of re-hashing one blob.</summary>
public sealed record BlobCheck(string Etag, BlobHashKind Kind, long Bytes, string Actual, bool Ok);

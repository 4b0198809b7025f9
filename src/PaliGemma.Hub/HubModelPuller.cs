using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using PaliGemma.ModelLayout;

namespace PaliGemma.Hub;

/// <summary>The outcome of a pull.</summary>
/// <param name="Id">Repo and the revision asked for.</param>
/// <param name="Commit">The commit the revision resolved to.</param>
/// <param name="SnapshotDirectory">snapshots/&lt;commit&gt;: a model folder once the needed files are present.</param>
/// <param name="Files">The files made present.</param>
/// <param name="DownloadedBytes">Bytes fetched by this pull (0 when everything was cached).</param>
public sealed record PullResult(HubModelId Id, string Commit, string SnapshotDirectory, IReadOnlyList<HubTreeFile> Files, long DownloadedBytes);

/// <summary>
/// Pulls the files of a repo revision into the cache the way huggingface_hub does, plus what it leaves out: sha256
/// (or git blob id) verification of every file, resume of an interrupted download across runs from
/// blobs/&lt;etag&gt;.incomplete with a Range request after a fresh HEAD (signed URLs expire), and several files at
/// once. A blob appears under its final name only after it is complete and verified, and a snapshot link only
/// after its blob, so a half-written file is never used as a model file.
/// </summary>
public sealed class HubModelPuller(HubClient client, HubCache cache, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;

    /// <summary>Pulls the selected files of <paramref name="id"/>.</summary>
    public async Task<PullResult> PullAsync(HubModelId id, ModelFileSelection selection, IPullProgress? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentNullException.ThrowIfNull(selection);
        if (client.Settings.Offline)
        {
            throw new HubUnavailableException($"HF_HUB_OFFLINE is set: cannot pull '{id}'. Unset it to download.");
        }

        // One HEAD pins the revision to a commit, so the listing and every file come from the same commit even if
        // the branch moves meanwhile; it also surfaces gated/not-found/revision errors before any work.
        HubFileMetadata probe;
        try
        {
            probe = await client.GetFileMetadataAsync(id.Repo, id.Revision, "config.json", cancellationToken).ConfigureAwait(false);
        }
        catch (HubEntryNotFoundException ex)
        {
            if (ex.Commit is { } missingAt)
            {
                TryStorage(() => cache.MarkMissing(id.Repo, missingAt, "config.json"));
                TryStorage(() => cache.WriteRef(id.Repo, id.Revision, missingAt));
            }

            throw new HubEntryNotFoundException($"Model repo '{id.Repo}' has no config.json at revision '{id.Revision}': it is not a model export this tool can load.") { Commit = ex.Commit };
        }

        var commit = probe.Commit;
        var listing = await client.ListFilesAsync(id.Repo, commit, cancellationToken).ConfigureAwait(false);
        var selected = listing.Where(f => selection.Matches(f.Path)).OrderBy(f => f.Path, StringComparer.Ordinal).ToList();
        if (selection.Dtype is { } dtype && !selection.All)
        {
            var missing = ExportLayout.RequiredFiles(dtype).Where(r => selected.All(f => f.Path != r)).ToList();
            if (missing.Count > 0)
            {
                var present = ModelFileSelection.DtypesPresent(listing.Select(f => f.Path));
                throw new HubEntryNotFoundException(
                    $"Model repo '{id.Repo}' at {commit[..10]} lacks {string.Join(", ", missing)} for dtype '{ModelDtypes.Name(dtype)}'. " +
                    (present.Count == 0 ? "It has no complete set of PaliGemma ONNX graphs." : $"Dtypes it has: {string.Join(", ", present)}."));
            }
        }

        progress?.Planned(selected);
        EnsureSpace(id.Repo, selected);
        TryStorage(() => cache.WriteRef(id.Repo, id.Revision, commit));
        long downloaded = 0;
        await Parallel.ForEachAsync(selected, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, client.Options.Parallelism), CancellationToken = cancellationToken },
            async (file, ct) =>
            {
                var bytes = await PullFileAsync(id.Repo, commit, file, progress, ct).ConfigureAwait(false);
                Interlocked.Add(ref downloaded, bytes);
            }).ConfigureAwait(false);
        return new PullResult(id, commit, cache.SnapshotDirectory(id.Repo, commit), selected, downloaded);
    }

    private async Task<long> PullFileAsync(string repo, string commit, HubTreeFile file, IPullProgress? progress, CancellationToken cancellationToken)
    {
        var meta = await client.GetFileMetadataAsync(repo, commit, file.Path, cancellationToken).ConfigureAwait(false);
        var blob = cache.BlobPath(repo, meta.Etag);
        if (IsComplete(blob, meta.Size))
        {
            TryStorage(() => cache.LinkSnapshotFile(repo, commit, file.Path, meta.Etag));
            progress?.Advanced(file.Path, meta.Size);
            progress?.Completed(file.Path, downloaded: false);
            return 0;
        }

        long fetched;
        var lockPath = cache.LockPath(repo, meta.Etag);
        await using (await AcquireLockAsync(lockPath, cancellationToken).ConfigureAwait(false))
        {
            // Another process may have finished it while we waited.
            fetched = IsComplete(blob, meta.Size) ? 0 : await DownloadBlobAsync(repo, commit, file, meta, progress, cancellationToken).ConfigureAwait(false);
        }

        TryStorage(() => cache.LinkSnapshotFile(repo, commit, file.Path, meta.Etag));
        progress?.Advanced(file.Path, meta.Size);
        progress?.Completed(file.Path, downloaded: fetched > 0);
        return fetched;
    }

    private async Task<long> DownloadBlobAsync(string repo, string commit, HubTreeFile file, HubFileMetadata meta, IPullProgress? progress, CancellationToken cancellationToken)
    {
        var blob = cache.BlobPath(repo, meta.Etag);
        var incomplete = cache.IncompletePath(repo, meta.Etag);
        TryStorage(() => Directory.CreateDirectory(Path.GetDirectoryName(blob)!));
        long fetched = 0;
        for (var attempt = 1; ; attempt++)
        {
            var offset = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
            if (offset > meta.Size)
            {
                // Not a prefix of this file; start over.
                File.Delete(incomplete);
                offset = 0;
            }

            progress?.Advanced(file.Path, offset);
            if (offset < meta.Size)
            {
                try
                {
                    var stream = OpenIncomplete(incomplete);
                    await using (stream.ConfigureAwait(false))
                    {
                        var position = offset;
                        var start = await client.DownloadAsync(meta.Location, stream, offset, n =>
                        {
                            position += n;
                            Interlocked.Add(ref fetched, n);
                            progress?.Advanced(file.Path, position);
                        }, cancellationToken).ConfigureAwait(false);
                        if (start != offset)
                        {
                            // The server ignored Range and resent from 0; position counted from the old offset.
                            position -= offset - start;
                            progress?.Advanced(file.Path, position);
                        }

                        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (IsTransient(ex))
                {
                    var at = File.Exists(incomplete) ? new FileInfo(incomplete).Length : 0;
                    if (attempt >= client.Options.MaxDownloadAttempts)
                    {
                        throw new HubUnavailableException(
                            $"{repo}/{file.Path}: download interrupted at {at} of {meta.Size} bytes after {attempt} attempts ({ex.Message}); run the pull again to resume from there.", ex);
                    }

                    HubLog.Resuming(_logger, file.Path, at, meta.Size, ex.Message);
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(client.Options.InitialBackoff.TotalSeconds * attempt, client.Options.MaxBackoff.TotalSeconds)), cancellationToken).ConfigureAwait(false);
                    // Signed CDN URLs expire: ask the Hub again before resuming.
                    meta = await RefreshAsync(repo, commit, file, meta, cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            var length = new FileInfo(incomplete).Length;
            if (length == meta.Size)
            {
                break;
            }

            if (attempt >= client.Options.MaxDownloadAttempts)
            {
                throw new HubUnavailableException($"{repo}/{file.Path}: got {length} of {meta.Size} bytes after {attempt} attempts; run the pull again to resume.");
            }

            HubLog.Resuming(_logger, file.Path, length, meta.Size, "connection closed early");
            meta = await RefreshAsync(repo, commit, file, meta, cancellationToken).ConfigureAwait(false);
        }

        await VerifyAsync(repo, file, meta, incomplete, cancellationToken).ConfigureAwait(false);
        TryStorage(() => File.Move(incomplete, blob, overwrite: true));
        return fetched;
    }

    private async Task<HubFileMetadata> RefreshAsync(string repo, string commit, HubTreeFile file, HubFileMetadata previous, CancellationToken cancellationToken)
    {
        var fresh = await client.GetFileMetadataAsync(repo, commit, file.Path, cancellationToken).ConfigureAwait(false);
        if (fresh.Etag != previous.Etag || fresh.Size != previous.Size)
        {
            throw new HubException($"{repo}/{file.Path} changed at pinned commit {commit} (etag {previous.Etag} -> {fresh.Etag}); the Hub or a proxy is inconsistent.");
        }

        return fresh;
    }

    private async Task VerifyAsync(string repo, HubTreeFile file, HubFileMetadata meta, string incomplete, CancellationToken cancellationToken)
    {
        // LFS files: the tree's lfs.oid is the sha256 (and the etag). Regular files: the etag is the git blob id.
        string expected;
        string actual;
        string kind;
        await using (var stream = new FileStream(incomplete, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            if (file.LfsSha256 is { } sha)
            {
                kind = "sha256";
                expected = sha;
                actual = await BlobHasher.Sha256Async(stream, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                kind = "git blob id";
                expected = file.Oid;
                actual = await BlobHasher.GitBlobSha1Async(stream, stream.Length, cancellationToken).ConfigureAwait(false);
            }
        }

        // The content is checked against the tree listing; the etag only names the blob (on the Hub it is the same
        // hash, but a mirror with other etags still yields verified bytes).
        if (!string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase))
        {
            File.Delete(incomplete);
            var message = $"{repo}/{file.Path}: downloaded bytes have {kind} {actual}, expected {expected} (etag {meta.Etag}); the download was deleted. " +
                "Run the pull again; if this repeats, a proxy or mirror is serving wrong bytes.";
            HubLog.IntegrityFailure(_logger, file.Path, message);
            throw new HubIntegrityException(message);
        }
    }

    private async Task<FileStream> AcquireLockAsync(string lockPath, CancellationToken cancellationToken)
    {
        TryStorage(() => Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!));
        var logged = false;
        while (true)
        {
            try
            {
                // FileShare.None takes flock(LOCK_EX) on Unix: the same lock Python's filelock takes on this file.
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (UnauthorizedAccessException ex)
            {
                throw HubStorageErrors.StorageError(ex, lockPath);
            }
            catch (IOException ex) when (!IsStorageFailure(ex))
            {
                if (!logged)
                {
                    HubLog.WaitingForLock(_logger, lockPath);
                    logged = true;
                }

                await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void EnsureSpace(string repo, IReadOnlyList<HubTreeFile> files)
    {
        try
        {
            var dir = cache.Directory;
            TryStorage(() => Directory.CreateDirectory(dir));
            var needed = 0L;
            foreach (var f in files)
            {
                var blobName = f.LfsSha256 ?? f.Oid;
                if (!File.Exists(cache.BlobPath(repo, blobName)))
                {
                    var partial = cache.IncompletePath(repo, blobName);
                    needed += f.Size - (File.Exists(partial) ? new FileInfo(partial).Length : 0);
                }
            }

            var free = new DriveInfo(dir).AvailableFreeSpace;
            if (needed > free)
            {
                throw new HubStorageException($"Disk full: {repo} needs {needed:N0} more bytes in {dir} but only {free:N0} are free. Free space or point HF_HUB_CACHE (or HF_HOME) at a bigger volume.");
            }
        }
        catch (Exception ex) when (ex is ArgumentException or IOException)
        {
            // No drive information (unusual mounts): the write itself will report a full disk.
        }
    }

    private static FileStream OpenIncomplete(string path)
    {
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw HubStorageErrors.StorageError(ex, path);
        }
    }

    private static bool IsComplete(string blob, long size) => File.Exists(blob) && new FileInfo(blob).Length == size;

    private static bool IsTransient(Exception ex) =>
        ex is HubUnavailableException or HttpRequestException or IOException
        || (ex is HubException && ex.GetType() == typeof(HubException));

    private static bool IsStorageFailure(IOException ex) => HubStorageErrors.IsDiskFull(ex) || HubStorageErrors.IsReadOnlyFileSystem(ex);

    private static void TryStorage(Action action)
    {
        try
        {
            action();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw HubStorageErrors.StorageError(ex, ex is IOException io && io.Message.Length > 0 ? ExtractPath(io) : "the Hugging Face cache");
        }
    }

    private static string ExtractPath(IOException ex)
    {
        var start = ex.Message.IndexOf('\'', StringComparison.Ordinal);
        var end = start >= 0 ? ex.Message.IndexOf('\'', start + 1) : -1;
        return end > start ? ex.Message[(start + 1)..end] : "the Hugging Face cache";
    }
}

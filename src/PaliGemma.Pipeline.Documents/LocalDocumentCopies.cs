using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;

namespace PaliGemma.Pipeline.Documents;

/// <summary>A document's local copy: its path and size.</summary>
/// <param name="Path">The file, valid until the copies are trimmed; an open handle keeps reading it after that.</param>
/// <param name="Size">Its size in bytes.</param>
public sealed record DocumentFile(string Path, long Size);

/// <summary>
/// Local copies of documents, one per (uri, ETag), in a folder bounded in bytes. Rendering needs random access to a
/// document, and its pages are asked for many times (a worker's batches, a browser's thumbnails), so each copy is
/// made once and kept; concurrent callers asking for the same document share one copy being made. Least recently used
/// copies are deleted first, never the one just made. Deleting a file an open reader still holds is safe on Linux
/// (the reader keeps its inode).
/// </summary>
public sealed class LocalDocumentCopies : IDisposable
{
    private readonly long _capacity;
    private readonly string _folder;
    private readonly bool _ownsFolder;
    private readonly ConcurrentDictionary<string, Lazy<Task<DocumentFile>>> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _lastUse = new(StringComparer.Ordinal);
    private readonly Lock _evictLock = new();
    private long _clock;

    /// <summary>Keeps copies in <paramref name="folder"/>, or in a temporary folder of its own (removed on dispose) when null.</summary>
    /// <param name="folder">The folder, or null or blank for a temporary one.</param>
    /// <param name="capacityBytes">Bytes of copies kept.</param>
    /// <param name="temporaryPrefix">The name prefix of a temporary folder, saying whose copies these are.</param>
    public LocalDocumentCopies(string? folder, long capacityBytes, string temporaryPrefix)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacityBytes, 1);
        _capacity = capacityBytes;
        _ownsFolder = string.IsNullOrWhiteSpace(folder);
        _folder = _ownsFolder
            ? System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{temporaryPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}")
            : System.IO.Path.GetFullPath(folder!);
        Directory.CreateDirectory(_folder);
    }

    /// <summary>
    /// The copy of <paramref name="uri"/> at <paramref name="etag"/>, made by <paramref name="fill"/> on first use:
    /// it writes the document to the path it is given and returns its size. A failed copy is not kept, so the next
    /// caller tries again; so does a caller whose peer that started the copy was cancelled.
    /// </summary>
    public async Task<DocumentFile> GetAsync(string uri, string etag, Func<string, Task<long>> fill, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(fill);
        var key = Key(uri, etag);
        var entry = _entries.GetOrAdd(key, k => new Lazy<Task<DocumentFile>>(() => FillAsync(k, fill)));
        try
        {
            var file = await entry.Value.WaitAsync(ct).ConfigureAwait(false);
            if (File.Exists(file.Path))
            {
                _lastUse[key] = Interlocked.Increment(ref _clock);
                return file;
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Only this caller gave up: the copy goes on for the others waiting on it.
            throw;
        }
        catch (OperationCanceledException)
        {
            // The caller whose token the copy was made under was cancelled; this one still wants the file.
            _entries.TryRemove(new KeyValuePair<string, Lazy<Task<DocumentFile>>>(key, entry));
            return await GetAsync(uri, etag, fill, ct).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // A failed copy is not kept: the next caller tries again.
            _entries.TryRemove(new KeyValuePair<string, Lazy<Task<DocumentFile>>>(key, entry));
            throw;
        }

        // Deleted between being found and being used: copy it again.
        _entries.TryRemove(new KeyValuePair<string, Lazy<Task<DocumentFile>>>(key, entry));
        return await GetAsync(uri, etag, fill, ct).ConfigureAwait(false);
    }

    private async Task<DocumentFile> FillAsync(string key, Func<string, Task<long>> fill)
    {
        var path = System.IO.Path.Combine(_folder, key);
        var partial = path + ".part";
        try
        {
            var size = await fill(partial).ConfigureAwait(false);
            File.Move(partial, path, overwrite: true);
            _lastUse[key] = Interlocked.Increment(ref _clock);
            Trim(key);
            return new DocumentFile(path, size);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
    }

    /// <summary>Deletes least recently used copies until the total fits, never <paramref name="keep"/>.</summary>
    private void Trim(string keep)
    {
        lock (_evictLock)
        {
            var files = new DirectoryInfo(_folder).EnumerateFiles().Where(f => !f.Name.EndsWith(".part", StringComparison.Ordinal)).ToList();
            var total = files.Sum(f => f.Length);
            foreach (var file in files.OrderBy(f => _lastUse.GetValueOrDefault(f.Name)))
            {
                if (total <= _capacity)
                {
                    break;
                }

                if (string.Equals(file.Name, keep, StringComparison.Ordinal))
                {
                    continue;
                }

                total -= file.Length;
                _entries.TryRemove(file.Name, out _);
                _lastUse.TryRemove(file.Name, out _);
                TryDelete(file.FullName);
            }
        }
    }

    /// <summary>A file name per (uri, ETag) that any file system accepts.</summary>
    private static string Key(string uri, string etag) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(uri + "\n" + etag)))[..32];

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left for the next trim or the folder's removal.
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (!_ownsFolder)
        {
            return;
        }

        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A temporary folder left behind is harmless; the operating system clears it.
        }
    }
}

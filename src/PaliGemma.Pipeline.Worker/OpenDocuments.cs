using Microsoft.Extensions.Logging;
using PaliGemma.Pipeline.Documents;

namespace PaliGemma.Pipeline.Worker;

/// <summary>
/// Open document readers shared by the batches that render a document's pages. Opening a PDF reads its cross-reference
/// table and every page's size, so opening it once per page would cost a document of N pages N opens of N pages:
/// minutes for a 2,000-page archive. A reader stays open while a batch uses it and for a few documents after that.
/// </summary>
/// <remarks>
/// Readers are safe to share: PDF rendering is serialised by the Documents library's process-wide lock, text reading
/// by a per-reader lock, and each TIFF render opens its own handle. A reader is disposed only when no batch holds it.
/// </remarks>
public sealed class OpenDocuments : IDisposable
{
    /// <summary>Readers kept open when no batch holds them; pages of a document arrive together, so a few suffice.</summary>
    private const int IdleLimit = 4;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly object _lock = new();
    private long _clock;
    private bool _disposed;

    /// <summary>A reader for <paramref name="path"/>, opened on first use; dispose the lease when done with it.</summary>
    /// <exception cref="DocumentException">The document cannot be opened.</exception>
    public Lease Acquire(string path, DocumentKind kind, DocumentOptions options, ILogger logger, CancellationToken ct)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_entries.TryGetValue(path, out var found) && found.Reader.Kind == kind)
            {
                found.Users++;
                found.LastUse = ++_clock;
                return new Lease(this, found);
            }
        }

        // Opened outside the lock: a large file takes a while, and other documents' batches must not wait for it.
        var reader = DocumentReader.Open(path, kind, options, logger, ct);
        lock (_lock)
        {
            if (_disposed)
            {
                reader.Dispose();
                throw new ObjectDisposedException(nameof(OpenDocuments));
            }

            if (_entries.TryGetValue(path, out var raced) && raced.Reader.Kind == kind)
            {
                // Another batch opened it meanwhile: use that one.
                reader.Dispose();
                raced.Users++;
                raced.LastUse = ++_clock;
                return new Lease(this, raced);
            }

            var entry = new Entry(path, reader) { Users = 1, LastUse = ++_clock };
            if (_entries.Remove(path, out var stale))
            {
                stale.Evicted = true;
                DisposeIfUnused(stale);
            }

            _entries[path] = entry;
            TrimIdle();
            return new Lease(this, entry);
        }
    }

    private void Release(Entry entry)
    {
        lock (_lock)
        {
            entry.Users--;
            if (entry.Evicted || _disposed)
            {
                DisposeIfUnused(entry);
            }
            else
            {
                TrimIdle();
            }
        }
    }

    /// <summary>Closes the least recently used idle readers past <see cref="IdleLimit"/>. Called under the lock.</summary>
    private void TrimIdle()
    {
        var idle = _entries.Values.Where(e => e.Users == 0).OrderBy(e => e.LastUse).ToList();
        foreach (var entry in idle.Take(Math.Max(0, idle.Count - IdleLimit)))
        {
            _entries.Remove(entry.Path);
            entry.Reader.Dispose();
        }
    }

    private static void DisposeIfUnused(Entry entry)
    {
        if (entry.Users == 0)
        {
            entry.Reader.Dispose();
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var entry in _entries.Values)
            {
                entry.Evicted = true;
                DisposeIfUnused(entry);
            }

            _entries.Clear();
        }
    }

    internal sealed class Entry(string path, DocumentReader reader)
    {
        public string Path { get; } = path;

        public DocumentReader Reader { get; } = reader;

        public int Users { get; set; }

        public long LastUse { get; set; }

        public bool Evicted { get; set; }
    }

    /// <summary>A batch's hold on an open reader.</summary>
    public sealed class Lease : IDisposable
    {
        private readonly OpenDocuments _owner;
        private readonly Entry _entry;
        private int _released;

        internal Lease(OpenDocuments owner, Entry entry)
        {
            _owner = owner;
            _entry = entry;
        }

        /// <summary>The reader; valid until the lease is disposed.</summary>
        public DocumentReader Reader => _entry.Reader;

        /// <inheritdoc />
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                _owner.Release(_entry);
            }
        }
    }
}

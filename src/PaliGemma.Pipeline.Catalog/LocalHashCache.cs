using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// The content hashes of a local catalog's files from earlier listings, in a SQLite file beside (never inside) the
/// catalog, so that a nightly listing opens only the files that changed.
/// </summary>
/// <remarks>
/// <para>
/// <b>The rule.</b> A file's cached hash is reused when its path, size, modification time (nanoseconds) and file id
/// (device and inode, where the platform reports them without opening the file: Linux) are all what they were when it
/// was hashed. Anything else (a new file, a rewrite, a copy, a move, a restore from backup with a new inode) hashes the
/// file again. An entry hashed less than <see cref="RacyWindow"/> after its modification time is not trusted the next
/// time (git's "racy clean" rule): file systems keep mtime at a coarse tick, so a rewrite with the same size within
/// that tick of the hash would otherwise look unchanged.
/// </para>
/// <para>
/// <b>The blind spot.</b> A file whose content changed while its size stayed the same and its mtime was forced back to
/// the old value (<c>touch -d</c>, <c>rsync --times</c> over an in-place edit, some restore tools), on the same inode,
/// keeps its old hash. A worker still reads such a file, finds that its bytes do not match the listed hash, and records
/// it as <c>changed</c>; a file that already has results is not read at all and keeps its old results. Delete the cache
/// file (or set <c>Catalog:LocalHashCache=false</c>) to force a full re-hash.
/// </para>
/// <para>
/// Entries are kept per folder: a folder is loaded when the listing enters it (memory is bounded by the largest folder,
/// as for the listing itself), and entries of files that are gone are dropped when a listing walked the whole folder.
/// </para>
/// </remarks>
internal sealed class LocalHashCache : IDisposable
{
    /// <summary>How long after its modification a file must have been hashed for the entry to be trusted later.</summary>
    public static readonly TimeSpan RacyWindow = TimeSpan.FromSeconds(2);

    private const int FlushEvery = 1000;

    private readonly SqliteConnection _connection;
    private readonly List<Entry> _pending = [];
    private readonly List<(string Folder, HashSet<string> Keep)> _sweeps = [];

    private LocalHashCache(SqliteConnection connection, string path)
    {
        _connection = connection;
        Path = path;
    }

    /// <summary>The cache file.</summary>
    public string Path { get; }

    /// <summary>
    /// The cache file of the catalog at <paramref name="realRoot"/> in <paramref name="folder"/>, named by a hash of the
    /// root so that several catalogs share a folder.
    /// </summary>
    public static string FileFor(string folder, string realRoot) =>
        System.IO.Path.Combine(folder, "hashes-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(realRoot)))[..16] + ".db");

    /// <summary>The default folder: $XDG_CACHE_HOME/pgpipe, or ~/.cache/pgpipe (LocalApplicationData on Windows).</summary>
    public static string DefaultFolder()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        if (!string.IsNullOrWhiteSpace(xdg) && System.IO.Path.IsPathFullyQualified(xdg))
        {
            return System.IO.Path.Combine(xdg, "pgpipe");
        }

        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return OperatingSystem.IsWindows() || string.IsNullOrEmpty(home)
            ? System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "pgpipe")
            : System.IO.Path.Combine(home, ".cache", "pgpipe");
    }

    /// <summary>Opens (creating when missing) the cache file at <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The folder cannot be created or the file is not a usable cache.</exception>
    public static LocalHashCache Open(string path)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, DefaultTimeout = 30 }.ToString());
        try
        {
            connection.Open();
            using var setup = connection.CreateCommand();
            // WAL: a crash loses at most the last unflushed entries (files hashed again next time), never the file.
            setup.CommandText = """
                PRAGMA journal_mode=WAL;
                PRAGMA synchronous=NORMAL;
                PRAGMA busy_timeout=30000;
                CREATE TABLE IF NOT EXISTS files (
                  folder TEXT NOT NULL, name TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
                  device INTEGER NOT NULL, inode INTEGER NOT NULL, hashed_at_ns INTEGER NOT NULL, hash BLOB NOT NULL,
                  PRIMARY KEY (folder, name)) WITHOUT ROWID;
                """;
            setup.ExecuteNonQuery();
            return new LocalHashCache(connection, path);
        }
        catch (SqliteException e)
        {
            connection.Dispose();
            throw new IOException($"The local hash cache '{path}' cannot be used ({e.Message}); delete it or set Catalog:LocalHashCacheFolder elsewhere.", e);
        }
    }

    /// <summary>Every entry of one folder (its direct files), by file name.</summary>
    public Dictionary<string, Entry> LoadFolder(string folder)
    {
        var entries = new Dictionary<string, Entry>(StringComparer.Ordinal);
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT name, size, mtime_ns, device, inode, hashed_at_ns, hash FROM files WHERE folder = $f";
        command.Parameters.AddWithValue("$f", folder);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var name = reader.GetString(0);
            entries[name] = new Entry(folder, name,
                new FileStamp(reader.GetInt64(1), reader.GetInt64(2), unchecked((ulong)reader.GetInt64(3)), unchecked((ulong)reader.GetInt64(4)), false),
                reader.GetInt64(5), (byte[])reader.GetValue(6));
        }

        return entries;
    }

    /// <summary>The cached hash when <paramref name="entry"/> still describes a file with <paramref name="stamp"/>, else null.</summary>
    public static byte[]? Match(Entry? entry, FileStamp stamp)
    {
        if (entry is null)
        {
            return null;
        }

        var s = entry.Stamp;
        var same = s.Size == stamp.Size && s.MtimeNs == stamp.MtimeNs && s.Device == stamp.Device && s.Inode == stamp.Inode;
        var racy = entry.HashedAtNs - stamp.MtimeNs < (long)RacyWindow.TotalNanoseconds;
        return same && !racy ? entry.Hash : null;
    }

    /// <summary>Records a freshly computed hash (written in batches); null (nothing to record) is ignored.</summary>
    public void Put(Entry? entry)
    {
        if (entry is null)
        {
            return;
        }

        _pending.Add(entry);
        if (_pending.Count >= FlushEvery)
        {
            Flush();
        }
    }

    /// <summary>
    /// After a listing walked every file of <paramref name="folder"/>: drops the entries of files not in
    /// <paramref name="present"/> (deleted, or no longer a regular file) at the next flush.
    /// </summary>
    public void Sweep(string folder, HashSet<string> present)
    {
        _sweeps.Add((folder, present));
        if (_sweeps.Count >= 64)
        {
            Flush();
        }
    }

    /// <summary>Writes what was recorded, in one transaction.</summary>
    public void Flush()
    {
        if (_pending.Count == 0 && _sweeps.Count == 0)
        {
            return;
        }

        using var transaction = _connection.BeginTransaction();
        if (_pending.Count > 0)
        {
            using var upsert = _connection.CreateCommand();
            upsert.Transaction = transaction;
            upsert.CommandText = """
                INSERT INTO files (folder, name, size, mtime_ns, device, inode, hashed_at_ns, hash) VALUES ($f, $n, $s, $m, $d, $i, $h, $x)
                ON CONFLICT (folder, name) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns, device = excluded.device,
                  inode = excluded.inode, hashed_at_ns = excluded.hashed_at_ns, hash = excluded.hash
                """;
            var p = new[] { "$f", "$n", "$s", "$m", "$d", "$i", "$h", "$x" }.Select(n => upsert.Parameters.Add(n, SqliteType.Text)).ToArray();
            upsert.Prepare();
            foreach (var e in _pending)
            {
                p[0].Value = e.Folder;
                p[1].Value = e.Name;
                p[2].Value = e.Stamp.Size;
                p[3].Value = e.Stamp.MtimeNs;
                p[4].Value = unchecked((long)e.Stamp.Device);
                p[5].Value = unchecked((long)e.Stamp.Inode);
                p[6].Value = e.HashedAtNs;
                p[7].Value = e.Hash;
                upsert.ExecuteNonQuery();
            }
        }

        foreach (var (folder, present) in _sweeps)
        {
            var gone = new List<string>();
            using (var names = _connection.CreateCommand())
            {
                names.Transaction = transaction;
                names.CommandText = "SELECT name FROM files WHERE folder = $f";
                names.Parameters.AddWithValue("$f", folder);
                using var reader = names.ExecuteReader();
                while (reader.Read())
                {
                    if (!present.Contains(reader.GetString(0)))
                    {
                        gone.Add(reader.GetString(0));
                    }
                }
            }

            using var delete = _connection.CreateCommand();
            delete.Transaction = transaction;
            delete.CommandText = "DELETE FROM files WHERE folder = $f AND name = $n";
            var f = delete.Parameters.AddWithValue("$f", folder);
            var n = delete.Parameters.Add("$n", SqliteType.Text);
            foreach (var name in gone)
            {
                n.Value = name;
                delete.ExecuteNonQuery();
            }
        }

        transaction.Commit();
        _pending.Clear();
        _sweeps.Clear();
    }

    /// <summary>Flushes and closes the file.</summary>
    public void Dispose()
    {
        try
        {
            Flush();
        }
        finally
        {
            _connection.Dispose();
        }
    }

    /// <summary>One cached file: where it is, its stamp when hashed, when it was hashed, and the SHA-256.</summary>
    public sealed record Entry(string Folder, string Name, FileStamp Stamp, long HashedAtNs, byte[] Hash);
}

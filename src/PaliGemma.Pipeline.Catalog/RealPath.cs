namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// Resolves every symbolic link along a path (the <c>realpath(3)</c> rule), without requiring the final file to exist.
/// <see cref="Path.GetFullPath(string)"/> only folds "." and ".." lexically, so a path that starts with a catalog's
/// folder can still leave it through a link; comparing resolved paths is what keeps a local source inside its folder.
/// </summary>
internal static class RealPath
{
    // Linux's own limit on links followed while resolving one path (MAXSYMLINKS); more means a cycle.
    private const int MaxLinks = 40;

    /// <summary>
    /// The absolute path <paramref name="path"/> names once every link in it is followed, or null when the links form
    /// a cycle. Components that do not exist are kept as written (a missing file has nothing left to follow).
    /// </summary>
    public static string? Resolve(string path)
    {
        var full = Path.GetFullPath(path);
        var root = Path.GetPathRoot(full) ?? string.Empty;
        var pending = new Stack<string>(Split(full[root.Length..]).Reverse());
        var current = root;
        var links = 0;
        while (pending.Count > 0)
        {
            var name = pending.Pop();
            if (name == ".")
            {
                continue;
            }

            if (name == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }

            var next = Path.Join(current, name);
            string? target;
            try
            {
                target = new FileInfo(next).LinkTarget;
            }
            catch (IOException)
            {
                // Not a link (or not there): nothing to follow.
                target = null;
            }

            if (target is null)
            {
                current = next;
                continue;
            }

            if (++links > MaxLinks)
            {
                return null;
            }

            // A relative target is relative to the link's folder; an absolute one restarts from its root.
            var targetRoot = Path.GetPathRoot(target);
            if (!string.IsNullOrEmpty(targetRoot))
            {
                current = targetRoot;
                target = target[targetRoot.Length..];
            }

            foreach (var part in Split(target).Reverse())
            {
                pending.Push(part);
            }
        }

        return current;
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="folder"/> itself or lies below it (both resolved).</summary>
    public static bool IsInside(string path, string folder)
    {
        var withSeparator = folder.EndsWith(Path.DirectorySeparatorChar) ? folder : folder + Path.DirectorySeparatorChar;
        return path.StartsWith(withSeparator, StringComparison.Ordinal) || string.Equals(path, folder, StringComparison.Ordinal);
    }

    private static string[] Split(string path) =>
        path.Split([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries);
}

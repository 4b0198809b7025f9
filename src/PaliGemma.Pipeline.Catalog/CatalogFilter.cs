namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// Which catalog objects to list. Every condition that is set must hold; an empty filter matches everything. All
/// conditions apply to <see cref="CatalogObject.Key"/>, the path relative to the source root.
/// </summary>
public sealed record CatalogFilter
{
    private readonly string? _glob;
    private readonly GlobPattern? _pattern;
    private readonly IReadOnlySet<string>? _extensions;

    /// <summary>A filter that matches every object.</summary>
    public static CatalogFilter All { get; } = new();

    /// <summary>Raw key prefix, e.g. <c>2024/</c> or <c>2024/IMG_</c> (not treated as a folder).</summary>
    public string? Prefix { get; init; }

    /// <summary>A glob over the key (see <see cref="GlobPattern"/>), e.g. <c>**/*.jpg</c>. Invalid globs fail when set.</summary>
    public string? Glob
    {
        get => _glob;
        init
        {
            _glob = value;
            _pattern = value is null ? null : GlobPattern.Parse(value);
        }
    }

    /// <summary>
    /// File extensions to keep, with or without the dot, compared case-insensitively (<c>jpg</c> keeps <c>A.JPG</c>).
    /// </summary>
    public IReadOnlySet<string>? Extensions
    {
        get => _extensions;
        init => _extensions = value is null
            ? null
            : new HashSet<string>(value.Select(e => e.StartsWith('.') ? e : "." + e), StringComparer.OrdinalIgnoreCase);
    }

    /// <summary>Smallest size in bytes to keep (inclusive).</summary>
    public long? MinSize { get; init; }

    /// <summary>Largest size in bytes to keep (inclusive).</summary>
    public long? MaxSize { get; init; }

    /// <summary>The compiled <see cref="Glob"/>, if any.</summary>
    public GlobPattern? GlobPattern => _pattern;

    /// <summary>True when an object with this relative <paramref name="key"/> and <paramref name="size"/> passes every condition.</summary>
    public bool IsMatch(string key, long size)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (Prefix is { Length: > 0 } && !key.StartsWith(Prefix, StringComparison.Ordinal))
        {
            return false;
        }

        if (MinSize is { } min && size < min)
        {
            return false;
        }

        if (MaxSize is { } max && size > max)
        {
            return false;
        }

        if (_extensions is { Count: > 0 })
        {
            var name = key.AsSpan(key.LastIndexOf('/') + 1);
            var dot = name.LastIndexOf('.');
            if (dot < 0 || !_extensions.Contains(name[dot..].ToString()))
            {
                return false;
            }
        }

        return _pattern is null || _pattern.IsMatch(key);
    }

    /// <summary>
    /// The longest literal prefix every match must start with, combining <see cref="Prefix"/> with the glob's literal
    /// prefix; null when the two contradict each other, so nothing can match and listing can stop before it starts.
    /// </summary>
    public string? EffectivePrefix()
    {
        var a = Prefix ?? string.Empty;
        var b = _pattern?.LiteralPrefix ?? string.Empty;
        if (a.StartsWith(b, StringComparison.Ordinal))
        {
            return a;
        }

        return b.StartsWith(a, StringComparison.Ordinal) ? b : null;
    }

    /// <summary>Checks the filter's own consistency.</summary>
    /// <exception cref="ArgumentException">A size bound is negative or MinSize exceeds MaxSize.</exception>
    public void Validate()
    {
        if (MinSize < 0 || MaxSize < 0)
        {
            throw new ArgumentException($"Catalog filter sizes must not be negative (MinSize={MinSize}, MaxSize={MaxSize}).");
        }

        if (MinSize > MaxSize)
        {
            throw new ArgumentException($"Catalog filter MinSize ({MinSize}) exceeds MaxSize ({MaxSize}); no object could match.");
        }
    }
}

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// Orders strings by Unicode code point, which is the same as comparing their UTF-8 bytes: the order S3 lists keys in.
/// string.CompareOrdinal compares UTF-16 code units and disagrees for characters above U+FFFF versus U+E000..U+FFFF,
/// which would make a local folder's resume point inconsistent with the order it was listed in.
/// </summary>
internal sealed class Utf8OrdinalComparer : IComparer<string>
{
    public static readonly Utf8OrdinalComparer Instance = new();

    public int Compare(string? x, string? y)
    {
        if (ReferenceEquals(x, y))
        {
            return 0;
        }

        if (x is null)
        {
            return -1;
        }

        if (y is null)
        {
            return 1;
        }

        var length = Math.Min(x.Length, y.Length);
        for (var i = 0; i < length; i++)
        {
            char a = x[i], b = y[i];
            if (a == b)
            {
                continue;
            }

            // Surrogates (U+D800..U+DFFF) encode code points above U+FFFF, so they sort after every other BMP unit.
            var aSur = char.IsSurrogate(a);
            var bSur = char.IsSurrogate(b);
            if (aSur != bSur)
            {
                return aSur ? 1 : -1;
            }

            return a < b ? -1 : 1;
        }

        return x.Length.CompareTo(y.Length);
    }
}

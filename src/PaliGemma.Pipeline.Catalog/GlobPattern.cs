using System.Text;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// A compiled glob over '/'-separated keys. <c>*</c> matches any run of characters within one segment, <c>**</c> as a
/// whole segment matches zero or more segments, <c>?</c> one character (a whole Unicode scalar) other than '/',
/// <c>[abc]</c>, <c>[a-z]</c> and <c>[!abc]</c> (or <c>[^abc]</c>) one character from (or not from) a set, and a
/// backslash makes the next character literal. Matching is case-sensitive, like S3 keys, and a leading dot is not
/// special. The whole key must match.
/// </summary>
public sealed class GlobPattern : IEquatable<GlobPattern>
{
    private readonly Segment[] _segments;

    private GlobPattern(string pattern, Segment[] segments, string literalPrefix)
    {
        Pattern = pattern;
        _segments = segments;
        LiteralPrefix = literalPrefix;
    }

    /// <summary>The pattern text as given.</summary>
    public string Pattern { get; }

    /// <summary>
    /// The literal text every matching key starts with (up to the first wildcard), e.g. <c>photos/</c> for
    /// <c>photos/*/2024-*.png</c>. S3 listing sends it as the server-side prefix so fewer keys cross the wire.
    /// </summary>
    public string LiteralPrefix { get; }

    /// <summary>Compiles <paramref name="pattern"/>.</summary>
    /// <exception cref="ArgumentException">The pattern is empty, absolute, or has an unclosed '[' or a trailing '\'.</exception>
    public static GlobPattern Parse(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (pattern.Length == 0)
        {
            throw new ArgumentException("A glob pattern must not be empty; leave the glob out to match every key.", nameof(pattern));
        }

        if (pattern[0] == '/')
        {
            throw new ArgumentException($"Glob '{pattern}' starts with '/'; keys are relative to the catalog root, so write it without the leading '/'.", nameof(pattern));
        }

        var segments = pattern.Split('/').Select(text => ParseSegment(pattern, text)).ToArray();
        return new GlobPattern(pattern, segments, ComputeLiteralPrefix(pattern));
    }

    /// <summary>True when the whole of <paramref name="key"/> matches the pattern.</summary>
    public bool IsMatch(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var parts = key.Split('/');
        // Greedy matching with backtracking to the last '**': the same algorithm as '*' within a segment,
        // lifted to segments. It is exact because '**' matches any sequence of segments.
        int p = 0, k = 0, starP = -1, starK = 0;
        while (k < parts.Length)
        {
            if (p < _segments.Length && _segments[p].IsGlobStar)
            {
                starP = p++;
                starK = k;
            }
            else if (p < _segments.Length && _segments[p].Matches(parts[k]))
            {
                p++;
                k++;
            }
            else if (starP >= 0)
            {
                p = starP + 1;
                k = ++starK;
            }
            else
            {
                return false;
            }
        }

        while (p < _segments.Length && _segments[p].IsGlobStar)
        {
            p++;
        }

        return p == _segments.Length;
    }

    /// <inheritdoc />
    public bool Equals(GlobPattern? other) => other is not null && string.Equals(Pattern, other.Pattern, StringComparison.Ordinal);

    /// <inheritdoc />
    public override bool Equals(object? obj) => Equals(obj as GlobPattern);

    /// <inheritdoc />
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Pattern);

    /// <inheritdoc />
    public override string ToString() => Pattern;

    private static string ComputeLiteralPrefix(string pattern)
    {
        var prefix = new StringBuilder();
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c is '*' or '?' or '[')
            {
                break;
            }

            if (c == '\\')
            {
                i++;
                c = pattern[i];
            }

            prefix.Append(c);
        }

        return prefix.ToString();
    }

    private static Segment ParseSegment(string pattern, string text)
    {
        if (text == "**")
        {
            return Segment.GlobStar;
        }

        var tokens = new List<Token>();
        var runes = text.EnumerateRunes().Select(r => r.Value).ToArray();
        for (var i = 0; i < runes.Length; i++)
        {
            var c = runes[i];
            switch (c)
            {
                case '*':
                    // "a**b" inside a segment is just '*': collapse runs so backtracking stays linear-ish.
                    if (tokens.Count == 0 || tokens[^1].Kind != TokenKind.Star)
                    {
                        tokens.Add(new Token(TokenKind.Star));
                    }

                    break;
                case '?':
                    tokens.Add(new Token(TokenKind.One));
                    break;
                case '[':
                    i = ParseClass(pattern, runes, i, tokens);
                    break;
                case '\\':
                    if (i + 1 >= runes.Length)
                    {
                        throw new ArgumentException($"Glob '{pattern}' ends a segment with '\\'; escape a literal backslash as '\\\\'.", nameof(pattern));
                    }

                    tokens.Add(new Token(TokenKind.Literal, runes[++i]));
                    break;
                default:
                    tokens.Add(new Token(TokenKind.Literal, c));
                    break;
            }
        }

        return new Segment(tokens.ToArray());
    }

    // Parses "[...]" starting at runes[start] == '['; returns the index of the closing ']'.
    private static int ParseClass(string pattern, int[] runes, int start, List<Token> tokens)
    {
        var i = start + 1;
        var negated = i < runes.Length && (runes[i] == '!' || runes[i] == '^');
        if (negated)
        {
            i++;
        }

        var ranges = new List<(int Low, int High)>();
        var first = true;
        while (i < runes.Length && (runes[i] != ']' || first))
        {
            var low = runes[i];
            if (low == '\\' && i + 1 < runes.Length)
            {
                low = runes[++i];
            }

            var high = low;
            if (i + 2 < runes.Length && runes[i + 1] == '-' && runes[i + 2] != ']')
            {
                high = runes[i + 2];
                i += 2;
                if (high == '\\' && i + 1 < runes.Length)
                {
                    high = runes[++i];
                }

                if (high < low)
                {
                    throw new ArgumentException($"Glob '{pattern}' has a reversed character range '{char.ConvertFromUtf32(low)}-{char.ConvertFromUtf32(high)}'.", nameof(pattern));
                }
            }

            ranges.Add((low, high));
            first = false;
            i++;
        }

        if (i >= runes.Length)
        {
            throw new ArgumentException($"Glob '{pattern}' has a '[' without a closing ']'; escape a literal bracket as '\\['.", nameof(pattern));
        }

        tokens.Add(new Token(TokenKind.Class, 0, ranges.ToArray(), negated));
        return i;
    }

    private enum TokenKind
    {
        Literal,
        One,
        Star,
        Class,
    }

    private readonly record struct Token(TokenKind Kind, int Rune = 0, (int Low, int High)[]? Ranges = null, bool Negated = false)
    {
        public bool Accepts(int rune) => Kind switch
        {
            TokenKind.Literal => rune == Rune,
            TokenKind.One => true,
            TokenKind.Class => InRanges(rune) != Negated,
            _ => false,
        };

        private bool InRanges(int rune)
        {
            foreach (var (low, high) in Ranges!)
            {
                if (rune >= low && rune <= high)
                {
                    return true;
                }
            }

            return false;
        }
    }

    private sealed class Segment
    {
        public static readonly Segment GlobStar = new([]) { IsGlobStar = true };

        private readonly Token[] _tokens;

        public Segment(Token[] tokens) => _tokens = tokens;

        public bool IsGlobStar { get; private init; }

        public bool Matches(string text)
        {
            var runes = text.EnumerateRunes().Select(r => r.Value).ToArray();
            int t = 0, r = 0, starT = -1, starR = 0;
            while (r < runes.Length)
            {
                if (t < _tokens.Length && _tokens[t].Kind == TokenKind.Star)
                {
                    starT = t++;
                    starR = r;
                }
                else if (t < _tokens.Length && _tokens[t].Accepts(runes[r]))
                {
                    t++;
                    r++;
                }
                else if (starT >= 0)
                {
                    t = starT + 1;
                    r = ++starR;
                }
                else
                {
                    return false;
                }
            }

            while (t < _tokens.Length && _tokens[t].Kind == TokenKind.Star)
            {
                t++;
            }

            return t == _tokens.Length;
        }
    }
}

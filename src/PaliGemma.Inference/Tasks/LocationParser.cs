using System.Globalization;

namespace PaliGemma.Inference.Tasks;

/// <summary>
/// Reads PaliGemma's detect/segment output, <c>&lt;locY1&gt;&lt;locX1&gt;&lt;locY2&gt;&lt;locX2&gt; label ; ...</c>
/// (segment: the four loc tokens, then sixteen <c>&lt;segNNN&gt;</c> tokens, then the label), into boxes.
/// </summary>
/// <remarks>
/// <para>
/// Coordinates: loc bins are 0..1023 and pixel = bin / 1024 * size (the rule of the Hugging Face PaliGemma space; one rule
/// for boxes and masks, docs/architecture.md §2). Y tokens scale by the image height, X tokens by the width. Results are clamped to
/// [0, size] (bins never exceed 1023, so this only guards the arithmetic).
/// </para>
/// <para>
/// Entries are separated by ';'. Within an entry, leading whitespace is skipped, then exactly four loc tokens must follow
/// back to back, then either no seg tokens or exactly sixteen back to back, then the label. The label is the rest of the
/// entry up to the next ';' (or the end of the text), with surrounding whitespace trimmed; it is empty when generation
/// stopped right after the tokens, and such a box is still kept.
/// </para>
/// <para>
/// Model output is untrusted: a malformed entry is skipped, never thrown (<see cref="ParseWithReport"/> says which and why). Malformed means: fewer than four loc tokens, any
/// text before or between the tokens, a loc bin above 1023, 1..15 or more than sixteen seg tokens, a seg code above 127, a
/// loc or seg token inside the label, or an inverted box (y2 &lt; y1 or x2 &lt; x1). Zero-area boxes (y2 == y1) are kept.
/// </para>
/// </remarks>
public static class LocationParser
{
    /// <summary>Number of loc bins: tokens are <c>&lt;loc0000&gt;</c>..<c>&lt;loc1023&gt;</c>.</summary>
    public const int LocationBins = 1024;

    /// <summary>Number of seg codes per object in a segment answer.</summary>
    public const int SegmentTokensPerObject = 16;

    /// <summary>Size of the VQ-VAE codebook: tokens are <c>&lt;seg000&gt;</c>..<c>&lt;seg127&gt;</c>.</summary>
    public const int SegmentCodebookSize = 128;

    private const string LocPrefix = "<loc";
    private const string SegPrefix = "<seg";

    /// <summary>Parses the decoded text of a detect or segment answer.</summary>
    /// <param name="decodedText">The generated text, with loc/seg tokens kept as text.</param>
    /// <param name="imageWidth">Width of the original image in pixels (after EXIF orientation).</param>
    /// <param name="imageHeight">Height of the original image in pixels (after EXIF orientation).</param>
    /// <returns>The well-formed objects, in output order; empty when there are none.</returns>
    public static IReadOnlyList<DetectedObject> Parse(string decodedText, int imageWidth, int imageHeight) =>
        ParseWithReport(decodedText, imageWidth, imageHeight, TaskKind.Detect).Objects;

    /// <summary>
    /// Parses the decoded text of a detect or segment answer and reports every entry it did not accept, so callers can
    /// say what was dropped instead of guessing.
    /// </summary>
    /// <remarks>
    /// For <see cref="TaskKind.Segment"/> every entry must carry sixteen seg tokens and a box with y2 &gt; y1 and x2 &gt; x1
    /// (a mask needs area); an entry with loc tokens only is rejected. For other kinds the rules of the class remarks
    /// apply (seg tokens optional, zero-area boxes kept). Blank entries (e.g. after a trailing ';') are not reported.
    /// </remarks>
    /// <param name="decodedText">The generated text, with loc/seg tokens kept as text.</param>
    /// <param name="imageWidth">Width of the original image in pixels (after EXIF orientation).</param>
    /// <param name="imageHeight">Height of the original image in pixels (after EXIF orientation).</param>
    /// <param name="kind">The task that produced the text.</param>
    /// <returns>The accepted objects and the rejected entries, both in output order.</returns>
    public static LocationParseResult ParseWithReport(string decodedText, int imageWidth, int imageHeight, TaskKind kind)
    {
        ArgumentNullException.ThrowIfNull(decodedText);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageWidth);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(imageHeight);

        var result = new List<DetectedObject>();
        var rejected = new List<RejectedEntry>();
        bool segment = kind == TaskKind.Segment;
        ReadOnlySpan<char> text = decodedText;
        int index = 0;
        while (true)
        {
            int sep = text.IndexOf(';');
            ReadOnlySpan<char> entry = sep < 0 ? text : text[..sep];
            if (!entry.IsWhiteSpace())
            {
                string? problem = TryParseEntry(entry, imageWidth, imageHeight, segment, out DetectedObject? obj);
                if (obj is not null)
                {
                    result.Add(obj);
                }
                else
                {
                    rejected.Add(new RejectedEntry(index, entry.Trim().ToString(), problem!));
                }
            }

            if (sep < 0)
            {
                break;
            }

            text = text[(sep + 1)..];
            index++;
        }

        return new LocationParseResult(result, rejected);
    }

    /// <summary>True when the text holds any <c>&lt;segNNN&gt;</c> token, i.e. a segment answer whose masks need a decoder.</summary>
    /// <param name="decodedText">The generated text.</param>
    /// <returns>Whether a seg token occurs.</returns>
    public static bool ContainsSegmentTokens(string decodedText)
    {
        ArgumentNullException.ThrowIfNull(decodedText);
        ReadOnlySpan<char> text = decodedText;
        int at;
        while ((at = text.IndexOf(SegPrefix, StringComparison.Ordinal)) >= 0)
        {
            if (TryReadToken(text[at..], SegPrefix, 3, out _, out _))
            {
                return true;
            }

            text = text[(at + 1)..];
        }

        return false;
    }

    /// <summary>Pixel coordinate of a loc bin: bin / 1024 * size, clamped to [0, size].</summary>
    /// <param name="bin">The bin, 0..1023.</param>
    /// <param name="size">The image width (x tokens) or height (y tokens).</param>
    /// <returns>The coordinate in pixels.</returns>
    public static float BinToPixel(int bin, int size) =>
        (float)Math.Clamp((double)bin / LocationBins * size, 0d, size);

    /// <summary>Parses one entry; returns null and the object, or why the entry is malformed and no object.</summary>
    private static string? TryParseEntry(ReadOnlySpan<char> entry, int width, int height, bool segment, out DetectedObject? obj)
    {
        obj = null;
        ReadOnlySpan<char> s = entry.TrimStart();
        Span<int> loc = stackalloc int[4];
        for (int i = 0; i < 4; i++)
        {
            if (!TryReadToken(s, LocPrefix, 4, out int bin, out int length))
            {
                return i == 0 && !s.StartsWith(LocPrefix, StringComparison.Ordinal)
                    ? "text where four <locNNNN> tokens should start"
                    : $"{i} of the 4 <locNNNN> tokens, then something else";
            }

            if (bin >= LocationBins)
            {
                return $"loc bin {bin} is above {LocationBins - 1}";
            }

            loc[i] = bin;
            s = s[length..];
        }

        int[]? seg = null;
        if (s.StartsWith(SegPrefix, StringComparison.Ordinal))
        {
            seg = new int[SegmentTokensPerObject];
            for (int i = 0; i < SegmentTokensPerObject; i++)
            {
                if (!TryReadToken(s, SegPrefix, 3, out int code, out int length))
                {
                    return $"{i} of the {SegmentTokensPerObject} <segNNN> tokens, then something else";
                }

                if (code >= SegmentCodebookSize)
                {
                    return $"seg code {code} is above {SegmentCodebookSize - 1}";
                }

                seg[i] = code;
                s = s[length..];
            }
        }
        else if (segment)
        {
            return $"no <segNNN> tokens after the box (a segment object needs {SegmentTokensPerObject})";
        }

        ReadOnlySpan<char> label = s.Trim();
        if (label.Contains(LocPrefix, StringComparison.Ordinal) || label.Contains(SegPrefix, StringComparison.Ordinal))
        {
            return s.StartsWith(SegPrefix, StringComparison.Ordinal)
                ? $"more than {SegmentTokensPerObject} <segNNN> tokens"
                : "a loc or seg token inside the label";
        }

        // Token order is y1, x1, y2, x2.
        int y1 = loc[0], x1 = loc[1], y2 = loc[2], x2 = loc[3];
        if (y2 < y1 || x2 < x1 || (segment && (y2 == y1 || x2 == x1)))
        {
            return $"box y1={y1} x1={x1} y2={y2} x2={x2} is {(segment ? "empty or reversed (needs y2 > y1 and x2 > x1)" : "reversed")}";
        }

        obj = new DetectedObject(
            label.ToString(),
            BinToPixel(x1, width),
            BinToPixel(y1, height),
            BinToPixel(x2, width),
            BinToPixel(y2, height),
            seg);
        return null;
    }

    /// <summary>Reads "&lt;prefix" + exactly <paramref name="digits"/> ASCII digits + "&gt;" at the start of <paramref name="s"/>.</summary>
    private static bool TryReadToken(ReadOnlySpan<char> s, string prefix, int digits, out int value, out int length)
    {
        value = 0;
        length = prefix.Length + digits + 1;
        if (s.Length < length || !s.StartsWith(prefix, StringComparison.Ordinal) || s[length - 1] != '>')
        {
            return false;
        }

        ReadOnlySpan<char> number = s.Slice(prefix.Length, digits);
        foreach (char c in number)
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        value = int.Parse(number, NumberStyles.None, CultureInfo.InvariantCulture);
        return true;
    }
}

/// <summary>What <see cref="LocationParser.ParseWithReport"/> accepted and rejected.</summary>
/// <param name="Objects">Well-formed objects in output order.</param>
/// <param name="Rejected">Malformed entries in output order.</param>
public sealed record LocationParseResult(IReadOnlyList<DetectedObject> Objects, IReadOnlyList<RejectedEntry> Rejected);

/// <summary>An entry of a detect/segment answer that was not accepted.</summary>
/// <param name="Index">Zero-based position among the ';'-separated entries.</param>
/// <param name="Text">The entry, trimmed.</param>
/// <param name="Reason">Why it was rejected, in words.</param>
public sealed record RejectedEntry(int Index, string Text, string Reason);

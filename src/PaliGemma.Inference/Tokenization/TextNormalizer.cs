using System.Text;
using System.Text.Json;

namespace PaliGemma.Inference.Tokenization;

/// <summary>
/// The tokenizer.json normalizers a Gemma-family file uses: Replace with a string pattern, Prepend, and
/// Sequence of those. Anything else is rejected at load so that ids can never silently diverge.
/// </summary>
internal abstract class TextNormalizer
{
    public abstract string Normalize(string text);

    public static TextNormalizer? Create(JsonElement element, string source)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var type = TokenizerJson.RequiredString(element, "type", source, "normalizer");
        switch (type)
        {
            case "Replace":
                return new ReplaceNormalizer(
                    TokenizerJson.StringPattern(element, source, "normalizer Replace"),
                    TokenizerJson.RequiredString(element, "content", source, "normalizer Replace"));
            case "Prepend":
                return new PrependNormalizer(TokenizerJson.RequiredString(element, "prepend", source, "normalizer Prepend"));
            case "Sequence":
                var parts = new List<TextNormalizer>();
                foreach (var child in TokenizerJson.RequiredArray(element, "normalizers", source, "normalizer Sequence").EnumerateArray())
                {
                    if (Create(child, source) is { } n)
                    {
                        parts.Add(n);
                    }
                }

                return new SequenceNormalizer(parts);
            default:
                throw new TokenizerJsonException(
                    $"{source}: normalizer type '{type}' is not supported; expected Replace (string pattern), Prepend or Sequence of those.");
        }
    }

    private sealed class ReplaceNormalizer(string pattern, string content) : TextNormalizer
    {
        public override string Normalize(string text) => text.Replace(pattern, content, StringComparison.Ordinal);
    }

    private sealed class PrependNormalizer(string prepend) : TextNormalizer
    {
        // HF and transformers.js prepend only to non-empty text.
        public override string Normalize(string text) => text.Length == 0 ? text : prepend + text;
    }

    private sealed class SequenceNormalizer(List<TextNormalizer> parts) : TextNormalizer
    {
        public override string Normalize(string text)
        {
            foreach (var part in parts)
            {
                text = part.Normalize(text);
            }

            return text;
        }
    }
}

/// <summary>
/// The pre-tokenizer: null (the whole text is one piece) or Split on a string pattern with HF's behaviours.
/// Gemma's file declares Split on " " after a normalizer that replaced every " ", so it yields one piece.
/// </summary>
internal sealed class PieceSplitter
{
    private readonly string? _pattern;
    private readonly string _behavior;

    private PieceSplitter(string? pattern, string behavior)
    {
        _pattern = pattern;
        _behavior = behavior;
    }

    public static PieceSplitter Create(JsonElement element, string source)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return new PieceSplitter(null, "Isolated");
        }

        var type = TokenizerJson.RequiredString(element, "type", source, "pre_tokenizer");
        if (type != "Split")
        {
            throw new TokenizerJsonException(
                $"{source}: pre_tokenizer type '{type}' is not supported; expected null or Split with a string pattern.");
        }

        if (element.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True)
        {
            throw new TokenizerJsonException($"{source}: pre_tokenizer Split with invert=true is not supported; expected invert=false.");
        }

        var pattern = TokenizerJson.StringPattern(element, source, "pre_tokenizer Split");
        var behavior = TokenizerJson.RequiredString(element, "behavior", source, "pre_tokenizer Split");
        if (behavior is not ("Isolated" or "Removed" or "MergedWithPrevious" or "MergedWithNext" or "Contiguous"))
        {
            throw new TokenizerJsonException($"{source}: pre_tokenizer Split behavior '{behavior}' is unknown.");
        }

        return new PieceSplitter(pattern.Length == 0 ? null : pattern, behavior);
    }

    /// <summary>Appends the pieces of <paramref name="text"/> as (offset, length) ranges.</summary>
    public void Split(string text, List<Range> pieces)
    {
        if (_pattern is null || !text.Contains(_pattern, StringComparison.Ordinal))
        {
            pieces.Add(0..text.Length);
            return;
        }

        // Split into alternating (isMatch) spans first, then combine them as HF's SplitDelimiterBehavior does.
        var spans = new List<(int Start, int End, bool IsMatch)>();
        var pos = 0;
        int hit;
        while ((hit = text.IndexOf(_pattern, pos, StringComparison.Ordinal)) >= 0)
        {
            if (hit > pos)
            {
                spans.Add((pos, hit, false));
            }

            spans.Add((hit, hit + _pattern.Length, true));
            pos = hit + _pattern.Length;
        }

        if (pos < text.Length)
        {
            spans.Add((pos, text.Length, false));
        }

        var combined = new List<(int Start, int End)>();
        switch (_behavior)
        {
            case "Removed":
                foreach (var s in spans.Where(s => !s.IsMatch))
                {
                    combined.Add((s.Start, s.End));
                }

                break;
            case "Isolated":
                foreach (var s in spans)
                {
                    combined.Add((s.Start, s.End));
                }

                break;
            case "MergedWithPrevious":
                var previousWasPlain = false;
                foreach (var s in spans)
                {
                    if (s.IsMatch && previousWasPlain)
                    {
                        combined[^1] = (combined[^1].Start, s.End);
                    }
                    else
                    {
                        combined.Add((s.Start, s.End));
                    }

                    previousWasPlain = !s.IsMatch;
                }

                break;
            case "MergedWithNext":
                var pendingMatch = -1;
                foreach (var s in spans)
                {
                    if (s.IsMatch)
                    {
                        if (pendingMatch >= 0)
                        {
                            combined.Add((pendingMatch, s.Start));
                        }

                        pendingMatch = s.Start;
                    }
                    else
                    {
                        combined.Add((pendingMatch >= 0 ? pendingMatch : s.Start, s.End));
                        pendingMatch = -1;
                    }
                }

                if (pendingMatch >= 0)
                {
                    combined.Add((pendingMatch, text.Length));
                }

                break;
            default: // Contiguous: consecutive matches form one piece.
                var previousWasMatch = false;
                foreach (var s in spans)
                {
                    if (s.IsMatch && previousWasMatch)
                    {
                        combined[^1] = (combined[^1].Start, s.End);
                    }
                    else
                    {
                        combined.Add((s.Start, s.End));
                    }

                    previousWasMatch = s.IsMatch;
                }

                break;
        }

        foreach (var (start, end) in combined)
        {
            pieces.Add(start..end);
        }
    }
}

/// <summary>
/// The decoder chain of a Gemma-family file: Replace (string pattern), ByteFallback, Fuse, Strip, and Sequence.
/// </summary>
internal abstract class TokenDecoder
{
    public abstract void Apply(List<string> tokens);

    public static TokenDecoder? Create(JsonElement element, string source)
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        var type = TokenizerJson.RequiredString(element, "type", source, "decoder");
        switch (type)
        {
            case "Replace":
                var pattern = TokenizerJson.StringPattern(element, source, "decoder Replace");
                var content = TokenizerJson.RequiredString(element, "content", source, "decoder Replace");
                return new Lambda(tokens =>
                {
                    for (var i = 0; i < tokens.Count; i++)
                    {
                        tokens[i] = tokens[i].Replace(pattern, content, StringComparison.Ordinal);
                    }
                });
            case "ByteFallback":
                return new Lambda(ApplyByteFallback);
            case "Fuse":
                return new Lambda(tokens =>
                {
                    var joined = string.Concat(tokens);
                    tokens.Clear();
                    tokens.Add(joined);
                });
            case "Strip":
                var stripContent = TokenizerJson.RequiredString(element, "content", source, "decoder Strip");
                var startCount = element.TryGetProperty("start", out var s) ? s.GetInt32() : 0;
                var stopCount = element.TryGetProperty("stop", out var e) ? e.GetInt32() : 0;
                if (stripContent.Length != 1)
                {
                    throw new TokenizerJsonException($"{source}: decoder Strip content must be one character.");
                }

                return new Lambda(tokens => ApplyStrip(tokens, stripContent[0], startCount, stopCount));
            case "Sequence":
                var parts = new List<TokenDecoder>();
                foreach (var child in TokenizerJson.RequiredArray(element, "decoders", source, "decoder Sequence").EnumerateArray())
                {
                    if (Create(child, source) is { } d)
                    {
                        parts.Add(d);
                    }
                }

                return new Lambda(tokens =>
                {
                    foreach (var part in parts)
                    {
                        part.Apply(tokens);
                    }
                });
            default:
                throw new TokenizerJsonException(
                    $"{source}: decoder type '{type}' is not supported; expected Replace, ByteFallback, Fuse, Strip or Sequence.");
        }
    }

    /// <summary>Parses "&lt;0xNN&gt;" exactly (two hex digits), as HF's ByteFallback decoder does.</summary>
    public static bool TryParseByteToken(string token, out byte value)
    {
        value = 0;
        if (token.Length != 6 || !token.StartsWith("<0x", StringComparison.Ordinal) || token[5] != '>')
        {
            return false;
        }

        var hi = HexValue(token[3]);
        var lo = HexValue(token[4]);
        if (hi < 0 || lo < 0)
        {
            return false;
        }

        value = (byte)((hi << 4) | lo);
        return true;
    }

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'a' and <= 'f' => c - 'a' + 10,
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };

    // Runs of byte tokens become their UTF-8 decoding; invalid sequences become U+FFFD per maximal subpart,
    // which is what both .NET's UTF8Encoding and the WHATWG TextDecoder used by transformers.js do.
    private static void ApplyByteFallback(List<string> tokens)
    {
        var output = new List<string>(tokens.Count);
        var bytes = new List<byte>();
        foreach (var token in tokens)
        {
            if (TryParseByteToken(token, out var b))
            {
                bytes.Add(b);
                continue;
            }

            Flush();
            output.Add(token);
        }

        Flush();
        tokens.Clear();
        tokens.AddRange(output);

        void Flush()
        {
            if (bytes.Count > 0)
            {
                output.Add(Encoding.UTF8.GetString(bytes.ToArray()));
                bytes.Clear();
            }
        }
    }

    private static void ApplyStrip(List<string> tokens, char content, int start, int stop)
    {
        for (var t = 0; t < tokens.Count; t++)
        {
            var token = tokens[t];
            var startCut = 0;
            for (var i = 0; i < start && i < token.Length && token[i] == content; i++)
            {
                startCut = i + 1;
            }

            var stopCut = token.Length;
            for (var i = 0; i < stop; i++)
            {
                var index = token.Length - i - 1;
                if (index < 0 || token[index] != content)
                {
                    break;
                }

                stopCut = index;
            }

            tokens[t] = stopCut > startCut ? token[startCut..stopCut] : string.Empty;
        }
    }

    private sealed class Lambda(Action<List<string>> apply) : TokenDecoder
    {
        public override void Apply(List<string> tokens) => apply(tokens);
    }
}

using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Text;
using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace PaliGemma.Inference.Tokenization;

/// <summary>
/// The Gemma BPE tokenizer read from a Hugging Face tokenizer.json, producing the same ids as transformers.js.
/// Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> applies vocab and merges; this class adds what it lacks:
/// atomic matching of every <c>added_tokens</c> entry, the file's normalizer and pre-tokenizer, byte fallback
/// (<c>&lt;0xNN&gt;</c> tokens) and the decoder chain. Immutable after load, so Encode/Decode are thread-safe.
/// </summary>
/// <remarks>
/// One file on purpose: encoding (added-token matching, normalisation, BPE with byte fallback) and decoding (the
/// reverse, with special tokens skipped) share the vocabulary tables and must mirror each other exactly; split, the
/// two halves would drift apart unseen. The conformance tests against transformers.js hold both to the reference.
/// </remarks>
public sealed class GemmaTokenizer
{
    private readonly string _source;
    private readonly BpeTokenizer _bpe;
    private readonly Dictionary<string, int> _vocab;
    private readonly FrozenDictionary<string, int> _addedByContent;
    private readonly string?[] _idToToken;
    private readonly FrozenSet<string> _specialContents;
    private readonly bool[] _isSpecial;
    private readonly AddedTokenMatcher _rawMatcher;
    private readonly AddedTokenMatcher _normalizedMatcher;
    private readonly TextNormalizer? _normalizer;
    private readonly PieceSplitter _splitter;
    private readonly TokenDecoder? _decoder;
    private readonly string? _unkToken;
    private readonly int _unkId;
    private readonly bool _fuseUnk;
    private readonly bool _byteFallback;
    private readonly bool _ignoreMerges;
    private readonly int[] _byteIds;
    private readonly Dictionary<int, int> _vocabIdToAddedId;
    private readonly ConcurrentDictionary<string, int[]> _pieceCache = new(StringComparer.Ordinal);

    private const int MaxCachedPieceLength = 256;
    private const int MaxCachedPieces = 16384;

    private GemmaTokenizer(string source, JsonElement root)
    {
        _source = source;
        var model = TokenizerJson.Required(root, "model", source, "the root object");
        var modelType = TokenizerJson.OptionalString(model, "type");
        if (modelType != "BPE")
        {
            throw new TokenizerJsonException($"{source}: model.type is '{modelType ?? "(missing)"}'; a BPE model is expected.");
        }

        foreach (var unsupported in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (TokenizerJson.OptionalString(model, unsupported) is { Length: > 0 } value)
            {
                throw new TokenizerJsonException($"{source}: model.{unsupported} '{value}' is not supported; Gemma files have null.");
            }
        }

        if (model.TryGetProperty("dropout", out var dropout) && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
        {
            throw new TokenizerJsonException($"{source}: model.dropout must be null or 0 for deterministic inference.");
        }

        _unkToken = TokenizerJson.OptionalString(model, "unk_token");
        _fuseUnk = TokenizerJson.OptionalBool(model, "fuse_unk", false);
        _byteFallback = TokenizerJson.OptionalBool(model, "byte_fallback", false);
        _ignoreMerges = TokenizerJson.OptionalBool(model, "ignore_merges", false);

        var vocabElement = TokenizerJson.Required(model, "vocab", source, "model");
        if (vocabElement.ValueKind != JsonValueKind.Object)
        {
            throw new TokenizerJsonException($"{source}: model.vocab must be an object mapping token to id.");
        }

        var mergesElement = TokenizerJson.RequiredArray(model, "merges", source, "model");
        var unkToken = _unkToken;
        if (unkToken is not null && !vocabElement.TryGetProperty(unkToken, out _))
        {
            throw new TokenizerJsonException($"{source}: model.unk_token '{unkToken}' is not in model.vocab.");
        }

        // The library copies the vocab and splits the merges itself, which is most of the load time, so it
        // reads them from the parsed document on another thread while this one builds the lookup tables.
        // It sees normalized, added-token-free pieces only: no normalizer, no special tokens (it would re-split
        // on them), and a pre-tokenizer that keeps each piece whole, because the library's default splits on
        // whitespace and drops "\n", which Gemma's vocab encodes.
        var bpeTask = Task.Run(() => BpeTokenizer.Create(new BpeOptions(
            vocabElement.EnumerateObject().Select(e => new KeyValuePair<string, int>(e.Name, e.Value.GetInt32())))
        {
            Merges = mergesElement.EnumerateArray().Select(m => MergeLine(m, source)),
            PreTokenizer = WholeTextPreTokenizer.Instance,
            Normalizer = null,
            UnknownToken = unkToken,
            FuseUnknownTokens = true,
        }));

        try
        {
            _vocab = new Dictionary<string, int>(vocabElement.GetPropertyCount(), StringComparer.Ordinal);
            var maxId = -1;
            foreach (var entry in vocabElement.EnumerateObject())
            {
                var id = entry.Value.GetInt32();
                _vocab[entry.Name] = id;
                maxId = Math.Max(maxId, id);
            }

            var specs = ReadAddedTokens(root, source);
            maxId = Math.Max(maxId, specs.Count == 0 ? -1 : specs.Max(s => s.Id));
            VocabularySize = maxId + 1;

            _normalizer = TextNormalizer.Create(root.TryGetProperty("normalizer", out var n) ? n : default, source);
            _splitter = PieceSplitter.Create(root.TryGetProperty("pre_tokenizer", out var p) ? p : default, source);
            _decoder = TokenDecoder.Create(root.TryGetProperty("decoder", out var d) ? d : default, source);

            _idToToken = new string?[VocabularySize];
            foreach (var (token, id) in _vocab)
            {
                _idToToken[id] = token;
            }

            var addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
            _isSpecial = new bool[VocabularySize];
            var specialContents = new HashSet<string>(StringComparer.Ordinal);
            var raw = new List<(string, AddedTokenSpec)>();
            var normalized = new List<(string, AddedTokenSpec)>();
            foreach (var s in specs)
            {
                _idToToken[s.Id] = s.Content;
                addedByContent[s.Content] = s.Id;
                if (s.Special)
                {
                    _isSpecial[s.Id] = true;
                    specialContents.Add(s.Content);
                }

                // As transformers.js: normalized tokens are looked for in normalized text, the others in raw text.
                if (s.Normalized && _normalizer is not null)
                {
                    normalized.Add((_normalizer.Normalize(s.Content), s));
                }
                else
                {
                    raw.Add((s.Content, s));
                }
            }

            // transformers.js maps every model output string through the added tokens first, so a vocab entry
            // whose text is also an added token (raw or normalized) encodes to the added id.
            _vocabIdToAddedId = new Dictionary<int, int>();
            foreach (var (content, spec) in raw.Concat(normalized))
            {
                if (_vocab.TryGetValue(content, out var vocabId) && vocabId != spec.Id)
                {
                    _vocabIdToAddedId[vocabId] = spec.Id;
                }
            }

            _addedByContent = addedByContent.ToFrozenDictionary(StringComparer.Ordinal);
            _specialContents = specialContents.ToFrozenSet(StringComparer.Ordinal);
            _rawMatcher = new AddedTokenMatcher(raw);
            _normalizedMatcher = new AddedTokenMatcher(normalized);
            AddedTokens = specs.Select(s => new AddedToken(s.Id, s.Content, s.Special)).ToArray();

            _unkId = unkToken is not null && TryGetTokenId(unkToken, out var unkId) ? unkId : -1;
            _byteIds = new int[256];
            for (var b = 0; b < 256; b++)
            {
                _byteIds[b] = _vocab.TryGetValue($"<0x{b:X2}>", out var byteId) ? byteId : -1;
            }

            BosId = RequireToken("<bos>");
            EosId = RequireToken("<eos>");
            PadId = RequireToken("<pad>");
        }
        finally
        {
            // The task reads the document, which the caller disposes once this constructor returns.
            ((IAsyncResult)bpeTask).AsyncWaitHandle.WaitOne();
        }

        _bpe = bpeTask.IsFaulted
            ? bpeTask.Exception!.InnerException is TokenizerJsonException inner ? throw inner : throw new TokenizerJsonException(
                $"{source}: the BPE model could not be built from model.vocab and model.merges: {bpeTask.Exception!.InnerException!.Message}",
                bpeTask.Exception.InnerException)
            : bpeTask.Result;
    }

    /// <summary>Max id + 1 over the vocab and the added tokens.</summary>
    public int VocabularySize { get; }

    /// <summary>The <c>added_tokens</c> entries in file order.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    /// <summary>Id of <c>&lt;bos&gt;</c>.</summary>
    public int BosId { get; }

    /// <summary>Id of <c>&lt;eos&gt;</c>.</summary>
    public int EosId { get; }

    /// <summary>Id of <c>&lt;pad&gt;</c>.</summary>
    public int PadId { get; }

    /// <summary>Loads a tokenizer.json file.</summary>
    public static GemmaTokenizer FromFile(string tokenizerJsonPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(tokenizerJsonPath);
        if (!File.Exists(tokenizerJsonPath))
        {
            throw new FileNotFoundException($"Tokenizer file '{tokenizerJsonPath}' does not exist; a Hugging Face tokenizer.json is expected.", tokenizerJsonPath);
        }

        using var stream = new FileStream(tokenizerJsonPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        return FromStream(stream, tokenizerJsonPath);
    }

    /// <summary>Loads a tokenizer.json from a UTF-8 stream; <paramref name="sourceName"/> names it in errors.</summary>
    public static GemmaTokenizer FromStream(Stream utf8Json, string sourceName)
    {
        ArgumentNullException.ThrowIfNull(utf8Json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(utf8Json, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw new TokenizerJsonException($"{sourceName}: not valid JSON ({ex.Message}); a Hugging Face tokenizer.json is expected.", ex);
        }

        using (document)
        {
            return new GemmaTokenizer(sourceName, document.RootElement);
        }
    }

    /// <summary>Encodes text to ids. Never adds BOS/EOS: prompts carry their own <c>&lt;bos&gt;</c>.</summary>
    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 2 + 4);
        Encode(text, ids);
        return ids.ToArray();
    }

    /// <summary>Encodes text and appends the ids to <paramref name="destination"/>.</summary>
    public void Encode(string text, List<int> destination)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(destination);
        var sections = new List<(string Text, AddedTokenSpec? Token)>();
        _rawMatcher.Split(text, sections);
        ApplyStrip(sections);

        var subsections = new List<(string Text, AddedTokenSpec? Token)>();
        var pieces = new List<Range>();
        foreach (var (sectionText, token) in sections)
        {
            if (token is not null)
            {
                destination.Add(token.Id);
                continue;
            }

            if (sectionText.Length == 0)
            {
                continue;
            }

            var normalizedText = _normalizer?.Normalize(sectionText) ?? sectionText;
            if (normalizedText.Length == 0)
            {
                continue;
            }

            subsections.Clear();
            _normalizedMatcher.Split(normalizedText, subsections);
            ApplyStrip(subsections);
            foreach (var (subText, subToken) in subsections)
            {
                if (subToken is not null)
                {
                    destination.Add(subToken.Id);
                    continue;
                }

                if (subText.Length == 0)
                {
                    continue;
                }

                pieces.Clear();
                _splitter.Split(subText, pieces);
                EncodeWithModel(subText, pieces, destination);
            }
        }
    }

    /// <summary>
    /// Decodes ids to text through the file's decoder. With <paramref name="skipSpecialTokens"/>, drops only
    /// added tokens marked special (e.g. &lt;bos&gt;), as transformers.js does; unknown ids read as the unk token.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens)
    {
        var tokens = new List<string>(ids.Length);
        foreach (var id in ids)
        {
            var token = (uint)id < (uint)_idToToken.Length ? _idToToken[id] ?? _unkToken : _unkToken;
            if (token is null || (skipSpecialTokens && _specialContents.Contains(token)))
            {
                continue;
            }

            tokens.Add(token);
        }

        if (_decoder is null)
        {
            return string.Join(' ', tokens);
        }

        _decoder.Apply(tokens);
        return string.Concat(tokens);
    }

    /// <summary>Looks a token string up among the added tokens, then the vocab.</summary>
    public bool TryGetTokenId(string token, out int id)
    {
        ArgumentNullException.ThrowIfNull(token);
        return _addedByContent.TryGetValue(token, out id) || _vocab.TryGetValue(token, out id);
    }

    /// <summary>The token string of an id, or null when the id is in neither the vocab nor the added tokens.</summary>
    public string? GetToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    /// <summary>True for an added token the file marks <c>special</c>.</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_isSpecial.Length && _isSpecial[id];

    /// <summary>Empties the piece cache, so that tests can measure encoding without it.</summary>
    internal void ClearPieceCache() => _pieceCache.Clear();

    private int RequireToken(string token) =>
        TryGetTokenId(token, out var id)
            ? id
            : throw new TokenizerJsonException($"{_source}: token '{token}' is in neither added_tokens nor model.vocab; a Gemma tokenizer must define it.");

    private static List<AddedTokenSpec> ReadAddedTokens(JsonElement root, string source)
    {
        var specs = new List<AddedTokenSpec>();
        if (root.TryGetProperty("added_tokens", out var addedElement) && addedElement.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in addedElement.EnumerateArray())
            {
                // HF defaults: special=false, normalized = !special.
                var special = TokenizerJson.OptionalBool(a, "special", false);
                specs.Add(new AddedTokenSpec(
                    TokenizerJson.Required(a, "id", source, "an added_tokens entry").GetInt32(),
                    TokenizerJson.RequiredString(a, "content", source, "an added_tokens entry"),
                    special,
                    TokenizerJson.OptionalBool(a, "single_word", false),
                    TokenizerJson.OptionalBool(a, "lstrip", false),
                    TokenizerJson.OptionalBool(a, "rstrip", false),
                    TokenizerJson.OptionalBool(a, "normalized", !special)));
            }
        }

        return specs;
    }

    // The library takes merges as "a b" lines: legacy strings already are, [a, b] pairs are joined with one space.
    // A part containing ' ' cannot be expressed that way; the library rejects such a line, reported at load.
    private static string MergeLine(JsonElement merge, string source)
    {
        if (merge.ValueKind == JsonValueKind.String)
        {
            return merge.GetString()!;
        }

        if (merge.ValueKind != JsonValueKind.Array || merge.GetArrayLength() != 2
            || merge[0].ValueKind != JsonValueKind.String || merge[1].ValueKind != JsonValueKind.String)
        {
            throw new TokenizerJsonException($"{source}: model.merges entries must be \"a b\" strings or [a, b] pairs of strings, found {merge.GetRawText()}.");
        }

        return string.Concat(merge[0].GetString(), " ", merge[1].GetString());
    }

    // lstrip/rstrip trim the neighbouring plain sections, as transformers.js's encode_text does.
    private static void ApplyStrip(List<(string Text, AddedTokenSpec? Token)> sections)
    {
        for (var i = 0; i < sections.Count; i++)
        {
            if (sections[i].Token is not { } token)
            {
                continue;
            }

            if (token.LStrip && i > 0 && sections[i - 1].Token is null)
            {
                sections[i - 1] = (TrimJsWhitespace(sections[i - 1].Text, start: false), null);
            }

            if (token.RStrip && i < sections.Count - 1 && sections[i + 1].Token is null)
            {
                sections[i + 1] = (TrimJsWhitespace(sections[i + 1].Text, start: true), null);
            }
        }
    }

    private static string TrimJsWhitespace(string s, bool start)
    {
        static bool IsJsSpace(char c) => char.IsWhiteSpace(c) || c == '\uFEFF';
        if (start)
        {
            var i = 0;
            while (i < s.Length && IsJsSpace(s[i]))
            {
                i++;
            }

            return s[i..];
        }

        var end = s.Length;
        while (end > 0 && IsJsSpace(s[end - 1]))
        {
            end--;
        }

        return s[..end];
    }

    private void EncodeWithModel(string text, List<Range> pieces, List<int> destination)
    {
        // fuse_unk applies across all pieces of one model call, as in transformers.js.
        var lastWasUnk = false;
        foreach (var range in pieces)
        {
            var piece = text[range];
            if (piece.Length == 0)
            {
                continue;
            }

            var ids = EncodePiece(piece);
            var skip = _fuseUnk && lastWasUnk && ids.Length > 0 && ids[0] == _unkId ? 1 : 0;
            destination.AddRange(ids.AsSpan(skip));
            if (ids.Length > 0)
            {
                lastWasUnk = ids[^1] == _unkId;
            }
        }
    }

    // Prompts repeat (the same task prefix for every image), and the library caches only words of up to 15
    // characters, so pieces of up to MaxCachedPieceLength characters are cached here. The cache stops growing at
    // MaxCachedPieces entries rather than evicting, which keeps it lock-free and bounded.
    private int[] EncodePiece(string piece)
    {
        if (_pieceCache.TryGetValue(piece, out var cached))
        {
            return cached;
        }

        var ids = EncodePieceUncached(piece);
        if (_vocabIdToAddedId.Count > 0)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                if (_vocabIdToAddedId.TryGetValue(ids[i], out var added))
                {
                    ids[i] = added;
                }
            }
        }

        if (piece.Length <= MaxCachedPieceLength && _pieceCache.Count < MaxCachedPieces)
        {
            _pieceCache.TryAdd(piece, ids);
        }

        return ids;
    }

    private int[] EncodePieceUncached(string piece)
    {
        if (_ignoreMerges && _vocab.TryGetValue(piece, out var whole))
        {
            return [whole];
        }

        var ids = _bpe.EncodeToIds(piece, considerPreTokenization: true, considerNormalization: false);
        if (_unkId < 0 || !ids.Contains(_unkId))
        {
            return [.. ids];
        }

        // Some characters are outside the vocab: offsets locate them, and each becomes its UTF-8 bytes as
        // <0xNN> tokens (or <unk>, fused when fuse_unk), exactly where transformers.js's BPE model puts them.
        var result = new List<int>(ids.Count + 8);
        var lastWasUnk = false;
        foreach (var token in _bpe.EncodeToTokens(piece, out _, considerPreTokenization: true, considerNormalization: false))
        {
            var span = piece.AsSpan(token.Offset);
            if (token.Id != _unkId || span.SequenceEqual(_unkToken))
            {
                result.Add(token.Id);
                lastWasUnk = false;
                continue;
            }

            foreach (var rune in span.EnumerateRunes())
            {
                if (_byteFallback && TryAppendBytes(rune, result))
                {
                    lastWasUnk = false;
                }
                else if (!(_fuseUnk && lastWasUnk))
                {
                    result.Add(_unkId);
                    lastWasUnk = true;
                }
            }
        }

        return [.. result];
    }

    private bool TryAppendBytes(Rune rune, List<int> destination)
    {
        Span<byte> utf8 = stackalloc byte[4];
        var count = rune.EncodeToUtf8(utf8);
        for (var i = 0; i < count; i++)
        {
            if (_byteIds[utf8[i]] < 0)
            {
                return false;
            }
        }

        for (var i = 0; i < count; i++)
        {
            destination.Add(_byteIds[utf8[i]]);
        }

        return true;
    }

    /// <summary>Keeps the whole (already normalized, added-token-free) piece as one word for the library.</summary>
    private sealed class WholeTextPreTokenizer : PreTokenizer
    {
        public static readonly WholeTextPreTokenizer Instance = new();

        public override IEnumerable<(int Offset, int Length)> PreTokenize(string text) =>
            string.IsNullOrEmpty(text) ? [] : [(0, text.Length)];

        public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text) =>
            text.IsEmpty ? [] : [(0, text.Length)];
    }
}

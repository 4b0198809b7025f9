using System.Diagnostics;
using System.Text;
using PaliGemma.Inference.Tokenization;
using Xunit.Abstractions;

namespace PaliGemma.Inference.Tests.Tokenization;

/// <summary>Loads the real 262k-vocab Gemma file once and runs transformers.js once over the whole corpus.</summary>
public sealed class GemmaReferenceFixture
{
    public const int CorpusSize = 6000;

    private readonly Lazy<(GemmaTokenizer Tokenizer, TimeSpan LoadTime)> _tokenizer = new(() =>
    {
        NodeReference.EnsureAvailable();
        var path = Path.Combine(NodeReference.GemmaModelFolder, "tokenizer.json");
        var stopwatch = Stopwatch.StartNew();
        var tokenizer = GemmaTokenizer.FromFile(path);
        return (tokenizer, stopwatch.Elapsed);
    });

    private readonly Lazy<IReadOnlyList<ReferenceTokenization>> _reference;

    public GemmaReferenceFixture()
    {
        _reference = new Lazy<IReadOnlyList<ReferenceTokenization>>(() => NodeReference.Run(Strings, NodeReference.GemmaModelFolder));
    }

    public IReadOnlyList<string> Strings { get; } = TokenizerStringCorpus.Build(CorpusSize);

    public GemmaTokenizer Tokenizer => _tokenizer.Value.Tokenizer;

    public TimeSpan LoadTime => _tokenizer.Value.LoadTime;

    public IReadOnlyList<ReferenceTokenization> Reference => _reference.Value;
}

/// <summary>Id-for-id conformance of <see cref="GemmaTokenizer"/> with transformers.js on the real Gemma file.</summary>
[Collection(GemmaFileCollection.Name)]
public sealed class GemmaTokenizerConformanceTests(GemmaReferenceFixture fixture, ITestOutputHelper output)
    : IClassFixture<GemmaReferenceFixture>
{
    [NodeReferenceFact]
    public void Encode_matches_transformers_js_for_every_corpus_string()
    {
        var tokenizer = fixture.Tokenizer;
        var reference = fixture.Reference;
        Assert.True(fixture.Strings.Count >= 5000);

        // The corpus must reach the paths that matter, or equality proves little: byte fallback (<0x00>..<0xFF>),
        // added tokens, newlines and multi-space runs.
        tokenizer.TryGetTokenId("<0x00>", out var firstByte);
        tokenizer.TryGetTokenId("<0xFF>", out var lastByte);
        var addedIds = tokenizer.AddedTokens.Select(t => t.Id).ToHashSet();
        var withBytes = reference.Count(r => r.Ids.Any(id => id >= firstByte && id <= lastByte));
        var withAdded = reference.Count(r => r.Ids.Any(addedIds.Contains));
        var withNewline = fixture.Strings.Count(s => s.Contains('\n', StringComparison.Ordinal));
        output.WriteLine($"corpus: {fixture.Strings.Count} strings, {withBytes} with byte-fallback ids, {withAdded} with added-token ids, {withNewline} with newlines");
        Assert.True(withBytes > 300 && withAdded > 300 && withNewline > 300, "corpus does not exercise byte fallback, added tokens and newlines enough");

        tokenizer.ClearPieceCache();
        var stopwatch = Stopwatch.StartNew();
        var actual = fixture.Strings.Select(tokenizer.Encode).ToArray();
        var elapsed = stopwatch.Elapsed;
        stopwatch.Restart();
        foreach (var s in fixture.Strings)
        {
            tokenizer.Encode(s);
        }

        var warm = stopwatch.Elapsed;
        output.WriteLine($"load {fixture.LoadTime.TotalMilliseconds:F0} ms (vocab {tokenizer.VocabularySize}); " +
                         $"encoded {actual.Length} strings in {elapsed.TotalMilliseconds:F0} ms = {actual.Length / elapsed.TotalSeconds:F0} strings/s " +
                         $"(again with the piece cache filled: {actual.Length / warm.TotalSeconds:F0} strings/s)");

        var mismatches = Enumerable.Range(0, actual.Length).Where(i => !actual[i].SequenceEqual(reference[i].Ids)).ToList();
        Assert.True(mismatches.Count == 0, Describe(mismatches, i =>
            $"{Escape(fixture.Strings[i])}\n  transformers.js: [{string.Join(",", reference[i].Ids)}]\n  ours:            [{string.Join(",", actual[i])}]"));
    }

    [NodeReferenceFact]
    public void Decode_matches_transformers_js_with_and_without_skipping_special_tokens()
    {
        var tokenizer = fixture.Tokenizer;
        var reference = fixture.Reference;
        var mismatches = new List<int>();
        for (var i = 0; i < reference.Count; i++)
        {
            if (tokenizer.Decode(reference[i].Ids, skipSpecialTokens: false) != reference[i].Decoded
                || tokenizer.Decode(reference[i].Ids, skipSpecialTokens: true) != reference[i].DecodedSkip)
            {
                mismatches.Add(i);
            }
        }

        Assert.True(mismatches.Count == 0, Describe(mismatches, i =>
            $"ids [{string.Join(",", reference[i].Ids)}]\n  transformers.js: {Escape(reference[i].Decoded)} / skip {Escape(reference[i].DecodedSkip)}\n" +
            $"  ours:            {Escape(tokenizer.Decode(reference[i].Ids, false))} / skip {Escape(tokenizer.Decode(reference[i].Ids, true))}"));
    }

    [NodeReferenceFact]
    public void Decode_of_encode_returns_the_text_when_it_has_no_metaspace_or_added_token_text()
    {
        var tokenizer = fixture.Tokenizer;
        var contents = tokenizer.AddedTokens.Select(t => t.Content).ToArray();
        var candidates = fixture.Strings
            .Where(s => !s.Contains('▁', StringComparison.Ordinal) && !contents.Any(c => s.Contains(c, StringComparison.Ordinal)))
            .ToList();
        Assert.True(candidates.Count > 2000, $"only {candidates.Count} round-trip candidates");

        var failures = candidates.Where(s => tokenizer.Decode(tokenizer.Encode(s), skipSpecialTokens: false) != s).ToList();
        Assert.True(failures.Count == 0, Describe(Enumerable.Range(0, failures.Count).ToList(), i =>
            $"{Escape(failures[i])} -> {Escape(tokenizer.Decode(tokenizer.Encode(failures[i]), false))}"));
    }

    [NodeReferenceFact]
    public void Concurrent_encoding_gives_the_same_ids_as_sequential_encoding()
    {
        var tokenizer = fixture.Tokenizer;
        var strings = fixture.Strings;
        var sequential = strings.Select(tokenizer.Encode).ToArray();
        var concurrent = new int[strings.Count][];
        Parallel.For(0, strings.Count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => concurrent[i] = tokenizer.Encode(strings[i]));
        for (var i = 0; i < strings.Count; i++)
        {
            Assert.Equal(sequential[i], concurrent[i]);
        }
    }

    [NodeReferenceFact]
    public void Loads_the_262k_file_with_its_special_ids()
    {
        var tokenizer = fixture.Tokenizer;
        output.WriteLine($"load time {fixture.LoadTime.TotalMilliseconds:F0} ms");

        // Values read from the file by hand: <pad>0 <eos>1 <bos>2, vocab 0..262143 plus <image_soft_token> 262144.
        Assert.Equal(0, tokenizer.PadId);
        Assert.Equal(1, tokenizer.EosId);
        Assert.Equal(2, tokenizer.BosId);
        Assert.Equal(262145, tokenizer.VocabularySize);
        Assert.True(tokenizer.IsSpecial(2));
        Assert.False(tokenizer.IsSpecial(6)); // <unused0> is an added token with special=false
        Assert.Equal("<unused0>", tokenizer.GetToken(6));
        Assert.Equal(6415, tokenizer.AddedTokens.Count);

        // A generous bound: the target is well under 1.5 s, but CI machines are shared.
        Assert.True(fixture.LoadTime < TimeSpan.FromSeconds(15), $"loading took {fixture.LoadTime}");
    }

    internal static string Describe(List<int> indices, Func<int, string> describe)
    {
        var sb = new StringBuilder($"{indices.Count} mismatches; first ones:\n");
        foreach (var i in indices.Take(8))
        {
            sb.Append(describe(i)).Append('\n');
        }

        return sb.ToString();
    }

    internal static string Escape(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (var rune in s.EnumerateRunes())
        {
            if (rune.Value is < 0x20 or (>= 0x7F and < 0xA0) || Rune.GetUnicodeCategory(rune) is System.Globalization.UnicodeCategory.Format
                    or System.Globalization.UnicodeCategory.PrivateUse or System.Globalization.UnicodeCategory.OtherNotAssigned
                    or System.Globalization.UnicodeCategory.NonSpacingMark)
            {
                sb.Append(rune.Value > 0xFFFF ? $"\\U{rune.Value:X8}" : $"\\u{rune.Value:X4}");
            }
            else
            {
                sb.Append(rune.ToString());
            }
        }

        return sb.Append('"').ToString();
    }
}

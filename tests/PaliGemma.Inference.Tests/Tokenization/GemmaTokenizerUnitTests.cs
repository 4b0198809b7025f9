using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using PaliGemma.Inference.Tokenization;

namespace PaliGemma.Inference.Tests.Tokenization;

/// <summary>
/// Behaviour on a tiny hand-written tokenizer.json whose expected ids are worked out by hand from the BPE rules:
/// byte fallback, added-token flags, decoding and load errors. Needs neither node nor the 33 MB file.
/// </summary>
public sealed class GemmaTokenizerUnitTests
{
    // Ids: <pad>0 <eos>1 <bos>2 <unk>3, <0x00>..<0xFF> = 4..259, then the pieces below, then added tokens 270..273.
    private static JsonObject TinyFile(bool byteFallback = true)
    {
        var vocab = new JsonObject { ["<pad>"] = 0, ["<eos>"] = 1, ["<bos>"] = 2, ["<unk>"] = 3 };
        for (var b = 0; b < 256; b++)
        {
            vocab[$"<0x{b:X2}>"] = 4 + b;
        }

        vocab["▁"] = 260;
        vocab["a"] = 261;
        vocab["b"] = 262;
        vocab["ab"] = 263;
        vocab["▁ab"] = 264;
        vocab["\n"] = 265;

        static JsonObject Added(int id, string content, bool special, bool lstrip = false, bool rstrip = false) => new()
        {
            ["id"] = id, ["content"] = content, ["single_word"] = false, ["lstrip"] = lstrip, ["rstrip"] = rstrip,
            ["normalized"] = false, ["special"] = special,
        };

        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(
                Added(0, "<pad>", true), Added(1, "<eos>", true), Added(2, "<bos>", true), Added(3, "<unk>", true),
                Added(270, "<loc0001>", false), Added(271, "<image>", true), Added(272, "<rs>", false, rstrip: true),
                Added(273, "<ls>", false, lstrip: true)),
            ["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" },
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Split", ["pattern"] = new JsonObject { ["String"] = " " }, ["behavior"] = "MergedWithPrevious", ["invert"] = false,
            },
            ["post_processor"] = null,
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" },
                    new JsonObject { ["type"] = "Fuse" }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null, ["fuse_unk"] = true, ["byte_fallback"] = byteFallback, ["ignore_merges"] = false,
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(new JsonArray("a", "b"), new JsonArray("▁", "ab")),
            },
        };
    }

    private static GemmaTokenizer Load(JsonObject file) =>
        GemmaTokenizer.FromStream(new MemoryStream(Encoding.UTF8.GetBytes(file.ToJsonString())), "tiny/tokenizer.json");

    [Fact]
    public void Merges_apply_by_rank_after_spaces_become_metaspace()
    {
        // "ab ab" -> "ab▁ab" -> a b ▁ a b; rank 0 (a,b) twice -> ab ▁ ab; rank 1 (▁,ab) -> ab ▁ab.
        Assert.Equal([263, 264], Load(TinyFile()).Encode("ab ab"));
    }

    [Fact]
    public void Characters_outside_the_vocab_become_their_utf8_bytes()
    {
        var tokenizer = Load(TinyFile());
        Assert.Equal([4 + 0x78], tokenizer.Encode("x"));
        Assert.Equal([261, 4 + 0xE2, 4 + 0x82, 4 + 0xAC, 265], tokenizer.Encode("a€\n")); // € = E2 82 AC
        Assert.Equal([4 + 0xF0, 4 + 0x9F, 4 + 0x98, 4 + 0x80], tokenizer.Encode("😀")); // U+1F600 = F0 9F 98 80

        // A lone surrogate cannot be UTF-8 encoded; like the WHATWG TextEncoder it becomes U+FFFD = EF BF BD.
        Assert.Equal([261, 4 + 0xEF, 4 + 0xBF, 4 + 0xBD, 262], tokenizer.Encode("a\uD800b"));
    }

    [Fact]
    public void Without_byte_fallback_unknown_characters_fuse_into_one_unk()
    {
        Assert.Equal([261, 3, 262], Load(TinyFile(byteFallback: false)).Encode("axy€b"));
    }

    [Fact]
    public void Added_tokens_match_atomically_whether_special_or_not()
    {
        var tokenizer = Load(TinyFile());
        Assert.Equal([271, 271, 2, 270, 261], tokenizer.Encode("<image><image><bos><loc0001>a"));
        Assert.Equal([272, 261], tokenizer.Encode("<rs>  a"));          // rstrip eats the spaces after
        Assert.Equal([261, 273], tokenizer.Encode("a \t<ls>"));         // lstrip eats the spaces before
        Assert.Equal([261, 260, 273], tokenizer.Encode("a▁<ls>"));        // '▁' is not whitespace: kept
        Assert.Equal([4 + '<', 262, 4 + '>'], tokenizer.Encode("<b>"));      // a near-miss is plain text
    }

    [Fact]
    public void Decode_skips_only_special_added_tokens_and_replaces_invalid_utf8()
    {
        var tokenizer = Load(TinyFile());
        Assert.Equal("<bos>a<loc0001><image>", tokenizer.Decode([2, 261, 270, 271], skipSpecialTokens: false));
        Assert.Equal("a<loc0001>", tokenizer.Decode([2, 261, 270, 271], skipSpecialTokens: true));
        Assert.Equal("x ab", tokenizer.Decode([4 + 0x78, 264], skipSpecialTokens: false));
        Assert.Equal("\uFFFDa", tokenizer.Decode([4 + 0xE2, 4 + 0x82, 261], skipSpecialTokens: false)); // truncated €
        Assert.Equal("€", tokenizer.Decode([4 + 0xE2, 4 + 0x82, 4 + 0xAC], skipSpecialTokens: false));
    }

    [Fact]
    public void Exposes_ids_flags_and_sizes_from_the_file()
    {
        var tokenizer = Load(TinyFile());
        Assert.Equal((2, 1, 0), (tokenizer.BosId, tokenizer.EosId, tokenizer.PadId));
        Assert.Equal(274, tokenizer.VocabularySize);
        Assert.True(tokenizer.IsSpecial(271));
        Assert.False(tokenizer.IsSpecial(270));
        Assert.False(tokenizer.IsSpecial(261));
        Assert.True(tokenizer.TryGetTokenId("▁ab", out var id) && id == 264);
        Assert.False(tokenizer.TryGetTokenId("zz", out _));
        Assert.Equal("<loc0001>", tokenizer.GetToken(270));
        Assert.Null(tokenizer.GetToken(269));
        Assert.Contains(new AddedToken(270, "<loc0001>", false), tokenizer.AddedTokens);
    }

    [Fact]
    public void A_model_that_is_not_bpe_is_rejected_naming_the_file()
    {
        var file = TinyFile();
        file["model"]!["type"] = "Unigram";
        var error = Assert.Throws<TokenizerJsonException>(() => Load(file));
        Assert.Contains("tiny/tokenizer.json", error.Message);
        Assert.Contains("BPE", error.Message);
    }

    [Fact]
    public void Missing_fields_and_tokens_are_reported()
    {
        var noMerges = TinyFile();
        ((JsonObject)noMerges["model"]!).Remove("merges");
        Assert.Contains("merges", Assert.Throws<TokenizerJsonException>(() => Load(noMerges)).Message);

        var noBos = TinyFile();
        ((JsonObject)noBos["model"]!["vocab"]!).Remove("<bos>");
        noBos["added_tokens"]!.AsArray().RemoveAt(2);
        Assert.Contains("<bos>", Assert.Throws<TokenizerJsonException>(() => Load(noBos)).Message);

        var regexNormalizer = TinyFile();
        regexNormalizer["normalizer"]!["pattern"] = new JsonObject { ["Regex"] = "\\s+" };
        Assert.Contains("normalizer", Assert.Throws<TokenizerJsonException>(() => Load(regexNormalizer)).Message);

        Assert.Throws<TokenizerJsonException>(() =>
            GemmaTokenizer.FromStream(new MemoryStream("{ not json"u8.ToArray()), "broken.json"));
    }
}

using System.Text;

namespace PaliGemma.Inference.Tests.Tokenization;

/// <summary>
/// Deterministic (seeded) test strings covering what the Gemma tokenizer must get right: prose, CJK, emoji
/// with ZWJ and skin tones, code, whitespace runs, newlines, byte-fallback characters, added-token text and
/// near-misses, and PaliGemma prompts. The expected ids come from transformers.js, never from this code.
/// </summary>
internal static class TokenizerStringCorpus
{
    private static readonly string[] Words =
    [
        "the", "cat", "sat", "on", "a", "mat", "photograph", "of", "two", "dogs", "running", "through", "snowy", "field",
        "Image", "shows", "red", "car", "parked", "near", "building", "with", "tall", "windows", "tokenizer", "byte",
        "fallback", "isn't", "we're", "don't", "COVID-19", "e-mail", "U.S.A.", "3.14159", "1,000,000", "50%", "$12.99",
        "naïve", "café", "résumé", "Ärger", "straße", "Łódź", "München", "señor", "Ελληνικά", "русский", "язык",
        "עברית", "العربية", "हिन्दी", "ภาษาไทย", "tiếng", "Việt", "안녕하세요", "supercalifragilisticexpialidocious",
    ];

    private static readonly string[] Cjk =
    [
        "我爱自然语言处理", "今天天气很好", "一只猫坐在垫子上", "東京タワーの写真", "ひらがなとカタカナ", "漢字かな交じり文",
        "图像描述", "这是什么？", "「引用」と『二重』", "한국어 문장입니다", "𠀋𡈽𡌛", "繁體中文測試",
    ];

    private static readonly string[] Emoji =
    [
        "😀", "😂", "🙂", "👍", "👍🏽", "👋🏿", "🧑‍💻", "👩‍👩‍👧‍👦", "🏳️‍🌈", "❤️", "🇫🇷", "🇯🇵", "✅", "🚀", "🐈‍⬛",
        "👨🏻‍🦰", "🫠", "🦄", "⭐", "☕", "1️⃣", "🤷‍♀️", "🧑🏾‍🤝‍🧑🏼",
    ];

    private static readonly string[] Code =
    [
        "for (int i = 0; i < n; i++) {\n    sum += a[i];\n}",
        "def f(x):\n\treturn x ** 2  # square",
        "SELECT id, name FROM users WHERE age >= 18;",
        "const re = /<loc(\\d{4})>/g;",
        "if (a && b || !c) { return null; }",
        "<div class=\"box\">&nbsp;</div>",
        "x = {'a': [1, 2, 3], \"b\": None}",
        "fn main() -> Result<(), Box<dyn Error>> { Ok(()) }",
        "#include <stdio.h>\r\nint main(void) { printf(\"%d\\n\", 42); }",
        "    indented    with    spaces",
    ];

    private static readonly string[] Tasks =
    [
        "caption en", "caption es", "describe en", "ocr", "answer en what is this?", "answer en how many dogs are there?",
        "question en where is the cat?", "detect cat", "detect cat ; dog", "detect person ; car ; traffic light",
        "segment cat", "segment left wheel", "caption fr", "answer de Was ist das?",
    ];

    // Characters outside (or likely outside) the vocab, so that byte fallback must produce <0xNN> tokens:
    // rare scripts, private use, noncharacters, unassigned-ish planes, lone combining marks, controls.
    private static readonly string[] Rare =
    [
        "\U00010348", "\U0001D11E", "\U00016A40", "\U0001E900", "\U00011000", "\U000E0001", "\U000F0000", "\U0010FFFD",
        "\uE000", "\uF8FF", "\uFDD0", "\uFFFE", "\u0378", "\u0530", "\u1AB0", "\u0301", "\u0300\u0301", "\u20DD", "\u0007",
        "\u001B", "\u200B", "\u2060", "\uFEFF", "\u00AD", "\u061C", "\U0001F8FF", "\U0002FA1D", "\U00031350", "\u0B55",
        "\U00013000", "\U00012000", "\U0001F9FF", "ᚠᛇᚻ", "ꦲꦏ꧀ꦱꦫ", "\U000E0041\U000E0042",
    ];

    private static readonly string[] AddedTokenText =
    [
        "<bos>", "<eos>", "<pad>", "<unk>", "<mask>", "<image>", "<image><image>", "<start_of_turn>", "<end_of_turn>",
        "<start_of_image>", "<end_of_image>", "<image_soft_token>", "<unused0>", "<unused42>", "<unused6241>", "[multimodal]",
        "<loc0000>", "<loc0123>", "<loc1023>", "<seg000>", "<seg042>", "<seg127>",
    ];

    private static readonly string[] NearMisses =
    [
        "<loc12>", "<loc01234>", "<loc>", "<seg42>", "<seg0420>", "<bos", "bos>", "< bos>", "<BOS>", "<<bos>>",
        "<unused>", "<unused6242>", "<image", "<start_of_turn", "[multimodal", "<0x41>", "<0xZZ>", "<eos><eos",
    ];

    /// <summary>Builds <paramref name="count"/> strings from a fixed seed; the same list every run.</summary>
    public static List<string> Build(int count, int seed = 20241128)
    {
        var random = new Random(seed);
        var result = new List<string>(count)
        {
            // Fixed cases first so that they are always present whatever the count.
            "", " ", "  ", "\n", "\r\n", "\t", "a", "hello world", " leading", "trailing ", "  both  ", "\n\n\n",
            "line1\nline2\r\nline3\n\n\nline4", "tabs\t\tand\tspaces   mixed \t \n", "<bos>caption en\n",
            "<image><image><image><bos>detect cat ; dog\n", "<loc0123><loc0456><loc0789><loc1023> cat", "<seg042><seg127>",
            "▁already▁has▁metaspace", "▁", "\u0301", "\U00010348", "\uE000\uF8FF", "👩‍👩‍👧‍👦", "👍🏽👍🏿",
        };

        while (result.Count < count)
        {
            result.Add(random.Next(14) switch
            {
                0 => Sentence(random),
                1 => Pick(random, Cjk) + (random.Next(2) == 0 ? "。" : Pick(random, Cjk)),
                2 => Join(random, Emoji, random.Next(1, 5), random.Next(2) == 0 ? "" : " ") + (random.Next(2) == 0 ? " " + Sentence(random) : ""),
                3 => Pick(random, Code),
                4 => Whitespace(random) + Pick(random, Words) + Whitespace(random) + Pick(random, Words) + Whitespace(random),
                5 => Pick(random, Words) + Newlines(random) + Sentence(random) + Newlines(random),
                6 => Pick(random, Words) + Join(random, Rare, random.Next(1, 4), "") + Pick(random, Words),
                7 => Join(random, AddedTokenText, random.Next(1, 4), random.Next(3) == 0 ? " " : "") + " " + Pick(random, Words),
                8 => Pick(random, Words) + Pick(random, NearMisses) + Pick(random, NearMisses),
                9 => Prompt(random),
                10 => Detection(random),
                11 => Mixed(random),
                12 => RandomCodePoints(random),
                _ => Pick(random, Words) + Pick(random, AddedTokenText) + Pick(random, NearMisses) + Whitespace(random),
            });
        }

        return result;
    }

    private static string Pick(Random r, string[] items) => items[r.Next(items.Length)];

    private static string Join(Random r, string[] items, int n, string separator) =>
        string.Join(separator, Enumerable.Range(0, n).Select(_ => Pick(r, items)));

    private static string Sentence(Random r)
    {
        var s = Join(r, Words, r.Next(1, 12), " ");
        return char.ToUpperInvariant(s[0]) + s[1..] + Pick(r, [".", "!", "?", "", "...", ";", ","]);
    }

    private static string Whitespace(Random r) =>
        new(Enumerable.Range(0, r.Next(0, 6)).Select(_ => " \t\n"[r.Next(3)]).ToArray());

    private static string Newlines(Random r) => Pick(r, ["\n", "\r\n", "\n\n", "\r\n\r\n", "\n\n\n\n", "\r", " \n "]);

    private static string Prompt(Random r)
    {
        var images = string.Concat(Enumerable.Repeat("<image>", r.Next(0, 4)));
        return images + (r.Next(3) == 0 ? "" : "<bos>") + Pick(r, Tasks) + (r.Next(4) == 0 ? "" : "\n");
    }

    private static string Detection(Random r)
    {
        var sb = new StringBuilder();
        for (var i = r.Next(1, 4); i > 0; i--)
        {
            for (var k = 0; k < 4; k++)
            {
                sb.Append("<loc").Append(r.Next(1024).ToString("D4")).Append('>');
            }

            sb.Append(' ').Append(Pick(r, Words));
            if (r.Next(2) == 0)
            {
                sb.Append(string.Concat(Enumerable.Range(0, r.Next(1, 4)).Select(_ => "<seg" + r.Next(128).ToString("D3") + ">")));
            }

            sb.Append(i > 1 ? " ; " : "");
        }

        return sb.ToString() + (r.Next(2) == 0 ? "<eos>" : "");
    }

    private static string Mixed(Random r)
    {
        var parts = new[] { Sentence(r), Pick(r, Cjk), Pick(r, Emoji), Pick(r, Rare), Pick(r, NearMisses), Whitespace(r), Pick(r, AddedTokenText) };
        r.Shuffle(parts);
        return string.Concat(parts.Take(r.Next(2, parts.Length + 1)));
    }

    // Valid scalar values from a few ranges (no lone surrogates: those cannot cross the JSON boundary intact).
    private static string RandomCodePoints(Random r)
    {
        var sb = new StringBuilder();
        for (var i = r.Next(1, 10); i > 0; i--)
        {
            var cp = r.Next(6) switch
            {
                0 => r.Next(0x20, 0x7F),
                1 => r.Next(0xA0, 0x800),
                2 => r.Next(0x800, 0xD800),
                3 => r.Next(0xE000, 0x10000),
                4 => r.Next(0x10000, 0x30000),
                _ => r.Next(0x30000, 0x110000),
            };
            sb.Append(char.ConvertFromUtf32(cp));
        }

        return sb.ToString();
    }
}

namespace PaliGemma.Inference.Tokenization;

/// <summary>
/// Splits text into runs of plain text and added tokens, taking at each position the longest added token
/// that starts there (leftmost-longest), as transformers.js's DictionarySplitter and HF's Aho-Corasick
/// matcher do. Immutable after construction, so concurrent use is safe.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public AddedTokenSpec? Token;
    }

    private readonly Node _root = new();
    private readonly Dictionary<char, Node> _rootChildren = new();

    public AddedTokenMatcher(IEnumerable<(string Key, AddedTokenSpec Token)> entries)
    {
        _root.Children = _rootChildren;
        foreach (var (key, token) in entries)
        {
            if (key.Length == 0)
            {
                continue;
            }

            var node = _root;
            foreach (var c in key)
            {
                node.Children ??= new Dictionary<char, Node>();
                if (!node.Children.TryGetValue(c, out var next))
                {
                    next = new Node();
                    node.Children.Add(c, next);
                }

                node = next;
            }

            // First definition wins, like a Map built in file order where later duplicates are unusual anyway.
            node.Token ??= token;
        }
    }

    public bool IsEmpty => _rootChildren.Count == 0;

    /// <summary>Appends the sections of <paramref name="text"/>; a section with a token is that token's match.</summary>
    public void Split(string text, List<(string Text, AddedTokenSpec? Token)> sections)
    {
        if (IsEmpty)
        {
            sections.Add((text, null));
            return;
        }

        var start = 0;
        var i = 0;
        while (i < text.Length)
        {
            AddedTokenSpec? match = null;
            var matchEnd = 0;
            if (_rootChildren.TryGetValue(text[i], out var node))
            {
                var j = i;
                while (true)
                {
                    j++;
                    if (node.Token is { } t && (!t.SingleWord || IsWordBoundary(text, i, j)))
                    {
                        match = t;
                        matchEnd = j;
                    }

                    if (j >= text.Length || node.Children is null || !node.Children.TryGetValue(text[j], out node))
                    {
                        break;
                    }
                }
            }

            if (match is null)
            {
                i++;
                continue;
            }

            if (i > start)
            {
                sections.Add((text[start..i], null));
            }

            sections.Add((text[i..matchEnd], match));
            i = matchEnd;
            start = i;
        }

        if (start < text.Length)
        {
            sections.Add((text[start..], null));
        }
    }

    // HF's single_word: the match must not touch a word character on either side.
    private static bool IsWordBoundary(string text, int start, int end) =>
        (start == 0 || !IsWordChar(text[start - 1])) && (end == text.Length || !IsWordChar(text[end]));

    private static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
}

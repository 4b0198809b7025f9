namespace PaliGemma.Pipeline.Catalog.Tests;

// Expected values are worked by hand from the documented semantics (shell-style globs, '**' spanning segments).
public sealed class GlobPatternTests
{
    [Theory]
    [InlineData("*.jpg", "a.jpg", true)]
    [InlineData("*.jpg", ".jpg", true)]
    [InlineData("*.jpg", "dir/a.jpg", false)]
    [InlineData("*.jpg", "a.jpeg", false)]
    [InlineData("*.jpg", "a.JPG", false)]
    [InlineData("*", "a/b", false)]
    [InlineData("**/*.jpg", "a.jpg", true)]
    [InlineData("**/*.jpg", "x/y/z.jpg", true)]
    [InlineData("**/*.jpg", "x/y/z.png", false)]
    [InlineData("**", "x/y/z.png", true)]
    [InlineData("photos/*/2024-*.png", "photos/trip/2024-01.png", true)]
    [InlineData("photos/*/2024-*.png", "photos/2024-01.png", false)]
    [InlineData("photos/*/2024-*.png", "photos/a/b/2024-01.png", false)]
    [InlineData("photos/*/2024-*.png", "photos/a/2023-01.png", false)]
    [InlineData("a/**/b", "a/b", true)]
    [InlineData("a/**/b", "a/x/b", true)]
    [InlineData("a/**/b", "a/x/y/b", true)]
    [InlineData("a/**/b", "a/x/y/c", false)]
    [InlineData("a/**/b/**/c.jpg", "a/1/b/2/b/3/c.jpg", true)]
    [InlineData("a/**/b/**/c.jpg", "a/1/2/3/c.jpg", false)]
    [InlineData("?.png", "a.png", true)]
    [InlineData("?.png", "ab.png", false)]
    [InlineData("?.png", ".png", false)]
    [InlineData("?.png", "é.png", true)]
    [InlineData("?.png", "😀.png", true)]
    [InlineData("[abc].txt", "b.txt", true)]
    [InlineData("[abc].txt", "d.txt", false)]
    [InlineData("[a-c]x", "cx", true)]
    [InlineData("[a-c]x", "dx", false)]
    [InlineData("[!a-c]x", "dx", true)]
    [InlineData("[!a-c]x", "ax", false)]
    [InlineData("[^a-c]x", "ax", false)]
    [InlineData("[]]", "]", true)]
    [InlineData("[]a]", "a", true)]
    [InlineData("\\*.txt", "*.txt", true)]
    [InlineData("\\*.txt", "a.txt", false)]
    [InlineData("*a*b", "xaybzb", true)]
    [InlineData("a*c", "abcb", false)]
    [InlineData("a*b*c", "abcbc", true)]
    [InlineData("a**b", "axxb", true)]
    [InlineData("a**b", "ax/xb", false)]
    [InlineData("with space/+plus%20.jpg", "with space/+plus%20.jpg", true)]
    public void IsMatch_follows_glob_semantics(string pattern, string key, bool expected)
    {
        // Given a compiled pattern
        var glob = GlobPattern.Parse(pattern);

        // When / Then
        Assert.Equal(expected, glob.IsMatch(key));
    }

    [Theory]
    [InlineData("photos/*/2024-*.png", "photos/")]
    [InlineData("**/*.jpg", "")]
    [InlineData("exact/name.jpg", "exact/name.jpg")]
    [InlineData("a\\*b*", "a*b")]
    [InlineData("img/[0-9]*.jpg", "img/")]
    [InlineData("x?y", "x")]
    public void LiteralPrefix_stops_at_the_first_wildcard(string pattern, string expected) =>
        Assert.Equal(expected, GlobPattern.Parse(pattern).LiteralPrefix);

    [Theory]
    [InlineData("")]
    [InlineData("/absolute/*.jpg")]
    [InlineData("[abc")]
    [InlineData("photos/[")]
    [InlineData("trailing\\")]
    [InlineData("[z-a]")]
    public void Parse_rejects_malformed_patterns_naming_the_pattern(string pattern)
    {
        var error = Assert.Throws<ArgumentException>(() => GlobPattern.Parse(pattern));
        if (pattern.Length > 0)
        {
            Assert.Contains(pattern, error.Message, StringComparison.Ordinal);
        }
    }
}

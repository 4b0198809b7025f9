namespace PaliGemma.Pipeline.Catalog.Tests;

public sealed class CatalogFilterTests
{
    [Theory]
    [InlineData("a.JPG", true)]
    [InlineData("dir/b.png", true)]
    [InlineData("c.gif", false)]
    [InlineData("noext", false)]
    [InlineData("dir.jpg/file", false)]
    [InlineData("archive.tar.jpg", true)]
    public void Extensions_match_the_last_segment_case_insensitively(string key, bool expected)
    {
        var filter = new CatalogFilter { Extensions = new HashSet<string> { "jpg", ".PNG" } };
        Assert.Equal(expected, filter.IsMatch(key, 1));
    }

    [Theory]
    [InlineData(9, false)]
    [InlineData(10, true)]
    [InlineData(20, true)]
    [InlineData(21, false)]
    public void Size_bounds_are_inclusive(long size, bool expected) =>
        Assert.Equal(expected, new CatalogFilter { MinSize = 10, MaxSize = 20 }.IsMatch("a.jpg", size));

    [Fact]
    public void All_conditions_must_hold()
    {
        var filter = new CatalogFilter { Prefix = "2024/", Glob = "**/*.jpg", MinSize = 5 };
        Assert.True(filter.IsMatch("2024/x/a.jpg", 5));
        Assert.False(filter.IsMatch("2023/x/a.jpg", 5));
        Assert.False(filter.IsMatch("2024/x/a.png", 5));
        Assert.False(filter.IsMatch("2024/x/a.jpg", 4));
        Assert.True(CatalogFilter.All.IsMatch("anything at all", 0));
    }

    [Theory]
    [InlineData("2024/", "**/*.jpg", "2024/")]
    [InlineData("ph", "photos/*", "photos/")]
    [InlineData("photos/2024", "photos/*", "photos/2024")]
    [InlineData("2024/", "2023/*", null)]
    [InlineData(null, null, "")]
    public void EffectivePrefix_combines_prefix_and_glob(string? prefix, string? glob, string? expected) =>
        Assert.Equal(expected, new CatalogFilter { Prefix = prefix, Glob = glob }.EffectivePrefix());

    [Fact]
    public void Invalid_glob_fails_when_the_filter_is_built() =>
        Assert.Throws<ArgumentException>(() => new CatalogFilter { Glob = "[abc" });

    [Fact]
    public void Validate_rejects_inconsistent_sizes()
    {
        Assert.Throws<ArgumentException>(() => new CatalogFilter { MinSize = 10, MaxSize = 5 }.Validate());
        Assert.Throws<ArgumentException>(() => new CatalogFilter { MinSize = -1 }.Validate());
        new CatalogFilter { MinSize = 5, MaxSize = 5 }.Validate();
    }
}

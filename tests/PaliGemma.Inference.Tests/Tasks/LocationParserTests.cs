using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Tests.Tasks;

/// <summary>Hand-worked examples: pixel = bin / 1024 * size; tokens are y1, x1, y2, x2.</summary>
public sealed class LocationParserTests
{
    [Fact]
    public void Single_box_on_a_640x480_image()
    {
        // y1 = 128/1024*480 = 60; x1 = 256/1024*640 = 160; y2 = 768/1024*480 = 360; x2 = 512/1024*640 = 320.
        IReadOnlyList<DetectedObject> objects = LocationParser.Parse("<loc0128><loc0256><loc0768><loc0512> cat", 640, 480);

        DetectedObject cat = Assert.Single(objects);
        Assert.Equal(new DetectedObject("cat", 160f, 60f, 320f, 360f, null), cat with { SegmentCodes = null });
        Assert.Null(cat.SegmentCodes);
        Assert.False(cat.HasSegmentCodes);
    }

    [Fact]
    public void Several_boxes_separated_by_semicolons_keep_their_labels()
    {
        // Image 1000 wide, 500 tall.
        // cat:  y1 = 0;                x1 = 100/1024*1000 = 97.65625; y2 = 1023/1024*500 = 499.51172; x2 = 1023/1024*1000 = 999.02344
        // dog:  y1 = 512/1024*500=250; x1 = 0;                         y2 = 640/1024*500 = 312.5;     x2 = 64/1024*1000 = 62.5
        const string Text = "<loc0000><loc0100><loc1023><loc1023> cat ; <loc0512><loc0000><loc0640><loc0064> brown dog";

        IReadOnlyList<DetectedObject> objects = LocationParser.Parse(Text, 1000, 500);

        Assert.Equal(2, objects.Count);
        AssertBox(objects[0], "cat", 97.65625f, 0f, 999.0234375f, 499.51171875f);
        AssertBox(objects[1], "brown dog", 0f, 250f, 62.5f, 312.5f);
    }

    [Fact]
    public void Segment_entry_carries_sixteen_codes()
    {
        // Box on 224x224: y1 = 256/1024*224 = 56, x1 = 0, y2 = 768/1024*224 = 168, x2 = 1023/1024*224 = 223.78125.
        string seg = string.Concat(Enumerable.Range(0, 16).Select(i => $"<seg{i * 8:000}>")); // codes 0, 8, ..., 120
        string text = $"<loc0256><loc0000><loc0768><loc1023>{seg} person";

        DetectedObject person = Assert.Single(LocationParser.Parse(text, 224, 224));

        AssertBox(person, "person", 0f, 56f, 223.78125f, 168f);
        Assert.True(person.HasSegmentCodes);
        Assert.Equal(Enumerable.Range(0, 16).Select(i => i * 8), person.SegmentCodes!);
        Assert.True(LocationParser.ContainsSegmentTokens(text));
    }

    [Theory]
    [InlineData("<loc0100><loc0200><loc0300> three tokens only")]
    [InlineData("<loc0500><loc0200><loc0300><loc0400> y2 below y1")]
    [InlineData("<loc0100><loc0500><loc0300><loc0400> x2 left of x1")]
    [InlineData("<loc0100> <loc0200><loc0300><loc0400> space between tokens")]
    [InlineData("<loc0100><loc0200>junk<loc0300><loc0400> stray text")]
    [InlineData("the <loc0100><loc0200><loc0300><loc0400> text before")]
    [InlineData("<loc0100><loc0200><loc0300><loc1024> bin out of range")]
    [InlineData("<loc100><loc0200><loc0300><loc0400> three digits")]
    [InlineData("<loc0100><loc0200><loc0300><loc0400><seg001><seg002> two seg tokens")]
    [InlineData("<loc0100><loc0200><loc0300><loc0400> label <loc0001> token in label")]
    [InlineData("")]
    [InlineData("a plain caption, no boxes")]
    public void Malformed_entries_are_skipped_without_throwing(string text)
    {
        Assert.Empty(LocationParser.Parse(text, 640, 480));
    }

    [Fact]
    public void Valid_entries_survive_next_to_malformed_ones()
    {
        // 1024x1024 image: pixel = bin exactly. 17 seg tokens (one too many) is malformed.
        string seventeen = string.Concat(Enumerable.Repeat("<seg005>", 17));
        string text = "<loc0010><loc0020><loc0030> broken ; "
            + "<loc0010><loc0020><loc0030><loc0040> good ; "
            + $"<loc0001><loc0002><loc0003><loc0004>{seventeen} too many ; "
            + "<loc0050><loc0060><loc0070><loc0080>";

        IReadOnlyList<DetectedObject> objects = LocationParser.Parse(text, 1024, 1024);

        Assert.Equal(2, objects.Count);
        AssertBox(objects[0], "good", 20f, 10f, 40f, 30f);
        AssertBox(objects[1], "", 60f, 50f, 80f, 70f); // cut off before its label: box kept, label empty
    }

    [Fact]
    public void Zero_area_box_is_kept_and_label_is_trimmed()
    {
        // 640 wide: x = 256/1024*640 = 160 for both edges; 480 tall: y = 512/1024*480 = 240 for both edges.
        DetectedObject o = Assert.Single(LocationParser.Parse("  <loc0512><loc0256><loc0512><loc0256>   a  dot \n", 640, 480));
        AssertBox(o, "a  dot", 160f, 240f, 160f, 240f);
    }

    [Fact]
    public void Bin_to_pixel_uses_1024_not_1023()
    {
        Assert.Equal(160f, LocationParser.BinToPixel(256, 640));   // 256/1024*640
        Assert.Equal(639.375f, LocationParser.BinToPixel(1023, 640)); // 1023/1024*640; /1023 would give 640
        Assert.Equal(0f, LocationParser.BinToPixel(0, 640));
    }

    [Fact]
    public void Segment_token_detection()
    {
        Assert.False(LocationParser.ContainsSegmentTokens("<loc0001><loc0002><loc0003><loc0004> cat"));
        Assert.False(LocationParser.ContainsSegmentTokens("<seg12> <segment>"));
        Assert.True(LocationParser.ContainsSegmentTokens("x <seg127>"));
    }

    [Fact]
    public void Non_positive_image_size_is_an_argument_error()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => LocationParser.Parse("", 0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => LocationParser.Parse("", 10, -1));
    }

    private static void AssertBox(DetectedObject o, string label, float x1, float y1, float x2, float y2)
    {
        Assert.Equal(label, o.Label);
        Assert.Equal(x1, o.X1, 4);
        Assert.Equal(y1, o.Y1, 4);
        Assert.Equal(x2, o.X2, 4);
        Assert.Equal(y2, o.Y2, 4);
    }
}

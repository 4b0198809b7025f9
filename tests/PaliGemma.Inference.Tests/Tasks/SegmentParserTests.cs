using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Tests.Tasks;

/// <summary>Hand-written segment answers through <see cref="LocationParser.ParseWithReport"/>: accepted objects and reported rejects.</summary>
public sealed class SegmentParserTests
{
    private static string Seg(params int[] codes) => string.Concat(codes.Select(c => $"<seg{c:000}>"));

    private static string Seg16(int start) => Seg(Enumerable.Range(start, 16).ToArray());

    [Fact]
    public void Several_objects_are_all_parsed_with_their_codes_and_boxes()
    {
        // 1024 x 512 image: x = bin, y = bin / 2.
        var text = $"<loc0100><loc0200><loc0300><loc0400>{Seg16(0)} cat ; <loc0000><loc0000><loc1023><loc1023>{Seg16(100)} big dog ; "
            + $"<loc0512><loc0010><loc0514><loc0012>{Seg16(50)} flea";

        var result = LocationParser.ParseWithReport(text, 1024, 512, TaskKind.Segment);

        Assert.Empty(result.Rejected);
        Assert.Equal(["cat", "big dog", "flea"], result.Objects.Select(o => o.Label));
        var cat = result.Objects[0];
        Assert.Equal((200f, 50f, 400f, 150f), (cat.X1, cat.Y1, cat.X2, cat.Y2));
        Assert.Equal(Enumerable.Range(0, 16), cat.SegmentCodes!);
        Assert.Equal(Enumerable.Range(100, 16), result.Objects[1].SegmentCodes!);
        Assert.All(result.Objects, o => Assert.True(o.HasSegmentCodes));
    }

    [Fact]
    public void A_missing_seg_token_rejects_that_object_only_and_says_so()
    {
        var fifteen = Seg(Enumerable.Range(0, 15).ToArray());
        var text = $"<loc0100><loc0200><loc0300><loc0400>{fifteen} cat ; <loc0100><loc0200><loc0300><loc0400>{Seg16(1)} dog";

        var result = LocationParser.ParseWithReport(text, 1024, 1024, TaskKind.Segment);

        Assert.Equal("dog", Assert.Single(result.Objects).Label);
        var rejected = Assert.Single(result.Rejected);
        Assert.Equal(0, rejected.Index);
        Assert.Contains("15 of the 16 <segNNN> tokens", rejected.Reason, StringComparison.Ordinal);
        Assert.StartsWith("<loc0100>", rejected.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Loc_tokens_without_any_seg_token_are_malformed_for_segment_but_fine_for_detect()
    {
        const string Text = "<loc0100><loc0200><loc0300><loc0400> cat";

        var segment = LocationParser.ParseWithReport(Text, 1024, 1024, TaskKind.Segment);
        var detect = LocationParser.ParseWithReport(Text, 1024, 1024, TaskKind.Detect);

        Assert.Empty(segment.Objects);
        Assert.Contains("no <segNNN> tokens", Assert.Single(segment.Rejected).Reason, StringComparison.Ordinal);
        Assert.Single(detect.Objects);
        Assert.Empty(detect.Rejected);
    }

    [Theory]
    [InlineData("<loc0500><loc0200><loc0300><loc0400>", "y2 below y1")]
    [InlineData("<loc0100><loc0500><loc0300><loc0400>", "x2 left of x1")]
    [InlineData("<loc0100><loc0200><loc0100><loc0400>", "y2 equal to y1: no area for a mask")]
    public void A_reversed_or_empty_box_is_rejected_not_swapped(string locs, string why)
    {
        var result = LocationParser.ParseWithReport($"{locs}{Seg16(3)} cat", 640, 480, TaskKind.Segment);

        Assert.True(result.Objects.Count == 0, why);
        Assert.Contains("needs y2 > y1 and x2 > x1", Assert.Single(result.Rejected).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Stray_text_is_reported_and_never_turned_into_objects()
    {
        var good = $"<loc0100><loc0200><loc0300><loc0400>{Seg16(7)} cat";
        var text = $"I see {good} ; {good} ; <loc0100><loc0200>oops<loc0300><loc0400>{Seg16(7)} dog ; "
            + $"<loc0100><loc0200><loc0300><loc0400><seg001>x{Seg(Enumerable.Range(0, 15).ToArray())} bird ; just words ;  ";

        var result = LocationParser.ParseWithReport(text, 1024, 1024, TaskKind.Segment);

        var only = Assert.Single(result.Objects);
        Assert.Equal("cat", only.Label);
        Assert.Equal([0, 2, 3, 4], result.Rejected.Select(r => r.Index));
        Assert.Contains("text where four <locNNNN> tokens should start", result.Rejected[0].Reason, StringComparison.Ordinal);
        Assert.Contains("2 of the 4 <locNNNN> tokens", result.Rejected[1].Reason, StringComparison.Ordinal);
        Assert.Contains("1 of the 16 <segNNN> tokens", result.Rejected[2].Reason, StringComparison.Ordinal);
        Assert.Equal("just words", result.Rejected[3].Text);
    }

    [Fact]
    public void Seventeen_seg_tokens_and_out_of_range_codes_are_reported()
    {
        var text = $"<loc0001><loc0002><loc0003><loc0004>{Seg16(0)}<seg005> a ; <loc0001><loc0002><loc0003><loc0004>{Seg(Enumerable.Repeat(200, 16).ToArray())} b";

        var result = LocationParser.ParseWithReport(text, 1024, 1024, TaskKind.Segment);

        Assert.Empty(result.Objects);
        Assert.Contains("more than 16", result.Rejected[0].Reason, StringComparison.Ordinal);
        Assert.Contains("seg code 200", result.Rejected[1].Reason, StringComparison.Ordinal);
    }
}

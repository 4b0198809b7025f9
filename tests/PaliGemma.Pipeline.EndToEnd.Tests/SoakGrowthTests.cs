namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// The soak's verdict on hand-worked sample series: a steady per-image leak the size of the tiny model's input tensor
/// fails, the start-up growth healthy workers showed passes.
/// </summary>
public sealed class SoakGrowthTests
{
    private const double Bound = 30;

    [Fact]
    public void Growth_per_image_is_the_rss_slope_over_the_images_slope()
    {
        // 10 MB more after every 1,000 images: 10 * 1024 / 1000 = 10.24 KB per image, whatever the time between samples.
        var points = new[] { Point(0, 100, 0), Point(60, 110, 1000), Point(90, 120, 2000) };

        Assert.Equal(10.24, SoakGrowth.KbPerImage(points), 6);
    }

    [Fact]
    public void A_worker_that_finished_no_image_shows_no_growth_per_image()
    {
        var points = new[] { Point(0, 100, 50), Point(5, 140, 50), Point(10, 180, 50) };

        Assert.Equal(0, SoakGrowth.KbPerImage(points));
    }

    [Fact]
    public void A_steady_leak_of_one_56x56x3_float_tensor_per_image_fails_even_under_noise()
    {
        // 9 images/s for 2 minutes of 5 s samples, each image keeping 37,632 bytes, RSS jittering by up to 2 MB.
        var fit = Enumerable.Range(0, 24).Select(i =>
        {
            var images = 45L * i;
            var jitterMb = 2 * Math.Sin(i * 1.7);
            return Point(5 * i, 250 + (images * 37632 / 1048576.0) + jitterMb, images);
        }).ToList();

        var (whole, late, leaks) = SoakGrowth.Judge(fit, Bound);

        Assert.True(leaks, $"whole {whole:0.0} KB, late {late:0.0} KB per image");
        Assert.InRange(whole, 33, 42);
    }

    [Fact]
    public void Start_up_growth_that_levels_off_passes()
    {
        // The shape CI's worker showed (once 436 MB/h over the fit): 14 MB gained over the fit's first 40 s, then a
        // half-MB step now and then, at 9 images/s.
        var fit = Enumerable.Range(0, 24).Select(i =>
        {
            var seconds = 5 * i;
            var rssMb = 250 + (14 * Math.Min(seconds, 40) / 40.0) + (i >= 12 ? 0.5 : 0) + (i >= 18 ? 0.5 : 0);
            return Point(seconds, rssMb, 45L * i);
        }).ToList();

        var (whole, late, leaks) = SoakGrowth.Judge(fit, Bound);

        Assert.False(leaks, $"whole {whole:0.0} KB, late {late:0.0} KB per image");
        Assert.True(late < 5, $"late {late:0.0} KB per image");
    }

    private static SoakGrowth.Point Point(double seconds, double rssMb, long images) =>
        new(TimeSpan.FromSeconds(seconds), (long)(rssMb * 1048576), images);
}

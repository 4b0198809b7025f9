namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// Judges whether a worker's resident memory grew with its work over the samples taken after start-up. A leak grows
/// with every image, at the same rate throughout; start-up growth (allocator arenas, ONNX Runtime pools) does not
/// scale with the work and slows down. So growth is measured per image finished, and a worker leaks only when both
/// the whole fit and its second half are over the bound.
/// </summary>
public static class SoakGrowth
{
    /// <summary>One sample: when, the resident set, and the images the worker had finished by then.</summary>
    public sealed record Point(TimeSpan At, long RssBytes, long ImagesDone);

    /// <summary>RSS gained per image finished, in KB: the RSS slope over time divided by the images-finished slope; 0 when no image finished.</summary>
    public static double KbPerImage(IReadOnlyList<Point> points)
    {
        var rssMbPerHour = ProcessProbe.Slope(points.Select(p => (p.At.TotalHours, p.RssBytes / 1048576.0)).ToList());
        var imagesPerHour = ProcessProbe.Slope(points.Select(p => (p.At.TotalHours, (double)p.ImagesDone)).ToList());
        return imagesPerHour > 0 ? rssMbPerHour * 1024 / imagesPerHour : 0;
    }

    /// <summary>Growth per image over the whole fit and over its second half, and whether both are over <paramref name="boundKb"/>.</summary>
    public static (double Whole, double Late, bool Leaks) Judge(IReadOnlyList<Point> fit, double boundKb)
    {
        var whole = KbPerImage(fit);
        var late = KbPerImage(fit.Skip(fit.Count / 2).ToList());
        return (whole, late, whole > boundKb && late > boundKb);
    }
}

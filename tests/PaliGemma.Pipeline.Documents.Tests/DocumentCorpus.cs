using System.Diagnostics;
using PaliGemma.Pipeline.TestSupport;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace PaliGemma.Pipeline.Documents.Tests;

/// <summary>
/// The generated corpus (tools/gen_documents.py into a temporary folder, once per test run) and the independent
/// references the tests compare against: poppler's pdftoppm for PDF pages, PIL for TIFF pages.
/// </summary>
public sealed class DocumentCorpus : IDisposable
{
    /// <summary>The page count of the large scanned PDF generated for the memory test.</summary>
    public const int LargePdfPages = 300;

    public DocumentCorpus()
    {
        Dir = Directory.CreateTempSubdirectory("pgpipe-documents-").FullName;
        Run("/usr/bin/python3", RepositoryPaths.Combine("tools", "gen_documents.py"), "--out", Dir, "--pdf-pages", LargePdfPages.ToString());
    }

    public string Dir { get; }

    public string this[string name] => Path.Combine(Dir, name);

    public void Dispose() => Directory.Delete(Dir, recursive: true);

    /// <summary>Runs a tool and returns its stdout; a non-zero exit fails the test with the tool's stderr.</summary>
    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}");
        }

        return stdout;
    }

    /// <summary>Poppler's rendering of a page at exactly width x height pixels, as RGB bytes.</summary>
    public byte[] Poppler(string pdf, int page, int width, int height)
    {
        // pdftoppm applies -scale-to-x/-y to the unrotated page and rotates afterwards: ask for the swapped size on
        // a page that pdfinfo reports turned by 90 or 270 degrees.
        string info = Run("pdfinfo", "-f", page.ToString(), "-l", page.ToString(), pdf);
        string rot = info.Split('\n').First(l => l.StartsWith($"Page {page,4} rot:", StringComparison.Ordinal)).Split(':')[1].Trim();
        var (sx, sy) = rot is "90" or "270" ? (height, width) : (width, height);
        string root = Path.Combine(Dir, $"ppm-{Guid.NewGuid():N}");
        Run("pdftoppm", "-f", page.ToString(), "-l", page.ToString(), "-scale-to-x", sx.ToString(), "-scale-to-y", sy.ToString(), "-singlefile", pdf, root);
        try
        {
            return ReadPpm(root + ".ppm", width, height);
        }
        finally
        {
            File.Delete(root + ".ppm");
        }
    }

    /// <summary>PIL's decode of a TIFF page (orientation applied), as RGB bytes and its size.</summary>
    public (byte[] Rgb, int Width, int Height) Pil(string tiff, int page)
    {
        string output = Path.Combine(Dir, $"pil-{Guid.NewGuid():N}.rgb");
        string[] size = Run("/usr/bin/python3", Path.Combine(AppContext.BaseDirectory, "tiff_reference.py"), tiff, page.ToString(), output)
            .Trim().Split(' ');
        try
        {
            return (File.ReadAllBytes(output), int.Parse(size[0]), int.Parse(size[1]));
        }
        finally
        {
            File.Delete(output);
        }
    }

    private static byte[] ReadPpm(string path, int width, int height)
    {
        byte[] data = File.ReadAllBytes(path);
        // P6 header: magic, width, height, maxval, each separated by whitespace, then one whitespace byte.
        int pos = 0;
        var fields = new List<string>();
        while (fields.Count < 4)
        {
            while (char.IsWhiteSpace((char)data[pos]))
            {
                pos++;
            }

            int start = pos;
            while (!char.IsWhiteSpace((char)data[pos]))
            {
                pos++;
            }

            fields.Add(System.Text.Encoding.ASCII.GetString(data, start, pos - start));
        }

        pos++;
        Assert.Equal("P6", fields[0]);
        Assert.Equal((width, height), (int.Parse(fields[1]), int.Parse(fields[2])));
        return data[pos..];
    }

    /// <summary>The RGB bytes of an image (alpha dropped; the rendered pages are opaque).</summary>
    public static byte[] Rgb(Image<Rgba32> image)
    {
        var rgb = new byte[image.Width * image.Height * 3];
        image.ProcessPixelRows(rows =>
        {
            for (int y = 0; y < rows.Height; y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    int i = ((y * row.Length) + x) * 3;
                    rgb[i] = row[x].R;
                    rgb[i + 1] = row[x].G;
                    rgb[i + 2] = row[x].B;
                }
            }
        });
        return rgb;
    }

    /// <summary>Mean absolute difference per channel value, and the largest single difference.</summary>
    public static (double Mean, int Max) Difference(byte[] a, byte[] b)
    {
        Assert.Equal(a.Length, b.Length);
        long sum = 0;
        int max = 0;
        for (int i = 0; i < a.Length; i++)
        {
            int d = Math.Abs(a[i] - b[i]);
            sum += d;
            max = Math.Max(max, d);
        }

        return ((double)sum / a.Length, max);
    }

    /// <summary>
    /// Mean absolute difference of 4x4-pixel block averages per channel: what two resamplers agree on once
    /// sub-pixel placement and filter shape no longer matter (layout, orientation, colour, aspect).
    /// </summary>
    public static double BlockDifference(byte[] a, byte[] b, int width, int height, int block = 4)
    {
        Assert.Equal(a.Length, b.Length);
        double sum = 0;
        int n = 0;
        for (int by = 0; by + block <= height; by += block)
        {
            for (int bx = 0; bx + block <= width; bx += block)
            {
                for (int c = 0; c < 3; c++)
                {
                    int sa = 0, sb = 0;
                    for (int y = by; y < by + block; y++)
                    {
                        for (int x = bx; x < bx + block; x++)
                        {
                            int i = (((y * width) + x) * 3) + c;
                            sa += a[i];
                            sb += b[i];
                        }
                    }

                    sum += Math.Abs(sa - sb) / (double)(block * block);
                    n++;
                }
            }
        }

        return sum / n;
    }

    /// <summary>Mean grey level (0 black, 255 white) of a rectangle given as fractions of the image.</summary>
    public static double MeanLevel(Image<Rgba32> image, double x0, double y0, double x1, double y1)
    {
        long sum = 0, n = 0;
        image.ProcessPixelRows(rows =>
        {
            for (int y = (int)(y0 * rows.Height); y < (int)(y1 * rows.Height); y++)
            {
                var row = rows.GetRowSpan(y);
                for (int x = (int)(x0 * row.Length); x < (int)(x1 * row.Length); x++)
                {
                    sum += (row[x].R + row[x].G + row[x].B) / 3;
                    n++;
                }
            }
        });
        return (double)sum / n;
    }
}

[CollectionDefinition(Name)]
public sealed class DocumentCorpusCollection : ICollectionFixture<DocumentCorpus>
{
    public const string Name = "documents";
}

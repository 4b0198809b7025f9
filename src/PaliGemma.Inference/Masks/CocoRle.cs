using System.Text;

namespace PaliGemma.Inference.Masks;

/// <summary>
/// A binary mask over a whole image in COCO's compressed run-length encoding: the form of
/// <c>{"size": [h, w], "counts": "..."}</c> that pycocotools' <c>mask.encode</c> returns and COCO's
/// <c>segmentation</c> field holds.
/// </summary>
/// <remarks>
/// <para>
/// Pixels are read column-major (down the first column, then the next), as pycocotools reads a Fortran-ordered
/// array. Runs alternate 0,1,0,... starting with a (possibly empty) run of zeros, and sum to h x w.
/// </para>
/// <para>
/// <see cref="Counts"/> is pycocotools' <c>rleToString</c> form: each run, minus the run two before it (from the
/// fourth run on), written as a signed number in 5-bit groups, low group first, each group as the character
/// 48 + (group | 0x20 when more groups follow); the last group's 0x10 bit carries the sign.
/// </para>
/// </remarks>
/// <param name="Height">Image height in pixels (COCO <c>size[0]</c>).</param>
/// <param name="Width">Image width in pixels (COCO <c>size[1]</c>).</param>
/// <param name="Counts">The compressed counts string.</param>
public sealed record CocoRle(int Height, int Width, string Counts)
{
    /// <summary>Number of pixels inside the mask (the sum of the odd runs): COCO's <c>area</c> for a mask.</summary>
    public long Area
    {
        get
        {
            long area = 0;
            long[] runs = DecodeCounts(Counts);
            for (int i = 1; i < runs.Length; i += 2)
            {
                area += runs[i];
            }

            return area;
        }
    }

    /// <summary>Encodes a row-major mask (index y * width + x; nonzero is inside).</summary>
    /// <param name="mask">height x width values, row by row.</param>
    /// <param name="height">Image height.</param>
    /// <param name="width">Image width.</param>
    /// <returns>The mask's RLE.</returns>
    public static CocoRle FromRowMajor(ReadOnlySpan<byte> mask, int height, int width)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(height);
        ArgumentOutOfRangeException.ThrowIfNegative(width);
        if (mask.Length != (long)height * width)
        {
            throw new ArgumentException($"The mask has {mask.Length} values; a {height}x{width} image needs {(long)height * width}.", nameof(mask));
        }

        var runs = new RunBuilder();
        for (int x = 0; x < width; x++)
        {
            for (int y = 0; y < height; y++)
            {
                runs.Add(mask[(y * width) + x] != 0, 1);
            }
        }

        return new CocoRle(height, width, EncodeCounts(runs.Finish()));
    }

    /// <summary>Decodes to a row-major mask (index y * width + x) of 0 and 1.</summary>
    /// <returns>height x width values.</returns>
    /// <exception cref="FormatException">The runs do not cover exactly height x width pixels.</exception>
    public byte[] ToRowMajor()
    {
        long[] runs = DecodeCounts(Counts);
        long total = (long)Height * Width;
        if (runs.Sum() != total || runs.Any(r => r < 0))
        {
            throw new FormatException($"RLE counts '{Shorten(Counts)}' cover {runs.Sum()} pixels; size [{Height}, {Width}] needs {total}.");
        }

        var mask = new byte[total];
        long p = 0;
        for (int i = 0; i < runs.Length; i++)
        {
            if ((i & 1) == 1)
            {
                for (long k = p; k < p + runs[i]; k++)
                {
                    // Column-major position k is row k % h of column k / h.
                    mask[((k % Height) * Width) + (k / Height)] = 1;
                }
            }

            p += runs[i];
        }

        return mask;
    }

    /// <summary>Writes run lengths as pycocotools' compressed counts string.</summary>
    /// <param name="runs">Alternating zero/one run lengths, starting with zeros.</param>
    /// <returns>The counts string (ASCII 48..111).</returns>
    public static string EncodeCounts(ReadOnlySpan<long> runs)
    {
        var sb = new StringBuilder(runs.Length * 2);
        for (int i = 0; i < runs.Length; i++)
        {
            long x = runs[i];
            if (i > 2)
            {
                // Delta against the run of the same colour two back: shapes change slowly from column to column.
                x -= runs[i - 2];
            }

            bool more = true;
            while (more)
            {
                long c = x & 0x1f;
                x >>= 5; // arithmetic shift: negative deltas end in ...11111 groups
                more = (c & 0x10) != 0 ? x != -1 : x != 0;
                if (more)
                {
                    c |= 0x20;
                }

                sb.Append((char)(c + 48));
            }
        }

        return sb.ToString();
    }

    /// <summary>Reads pycocotools' compressed counts string back into run lengths.</summary>
    /// <param name="counts">The counts string.</param>
    /// <returns>The run lengths.</returns>
    /// <exception cref="FormatException">A character is outside 48..111 or the string ends inside a number.</exception>
    public static long[] DecodeCounts(string counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var runs = new List<long>(counts.Length);
        int p = 0;
        while (p < counts.Length)
        {
            long x = 0;
            int k = 0;
            bool more = true;
            while (more)
            {
                if (p >= counts.Length)
                {
                    throw new FormatException($"RLE counts '{Shorten(counts)}' end inside a number.");
                }

                int c = counts[p] - 48;
                if (c is < 0 or > 0x3f || k > 12)
                {
                    throw new FormatException($"RLE counts '{Shorten(counts)}' hold an invalid character '{counts[p]}' at {p}.");
                }

                x |= (long)(c & 0x1f) << (5 * k);
                more = (c & 0x20) != 0;
                p++;
                k++;
                if (!more && (c & 0x10) != 0)
                {
                    x |= -1L << (5 * k);
                }
            }

            if (runs.Count > 2)
            {
                x += runs[^2];
            }

            runs.Add(x);
        }

        return [.. runs];
    }

    private static string Shorten(string s) => s.Length <= 60 ? s : s[..60] + "...";

    /// <summary>Collects alternating runs (zeros first) from a stream of pixels.</summary>
    internal sealed class RunBuilder
    {
        private readonly List<long> _runs = [];
        private bool _value;
        private long _count;

        /// <summary>Appends <paramref name="length"/> pixels of one value.</summary>
        public void Add(bool value, long length)
        {
            if (length <= 0)
            {
                return;
            }

            if (value != _value)
            {
                _runs.Add(_count);
                _value = value;
                _count = 0;
            }

            _count += length;
        }

        /// <summary>The runs, ending with the current one.</summary>
        public long[] Finish()
        {
            _runs.Add(_count);
            _value = false;
            _count = 0;
            long[] result = [.. _runs];
            _runs.Clear();
            return result;
        }
    }
}

using System.Text.Json;
using PaliGemma.Inference.Masks;

namespace PaliGemma.Inference.Tests.Masks;

/// <summary>
/// COCO compressed RLE against hand-worked examples and against an independent NumPy implementation of
/// pycocotools' rleEncode/rleToString/rleFrString written below (pycocotools itself is not packaged in Debian).
/// </summary>
public sealed class CocoRleTests
{
    /// <summary>
    /// Reads JSON lines {"h","w","mask": row-major 0/1} and {"counts"} on stdin; prints, per mask, the counts string
    /// and the area, and per counts string the decoded runs. Written from pycocotools' maskApi.c description.
    /// </summary>
    private const string NumpyRle = """
import json, sys
import numpy as np

def encode(mask):
    flat = np.asarray(mask, dtype=np.uint8).flatten(order="F")   # column-major, as pycocotools reads Fortran arrays
    starts = np.flatnonzero(flat[1:] != flat[:-1]) + 1                   # where the value changes
    runs = np.diff(np.concatenate([[0], starts, [flat.size]])).tolist()
    if flat[0] == 1:
        runs = [0] + runs                                                   # runs start with zeros
    out = []
    for i, r in enumerate(runs):
        x = int(r) - (int(runs[i - 2]) if i > 2 else 0)
        while True:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            out.append(chr(48 + (c | 0x20 if more else c)))
            if not more:
                break
    return "".join(out), int(flat.sum())

def decode(s):
    runs, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1; k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs

for line in sys.stdin:
    item = json.loads(line)
    if "counts" in item:
        print(json.dumps({"runs": decode(item["counts"])}))
    else:
        m = np.array(item["mask"], dtype=np.uint8).reshape(item["h"], item["w"])
        counts, area = encode(m)
        print(json.dumps({"counts": counts, "area": area}))
""";

    [Fact]
    public void Hand_worked_2x3_mask()
    {
        // Rows: 0 1 1 / 0 1 0. Column-major: col0 = 0,0; col1 = 1,1; col2 = 1,0 -> 0 0 1 1 1 0 -> runs 2, 3, 1.
        // Each run is below 16, one 5-bit group without continuation: '0' + n.
        byte[] mask = [0, 1, 1, 0, 1, 0];

        var rle = CocoRle.FromRowMajor(mask, height: 2, width: 3);

        Assert.Equal(new CocoRle(2, 3, "231"), rle);
        Assert.Equal(3, rle.Area);
        Assert.Equal(mask, rle.ToRowMajor());
    }

    [Fact]
    public void Hand_worked_long_runs_and_negative_deltas()
    {
        // runs 5, 40, 3, 10: 5 -> '5'; 40 = 8 + 1*32 -> (8|0x20)+48 = 'X', then 1 -> '1'; 3 -> '3';
        // the fourth run is written as 10 - 40 = -30: low group 2 with continuation -> 'R', then 31 (sign bit 0x10
        // set, rest -1) -> 'O'.
        Assert.Equal("5X13RO", CocoRle.EncodeCounts([5, 40, 3, 10]));
        Assert.Equal([5L, 40, 3, 10], CocoRle.DecodeCounts("5X13RO"));
        Assert.Equal(40 + 10, new CocoRle(2, 29, "5X13RO").Area);
    }

    [Fact]
    public void Empty_and_full_masks()
    {
        // All zeros: one run of 6 -> '6'. All ones: an empty zero run, then 6 -> "06".
        Assert.Equal("6", CocoRle.FromRowMajor(new byte[6], 2, 3).Counts);
        Assert.Equal("06", CocoRle.FromRowMajor([1, 1, 1, 1, 1, 1], 2, 3).Counts);
        Assert.Equal(0, new CocoRle(2, 3, "6").Area);
    }

    [Fact]
    public void Counts_that_do_not_cover_the_image_or_hold_bad_characters_are_format_errors()
    {
        Assert.Throws<FormatException>(() => new CocoRle(2, 3, "23").ToRowMajor());
        Assert.Throws<FormatException>(() => CocoRle.DecodeCounts("2 3"));
        Assert.Throws<FormatException>(() => CocoRle.DecodeCounts("X")); // continuation with nothing after it
    }

    [PythonFact]
    public void Encoding_and_decoding_agree_with_an_independent_numpy_implementation()
    {
        var rng = new Random(1234);
        var masks = new List<(int H, int W, byte[] Mask)>
        {
            (1, 1, [0]), (1, 1, [1]), (3, 4, new byte[12]), (3, 4, Enumerable.Repeat((byte)1, 12).ToArray()),
        };
        foreach (var (h, w) in new[] { (5, 7), (17, 3), (64, 64), (120, 90), (300, 41) })
        {
            masks.Add((h, w, Blob(rng, h, w)));
            masks.Add((h, w, Enumerable.Range(0, h * w).Select(_ => (byte)(rng.Next(4) == 0 ? 1 : 0)).ToArray()));
        }

        var stdin = string.Join('\n', masks.Select(m => JsonSerializer.Serialize(new { h = m.H, w = m.W, mask = m.Mask.Select(b => (int)b).ToArray() })));
        var lines = PythonTools.Run(["-c", NumpyRle], stdin).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(masks.Count, lines.Length);
        var numpyCounts = new List<string>();
        for (var i = 0; i < masks.Count; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            var expected = doc.RootElement.GetProperty("counts").GetString()!;
            var rle = CocoRle.FromRowMajor(masks[i].Mask, masks[i].H, masks[i].W);
            Assert.Equal(expected, rle.Counts);
            Assert.Equal(doc.RootElement.GetProperty("area").GetInt64(), rle.Area);
            Assert.Equal(masks[i].Mask, new CocoRle(masks[i].H, masks[i].W, expected).ToRowMajor());
            numpyCounts.Add(expected);
        }

        // And NumPy's decoder reads back the runs ours wrote.
        var decodeIn = string.Join('\n', numpyCounts.Select(c => JsonSerializer.Serialize(new { counts = c })));
        var decoded = PythonTools.Run(["-c", NumpyRle], decodeIn).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < numpyCounts.Count; i++)
        {
            using var doc = JsonDocument.Parse(decoded[i]);
            Assert.Equal(CocoRle.DecodeCounts(numpyCounts[i]), doc.RootElement.GetProperty("runs").EnumerateArray().Select(v => v.GetInt64()));
        }
    }

    /// <summary>A filled ellipse: long runs whose lengths change slowly, so deltas are small and of both signs.</summary>
    private static byte[] Blob(Random rng, int h, int w)
    {
        double cy = rng.NextDouble() * h, cx = rng.NextDouble() * w, ry = 1 + (rng.NextDouble() * h / 2), rx = 1 + (rng.NextDouble() * w / 2);
        var mask = new byte[h * w];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var dy = (y - cy) / ry;
                var dx = (x - cx) / rx;
                mask[(y * w) + x] = (byte)((dy * dy) + (dx * dx) <= 1 ? 1 : 0);
            }
        }

        return mask;
    }
}

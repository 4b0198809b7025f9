using System.Globalization;
using System.Text.Json;
using PaliGemma.Inference.Generation;
using PaliGemma.Inference.Masks;
using PaliGemma.Inference.Runtime;
using PaliGemma.Inference.Tasks;

namespace PaliGemma.Inference.Tests.Masks;

/// <summary>
/// <c>segment</c> end to end on the tiny fixture model with the tiny converter-made vae_decoder.onnx: the model's own
/// (random) answers, and scripted answers with a dozen real objects fed through the same parse -> batched decode ->
/// place path (<see cref="LocationParser.ParseWithReport"/> then <see cref="MaskDecoder.AddMasks"/>), checked pixel
/// by pixel against an independent NumPy placement of the NumPy reference logits.
/// </summary>
public sealed class SegmentEndToEndTests
{
    /// <summary>
    /// Reads {"logits": [S*S], "box": [x1,y1,x2,y2], "w", "h"} lines; prints the row-major 0/1 mask and the
    /// interpolated value at each pixel (0 outside the box). Pixel (x, y) is in the box when its centre is; the
    /// S x S grid spans the continuous box; bilinear at centres, half-pixel aligned, clamped; inside when value > 0.
    /// </summary>
    private const string NumpyPlacement = """
import json, sys
import numpy as np

for line in sys.stdin:
    it = json.loads(line)
    s = int(round(len(it["logits"]) ** 0.5))
    g = np.array(it["logits"], dtype=np.float64).reshape(s, s)
    x1, y1, x2, y2 = it["box"]
    w, h = it["w"], it["h"]
    xs = np.arange(w) + 0.5
    ys = np.arange(h) + 0.5
    in_x = (xs >= x1) & (xs < x2)
    in_y = (ys >= y1) & (ys < y2)
    u = np.clip((xs - x1) / (x2 - x1) * s - 0.5, 0, s - 1)
    v = np.clip((ys - y1) / (y2 - y1) * s - 0.5, 0, s - 1)
    u0 = np.floor(u).astype(int); u1 = np.minimum(u0 + 1, s - 1); fu = u - u0
    v0 = np.floor(v).astype(int); v1 = np.minimum(v0 + 1, s - 1); fv = v - v0
    top = g[v0][:, u0] * (1 - fu) + g[v0][:, u1] * fu
    bot = g[v1][:, u0] * (1 - fu) + g[v1][:, u1] * fu
    val = top * (1 - fv)[:, None] + bot * fv[:, None]
    val = np.where(in_y[:, None] & in_x[None, :], val, 0.0)
    print(json.dumps({"mask": (val > 0).astype(int).ravel().tolist(), "value": val.ravel().tolist()}))
""";

    private static string TinyModel => Path.Combine(PythonTools.RepoRoot, "tests", "fixtures", "models", "tiny");

    [Fact]
    public void Model_segment_answers_yield_a_mask_inside_the_box_for_every_valid_object()
    {
        using var model = PaliGemmaModel.Load(TinyModel, Options(PythonTools.VaeFixture("vae_decoder.onnx")));
        var files = Directory.GetFiles(Path.Combine(PythonTools.RepoRoot, "tests", "fixtures", "images"), "56x56-*.png").Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        var images = files.Select(f => model.Preprocessor.Preprocess(File.ReadAllBytes(f))).ToList();
        var requests = images.SelectMany((_, i) => new[] { "segment cat", "segment cat ; dog", "detect cat" }
            .Select(p => new GenerationRequest(i, PaliGemmaTask.Parse(p), 48))).ToList();

        var outputs = model.Generate(images, requests);

        Assert.NotNull(model.MaskDecoder);
        for (var i = 0; i < outputs.Count; i++)
        {
            var o = outputs[i];
            var image = images[requests[i].ImageIndex];
            if (requests[i].Task.Kind == TaskKind.Detect)
            {
                Assert.All(o.Boxes, b => Assert.Null(b.Mask));
                continue;
            }

            // Every accepted object came from a full token pattern and carries a mask; every other entry is reported.
            Assert.All(o.Boxes, b => AssertMaskInsideBox(b, image.OriginalWidth, image.OriginalHeight));
            Assert.DoesNotContain(MaskDecoder.MissingDecoderNote, o.Note ?? string.Empty, StringComparison.Ordinal);
            Assert.Equal(o.RejectedObjects.Count > 0, o.Note is not null);
            Assert.Equal(o.Boxes.Count, LocationParser.ParseWithReport(o.Text, image.OriginalWidth, image.OriginalHeight, TaskKind.Segment).Objects.Count);
        }
    }

    [Fact]
    public void Without_a_decoder_segment_returns_boxes_and_a_note_naming_the_build_command()
    {
        using var model = PaliGemmaModel.Load(TinyModel, Options(null));
        var image = model.Preprocessor.Preprocess(File.ReadAllBytes(Path.Combine(PythonTools.RepoRoot, "tests", "fixtures", "images", "56x56-shapes.png")));

        var outputs = model.Generate([image], [new GenerationRequest(0, PaliGemmaTask.Parse("segment cat"), 8), new GenerationRequest(0, PaliGemmaTask.Parse("caption en"), 4)]);

        Assert.Null(model.MaskDecoder);
        Assert.StartsWith(MaskDecoder.MissingDecoderNote, outputs[0].Note, StringComparison.Ordinal);
        Assert.Contains("tools/convert_vae_oid.py", outputs[0].Note, StringComparison.Ordinal);
        Assert.All(outputs[0].Boxes, b => Assert.Null(b.Mask));
        Assert.Null(outputs[1].Note);
    }

    [PythonFact]
    public void Scripted_answers_decode_a_dozen_objects_in_one_batch_matching_numpy_placement()
    {
        var (codes, reference) = MaskDecoderTests.ReadSet(PythonTools.VaeFixture("codes.json"), PythonTools.VaeFixture("reference_numpy.f32"));
        // (answer, image width, height): boxes of many shapes, on square, wide, tall and tiny images.
        var answers = new List<(string Text, int W, int H)>();
        var next = 0;
        string Obj(int y1, int x1, int y2, int x2, string label)
        {
            var row = codes[next++ % codes.Count];
            return $"<loc{y1:0000}><loc{x1:0000}><loc{y2:0000}><loc{x2:0000}>" + string.Concat(row.Select(c => $"<seg{c:000}>")) + " " + label;
        }

        answers.Add((string.Join(" ; ", Obj(100, 200, 700, 900, "cat"), Obj(0, 0, 1023, 1023, "all"), Obj(512, 512, 600, 560, "small")), 640, 480));
        answers.Add((string.Join(" ; ", Obj(10, 20, 1000, 300, "tall"), Obj(400, 100, 420, 1000, "wide"), Obj(1, 1, 3, 3, "speck")) + " ; junk", 320, 200));
        answers.Add((string.Join(" ; ", Obj(200, 300, 800, 700, "a"), Obj(100, 100, 900, 900, "b"), Obj(0, 512, 1023, 1023, "right")), 37, 91));
        answers.Add((string.Join(" ; ", Obj(250, 250, 750, 750, "middle"), Obj(0, 0, 512, 512, "quarter"), Obj(300, 0, 1023, 200, "left")), 128, 128));

        var parsed = answers.Select(a => LocationParser.ParseWithReport(a.Text, a.W, a.H, TaskKind.Segment)).ToList();
        Assert.Single(parsed[1].Rejected); // "junk"
        using var decoder = MaskDecoder.Load(PythonTools.VaeFixture("vae_decoder.onnx"), MaskDecoderTests.CpuOptions());
        var placed = decoder.AddMasks(parsed.Select((p, i) => new MaskTarget(p.Objects, answers[i].W, answers[i].H)).ToList());

        var objects = placed.SelectMany((list, i) => list.Select(o => (Object: o, answers[i].W, answers[i].H))).ToList();
        Assert.True(objects.Count >= 10, $"only {objects.Count} objects decoded");
        var stdin = string.Join('\n', objects.Select((o, k) => JsonSerializer.Serialize(new
        {
            logits = reference.AsSpan(k % codes.Count * 4096, 4096).ToArray(),
            box = new[] { o.Object.X1, o.Object.Y1, o.Object.X2, o.Object.Y2 },
            w = o.W,
            h = o.H,
        })));
        var lines = PythonTools.Run(["-c", NumpyPlacement], stdin).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(objects.Count, lines.Length);
        var nonEmpty = 0;
        for (var k = 0; k < objects.Count; k++)
        {
            var (o, w, h) = objects[k];
            AssertMaskInsideBox(o, w, h);
            using var doc = JsonDocument.Parse(lines[k]);
            var expected = doc.RootElement.GetProperty("mask").EnumerateArray().Select(e => (byte)e.GetInt32()).ToArray();
            var value = doc.RootElement.GetProperty("value").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            var actual = o.Mask!.ToRowMajor();
            for (var p = 0; p < actual.Length; p++)
            {
                // ORT and NumPy logits differ by ~1e-6; only a pixel sitting on the threshold may flip.
                if (Math.Abs(value[p]) > 1e-3)
                {
                    Assert.True(expected[p] == actual[p], string.Create(CultureInfo.InvariantCulture, $"object {k} '{o.Label}': pixel ({p % w},{p / w}) is {actual[p]}, NumPy says {expected[p]} (value {value[p]})"));
                }
            }

            nonEmpty += o.Mask.Area > 0 ? 1 : 0;
        }

        Assert.True(nonEmpty >= 8, $"only {nonEmpty} of {objects.Count} masks have pixels; the fixture should give mostly non-empty masks");
    }

    private static InferenceOptions Options(string? maskDecoder) => new()
    {
        Device = ExecutionDevice.Cpu,
        IntraOpThreads = 1,
        MaskDecoderPath = maskDecoder,
    };

    private static void AssertMaskInsideBox(DetectedObject o, int width, int height)
    {
        Assert.True(o.HasSegmentCodes, $"'{o.Label}' has no mask codes");
        var mask = Assert.IsType<CocoRle>(o.Mask);
        Assert.Equal((height, width), (mask.Height, mask.Width));
        var (x0, x1) = MaskPlacement.PixelSpan(o.X1, o.X2, width);
        var (y0, y1) = MaskPlacement.PixelSpan(o.Y1, o.Y2, height);
        Assert.True(x0 >= Math.Floor(o.X1) && x1 <= Math.Ceiling(o.X2) && y0 >= Math.Floor(o.Y1) && y1 <= Math.Ceiling(o.Y2));
        var bits = mask.ToRowMajor();
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                if (bits[(y * width) + x] != 0)
                {
                    Assert.True(x >= x0 && x < x1 && y >= y0 && y < y1, $"'{o.Label}': mask pixel ({x},{y}) outside box pixels [{x0},{x1})x[{y0},{y1})");
                }
            }
        }
    }
}

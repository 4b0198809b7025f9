using Microsoft.ML.OnnxRuntime;

namespace PaliGemma.Inference.Tests.Onnx;

/// <summary>Finds the committed rewrite fixtures and runs graphs in ONNX Runtime.</summary>
internal static class OnnxTestSupport
{
    public static string FixtureFolder { get; } = FindFixtureFolder();

    public static string Fixture(string name) => Path.Combine(FixtureFolder, name);

    private static string FindFixtureFolder()
    {
        // Tests run from bin/<config>/<tfm>; the fixtures live in the repository, so walk up to them.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "onnx-rewrite");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException(
            $"tests/fixtures/onnx-rewrite not found above '{AppContext.BaseDirectory}'; regenerate with /usr/bin/python3 tools/gen_rewrite_fixture.py.");
    }

    /// <summary>Standard-normal floats from a seeded generator (Box-Muller), so failures reproduce.</summary>
    public static float[] RandomNormal(int count, int seed)
    {
        var rng = new Random(seed);
        var data = new float[count];
        for (var i = 0; i < count; i++)
        {
            var u1 = 1.0 - rng.NextDouble();
            var u2 = rng.NextDouble();
            data[i] = (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2));
        }

        return data;
    }

    /// <summary>A float tensor read back from ORT.</summary>
    public sealed record Tensor(long[] Shape, float[] Data);

    /// <summary>Runs the session on one float input and returns every output by name.</summary>
    public static Dictionary<string, Tensor> Run(InferenceSession session, string inputName, float[] input, long[] shape)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input, shape);
        using var runOptions = new RunOptions();
        var outputNames = session.OutputNames.ToArray();
        using var outputs = session.Run(runOptions, [inputName], [value], outputNames);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (var i = 0; i < outputNames.Length; i++)
        {
            var o = outputs[i];
            result[outputNames[i]] = new Tensor(o.GetTensorTypeAndShape().Shape, o.GetTensorDataAsSpan<float>().ToArray());
        }

        return result;
    }

    /// <summary>The last position of a [B,S,V] tensor, as [B,1,V] data.</summary>
    public static float[] LastPosition(Tensor full)
    {
        long b = full.Shape[0], s = full.Shape[1], v = full.Shape[2];
        var last = new float[b * v];
        for (var i = 0; i < b; i++)
        {
            Array.Copy(full.Data, ((i * s) + s - 1) * v, last, i * v, v);
        }

        return last;
    }

    public static float MaxAbsDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        var max = 0f;
        for (var i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs(a[i] - b[i]));
        }

        return max;
    }
}

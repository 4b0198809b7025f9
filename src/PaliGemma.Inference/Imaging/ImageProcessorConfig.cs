using System.Globalization;
using System.Text.Json;

namespace PaliGemma.Inference.Imaging;

/// <summary>
/// The fields of a Hugging Face <c>preprocessor_config.json</c> (SiglipImageProcessor) that PaliGemma preprocessing uses.
/// </summary>
/// <param name="Height">Target height in pixels (<c>size.height</c>).</param>
/// <param name="Width">Target width in pixels (<c>size.width</c>).</param>
/// <param name="Mean">Per-channel mean (<c>image_mean</c>), three values, R, G, B.</param>
/// <param name="Std">Per-channel standard deviation (<c>image_std</c>), three non-zero values.</param>
/// <param name="RescaleFactor">Multiplier from 0..255 levels to the model's scale (<c>rescale_factor</c>, usually 1/255).</param>
/// <param name="DoResize">Whether to resize (<c>do_resize</c>). When false, inputs must already be <paramref name="Width"/> x <paramref name="Height"/>.</param>
/// <param name="DoRescale">Whether to multiply by <paramref name="RescaleFactor"/> (<c>do_rescale</c>).</param>
/// <param name="DoNormalize">Whether to apply (x - mean) / std (<c>do_normalize</c>).</param>
/// <param name="Resample">PIL resample filter id (<c>resample</c>); only 3 (bicubic) is supported.</param>
/// <param name="ImageSeqLength">Number of image tokens the prompt carries (<c>image_seq_length</c>).</param>
public sealed record ImageProcessorConfig(
    int Height,
    int Width,
    float[] Mean,
    float[] Std,
    float RescaleFactor,
    bool DoResize,
    bool DoRescale,
    bool DoNormalize,
    int Resample,
    int ImageSeqLength)
{
    /// <summary>PIL's id for BICUBIC, the filter PaliGemma's processor uses.</summary>
    public const int PilBicubic = 3;

    /// <summary>SigLIP's patch size; used only to derive <c>image_seq_length</c> when a file omits it.</summary>
    public const int SiglipPatchSize = 14;

    /// <summary>
    /// Reads and validates a <c>preprocessor_config.json</c>.
    /// </summary>
    /// <remarks>
    /// <c>size</c> must be <c>{"height","width"}</c>. A <c>{"shortest_edge"}</c> size is refused: for SigLIP it would mean an
    /// aspect-preserving resize plus a crop that PaliGemma was never trained with, so guessing a square would silently change
    /// the model's input. A missing <c>image_seq_length</c> is derived as (H/14)*(W/14), SigLIP's patch grid, which is what
    /// the vision encoder emits; other missing fields take SiglipImageProcessor's defaults.
    /// </remarks>
    /// <param name="preprocessorConfigJsonPath">Path to the JSON file.</param>
    /// <returns>The validated configuration.</returns>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not JSON, or a field is missing or out of range; the message names the file and field.</exception>
    public static ImageProcessorConfig FromFile(string preprocessorConfigJsonPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(preprocessorConfigJsonPath);
        if (!File.Exists(preprocessorConfigJsonPath))
        {
            throw new FileNotFoundException($"Preprocessor config '{preprocessorConfigJsonPath}' does not exist.", preprocessorConfigJsonPath);
        }

        byte[] bytes = File.ReadAllBytes(preprocessorConfigJsonPath);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"Preprocessor config '{preprocessorConfigJsonPath}' is not valid JSON: {ex.Message}", ex);
        }

        using (doc)
        {
            return Parse(doc.RootElement, preprocessorConfigJsonPath);
        }
    }

    /// <summary>Parses an already-loaded JSON object; <paramref name="source"/> names it in error messages.</summary>
    internal static ImageProcessorConfig Parse(JsonElement root, string source)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(source, "(root)", "a JSON object");
        }

        if (root.TryGetProperty("image_processor_type", out JsonElement type) && type.ValueKind == JsonValueKind.String
            && type.GetString() is { } typeName && !typeName.StartsWith("Siglip", StringComparison.Ordinal))
        {
            throw Invalid(source, "image_processor_type", $"SiglipImageProcessor (PaliGemma's processor), but found '{typeName}'");
        }

        if (!root.TryGetProperty("size", out JsonElement size) || size.ValueKind != JsonValueKind.Object)
        {
            throw Invalid(source, "size", "an object {\"height\": H, \"width\": W}");
        }

        if (!size.TryGetProperty("height", out JsonElement h) || !size.TryGetProperty("width", out JsonElement w))
        {
            string detail = size.TryGetProperty("shortest_edge", out _)
                ? "{\"height\", \"width\"}; {\"shortest_edge\"} implies an aspect-preserving resize PaliGemma does not use"
                : "{\"height\", \"width\"}";
            throw Invalid(source, "size", detail);
        }

        int height = ReadPositiveInt(h, source, "size.height");
        int width = ReadPositiveInt(w, source, "size.width");

        float[] mean = ReadTriple(root, "image_mean", source, [0.5f, 0.5f, 0.5f]);
        float[] std = ReadTriple(root, "image_std", source, [0.5f, 0.5f, 0.5f]);
        foreach (float s in std)
        {
            if (s == 0f || !float.IsFinite(s))
            {
                throw Invalid(source, "image_std", "three finite non-zero numbers");
            }
        }

        float rescale = 1f / 255f;
        if (root.TryGetProperty("rescale_factor", out JsonElement rf) && rf.ValueKind != JsonValueKind.Null)
        {
            if (rf.ValueKind != JsonValueKind.Number || !float.IsFinite(rf.GetSingle()) || rf.GetSingle() <= 0f)
            {
                throw Invalid(source, "rescale_factor", "a positive number such as 0.00392156862745098 (1/255)");
            }

            rescale = rf.GetSingle();
        }

        bool doResize = ReadBool(root, "do_resize", source, true);
        bool doRescale = ReadBool(root, "do_rescale", source, true);
        bool doNormalize = ReadBool(root, "do_normalize", source, true);

        int resample = PilBicubic;
        if (root.TryGetProperty("resample", out JsonElement rs) && rs.ValueKind != JsonValueKind.Null)
        {
            if (rs.ValueKind != JsonValueKind.Number || !rs.TryGetInt32(out resample))
            {
                throw Invalid(source, "resample", "an integer PIL filter id (3 = BICUBIC)");
            }

            if (resample != PilBicubic)
            {
                throw Invalid(source, "resample", $"3 (BICUBIC), the only filter implemented, but found {resample}");
            }
        }

        int seqLength;
        if (root.TryGetProperty("image_seq_length", out JsonElement sl) && sl.ValueKind != JsonValueKind.Null)
        {
            seqLength = ReadPositiveInt(sl, source, "image_seq_length");
        }
        else if (height % SiglipPatchSize == 0 && width % SiglipPatchSize == 0)
        {
            seqLength = height / SiglipPatchSize * (width / SiglipPatchSize);
        }
        else
        {
            throw Invalid(source, "image_seq_length", $"a positive integer (it cannot be derived: size {width}x{height} is not a multiple of the patch size {SiglipPatchSize})");
        }

        return new ImageProcessorConfig(height, width, mean, std, rescale, doResize, doRescale, doNormalize, resample, seqLength);
    }

    private static int ReadPositiveInt(JsonElement e, string source, string field)
    {
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int v) || v <= 0)
        {
            throw Invalid(source, field, "a positive integer");
        }

        return v;
    }

    private static float[] ReadTriple(JsonElement root, string field, string source, float[] fallback)
    {
        if (!root.TryGetProperty(field, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        if (e.ValueKind == JsonValueKind.Number)
        {
            // transformers accepts a scalar and broadcasts it over the channels.
            float v = e.GetSingle();
            return [v, v, v];
        }

        if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != 3)
        {
            throw Invalid(source, field, "an array of three numbers (R, G, B)");
        }

        var result = new float[3];
        int i = 0;
        foreach (JsonElement item in e.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !float.IsFinite(item.GetSingle()))
            {
                throw Invalid(source, field, "an array of three finite numbers (R, G, B)");
            }

            result[i++] = item.GetSingle();
        }

        return result;
    }

    private static bool ReadBool(JsonElement root, string field, string source, bool fallback)
    {
        if (!root.TryGetProperty(field, out JsonElement e) || e.ValueKind == JsonValueKind.Null)
        {
            return fallback;
        }

        return e.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Invalid(source, field, "true or false"),
        };
    }

    private static InvalidDataException Invalid(string source, string field, string expected) =>
        new(string.Create(CultureInfo.InvariantCulture, $"Preprocessor config '{source}': field '{field}' must be {expected}."));
}

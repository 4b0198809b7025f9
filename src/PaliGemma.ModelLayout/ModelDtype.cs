namespace PaliGemma.ModelLayout;

/// <summary>Which ONNX file variant of a model folder to load (the onnx-community file-name suffixes).</summary>
public enum ModelDtype
{
    /// <summary>Full precision: <c>onnx/NAME.onnx</c>.</summary>
    Fp32,
    /// <summary><c>onnx/NAME_fp16.onnx</c>.</summary>
    Fp16,
    /// <summary><c>onnx/NAME_q4.onnx</c>.</summary>
    Q4,
    /// <summary><c>onnx/NAME_q4f16.onnx</c>.</summary>
    Q4f16,
    /// <summary><c>onnx/NAME_int8.onnx</c>.</summary>
    Int8,
    /// <summary><c>onnx/NAME_uint8.onnx</c>.</summary>
    Uint8,
    /// <summary><c>onnx/NAME_quantized.onnx</c>.</summary>
    Quantized,
    /// <summary><c>onnx/NAME_bnb4.onnx</c>.</summary>
    Bnb4,
}

/// <summary>Maps <see cref="ModelDtype"/> to and from the names users type and the file suffixes exports use.</summary>
public static class ModelDtypes
{
    private static readonly (ModelDtype Dtype, string Name, string Suffix)[] Table =
    [
        (ModelDtype.Fp32, "fp32", ""),
        (ModelDtype.Fp16, "fp16", "_fp16"),
        (ModelDtype.Q4, "q4", "_q4"),
        (ModelDtype.Q4f16, "q4f16", "_q4f16"),
        (ModelDtype.Int8, "int8", "_int8"),
        (ModelDtype.Uint8, "uint8", "_uint8"),
        (ModelDtype.Quantized, "quantized", "_quantized"),
        (ModelDtype.Bnb4, "bnb4", "_bnb4"),
    ];

    /// <summary>All names accepted by <see cref="Parse"/>, for help text and errors.</summary>
    public static IReadOnlyList<string> Names { get; } = Table.Select(t => t.Name).ToArray();

    /// <summary>Returns the file-name suffix of a dtype ("" for fp32).</summary>
    public static string Suffix(ModelDtype dtype) => Table.First(t => t.Dtype == dtype).Suffix;

    /// <summary>Returns the lower-case name of a dtype as typed on the command line.</summary>
    public static string Name(ModelDtype dtype) => Table.First(t => t.Dtype == dtype).Name;

    /// <summary>Parses a dtype name (case-insensitive); throws <see cref="ArgumentException"/> listing the valid names.</summary>
    public static ModelDtype Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        foreach (var t in Table)
        {
            if (string.Equals(t.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                return t.Dtype;
            }
        }

        throw new ArgumentException($"Unknown dtype '{name}'. Expected one of: {string.Join(", ", Names)}.", nameof(name));
    }

    /// <summary>Finds which dtypes have all three graphs present in <paramref name="onnxDirectory"/>.</summary>
    public static IReadOnlyList<ModelDtype> Available(string onnxDirectory)
    {
        var found = new List<ModelDtype>();
        foreach (var t in Table)
        {
            if (ExportLayout.GraphNames.All(g => File.Exists(Path.Combine(onnxDirectory, g + t.Suffix + ".onnx"))))
            {
                found.Add(t.Dtype);
            }
        }

        return found;
    }
}

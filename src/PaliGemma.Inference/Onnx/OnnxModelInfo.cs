namespace PaliGemma.Inference.Onnx;

/// <summary>One entry of a model's opset_import list.</summary>
/// <param name="Domain">Operator domain; empty for the default ONNX domain.</param>
/// <param name="Version">Operator set version.</param>
public sealed record OnnxOpsetImport(string Domain, long Version);

/// <summary>A few facts read from a serialized ModelProto without loading it into ONNX Runtime.</summary>
/// <param name="OpsetImports">The model's opset imports, in file order.</param>
/// <param name="NodeCount">Nodes in the main graph (not counting subgraphs).</param>
/// <param name="NodeOpTypes">Op type of every main-graph node, in graph order.</param>
/// <param name="Inputs">Main-graph input names.</param>
/// <param name="Outputs">Main-graph output names.</param>
/// <param name="HasExternalData">True when some initializer keeps its bytes in an external file.</param>
public sealed record OnnxModelSummary(
    IReadOnlyList<OnnxOpsetImport> OpsetImports,
    int NodeCount,
    IReadOnlyList<string> NodeOpTypes,
    IReadOnlyList<string> Inputs,
    IReadOnlyList<string> Outputs,
    bool HasExternalData);

/// <summary>Read-only inspection of ONNX models at the protobuf wire level.</summary>
public static class OnnxModelInfo
{
    /// <summary>
    /// ONNX Runtime session config key (1.31: kOrtSessionOptionsModelExternalInitializersFileFolderPath) naming the
    /// folder that external initializer files are resolved against. A model loaded from bytes has no folder of
    /// its own, so a rewritten model whose weights sit in an .onnx_data file needs this set to the original folder.
    /// </summary>
    public const string ExternalInitializersFolderConfigKey = "session.model_external_initializers_file_folder_path";

    /// <summary>Reads the opset imports, node count, graph inputs/outputs and external-data flag.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a ModelProto with one graph.</exception>
    public static OnnxModelSummary Read(ReadOnlySpan<byte> modelProto)
    {
        var g = OnnxGraph.Parse(modelProto);
        return new OnnxModelSummary(
            [.. g.OpsetImports.Select(o => new OnnxOpsetImport(o.Domain, o.Version))],
            g.Nodes.Count,
            [.. g.Nodes.Select(n => n.OpType)],
            [.. g.Inputs.Select(i => i.Name)],
            [.. g.Outputs.Select(o => o.Name)],
            g.Initializers.Values.Any(i => i.ExternalLocations.Count > 0));
    }

    /// <summary>Reads the same facts from a file.</summary>
    /// <exception cref="InvalidDataException">The file is not a ModelProto or is over 2 GB.</exception>
    public static OnnxModelSummary ReadFile(string path)
    {
        var length = new FileInfo(path).Length;
        if (length > Array.MaxLength)
        {
            throw new InvalidDataException($"ONNX file '{path}' is {length} bytes; a single protobuf cannot exceed 2 GB.");
        }

        return Read(File.ReadAllBytes(path));
    }
}

namespace PaliGemma.Inference.Onnx;

/// <summary>Field numbers from onnx.proto that the rewriter reads or writes (the rest pass through untouched).</summary>
internal static class OnnxFields
{
    public const int ModelGraph = 7;
    public const int ModelOpsetImport = 8;
    public const int OpsetDomain = 1;
    public const int OpsetVersion = 2;

    public const int GraphNode = 1;
    public const int GraphInitializer = 5;
    public const int GraphInput = 11;
    public const int GraphOutput = 12;
    public const int GraphValueInfo = 13;
    public const int GraphSparseInitializer = 15;

    public const int NodeInput = 1;
    public const int NodeOutput = 2;
    public const int NodeName = 3;
    public const int NodeOpType = 4;
    public const int NodeAttribute = 5;
    public const int NodeDomain = 7;

    public const int AttrName = 1;
    public const int AttrF = 2;
    public const int AttrI = 3;
    public const int AttrT = 5;
    public const int AttrG = 6;
    public const int AttrFloats = 7;
    public const int AttrInts = 8;
    public const int AttrGraphs = 11;
    public const int AttrType = 20;
    public const int AttrTypeTensor = 4;

    public const int TensorDims = 1;
    public const int TensorDataType = 2;
    public const int TensorInt64Data = 7;
    public const int TensorName = 8;
    public const int TensorExternalData = 13;
    public const int TensorDataLocation = 14;
    public const int TensorDataTypeInt64 = 7;
    public const int DataLocationExternal = 1;
    public const int StringEntryKey = 1;
    public const int StringEntryValue = 2;

    public const int SparseValues = 1;

    public const int ValueInfoName = 1;
    public const int ValueInfoType = 2;
    public const int TypeTensorType = 1;
    public const int TensorTypeElemType = 1;
    public const int TensorTypeShape = 2;
    public const int ShapeDim = 1;
    public const int DimValue = 1;
    public const int DimParam = 2;
    public const int DimDenotation = 3;
}

/// <summary>A node attribute, decoded only as far as the rewriter needs.</summary>
internal sealed record OnnxAttribute(string Name, long? Int, float? Float, IReadOnlyList<long>? TensorDims, int IntsCount, int FloatsCount);

/// <summary>A NodeProto occurrence in the graph, with its decoded names and its raw field position.</summary>
internal sealed record OnnxNode(
    ProtoField Field,
    IReadOnlyList<string> Inputs,
    IReadOnlyList<string> Outputs,
    string Name,
    string OpType,
    string Domain,
    IReadOnlyList<OnnxAttribute> Attributes,
    bool HasSubgraph)
{
    /// <summary>True for the ONNX default operator domain ("" or "ai.onnx").</summary>
    public bool IsDefaultDomain => Domain.Length == 0 || Domain == "ai.onnx";

    /// <summary>Name for messages: the node name if it has one, else its first output.</summary>
    public string Label => Name.Length > 0 ? $"{OpType} '{Name}'" : $"{OpType} -> '{(Outputs.Count > 0 ? Outputs[0] : "?")}'";

    /// <summary>The attribute with the given name, or null.</summary>
    public OnnxAttribute? Attribute(string name) => Attributes.FirstOrDefault(a => a.Name == name);
}

/// <summary>A ValueInfoProto (graph input, output or value_info) with its declared tensor rank and element type when it has them.</summary>
internal sealed record OnnxValueInfo(ProtoField Field, string Name, int? Rank, int? ElemType = null);

/// <summary>An initializer's name, dims and whether its bytes live in an external file.</summary>
internal sealed record OnnxInitializer(string Name, IReadOnlyList<long> Dims, IReadOnlyList<string> ExternalLocations);

/// <summary>
/// A read-only, offset-based view of an ONNX ModelProto: the model's and graph's top-level fields plus the
/// decoded parts the rewriter reasons about. Nothing is copied out of the source except names.
/// </summary>
internal sealed class OnnxGraph
{
    private OnnxGraph()
    {
    }

    public List<ProtoField> ModelFields { get; private init; } = [];

    public ProtoField GraphField { get; private init; }

    public List<ProtoField> GraphFields { get; private init; } = [];

    public List<(string Domain, long Version)> OpsetImports { get; } = [];

    public List<OnnxNode> Nodes { get; } = [];

    public Dictionary<string, OnnxInitializer> Initializers { get; } = new(StringComparer.Ordinal);

    /// <summary>Names of sparse initializers (constants, but without dims we decode).</summary>
    public HashSet<string> SparseInitializers { get; } = new(StringComparer.Ordinal);

    public List<OnnxValueInfo> Inputs { get; } = [];

    public List<OnnxValueInfo> Outputs { get; } = [];

    public List<OnnxValueInfo> ValueInfos { get; } = [];

    /// <summary>Outer-scope names read by nodes inside subgraphs (If/Loop/Scan bodies): hidden consumers.</summary>
    public HashSet<string> SubgraphReferences { get; } = new(StringComparer.Ordinal);

    /// <summary>Version of the default ("" / "ai.onnx") operator set, or null when the model imports none.</summary>
    public long? DefaultOpset =>
        OpsetImports.Where(o => o.Domain.Length == 0 || o.Domain == "ai.onnx").Select(o => (long?)o.Version).FirstOrDefault();

    /// <summary>Parses a serialized ModelProto.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a ModelProto with exactly one graph.</exception>
    public static OnnxGraph Parse(ReadOnlySpan<byte> model)
    {
        var modelFields = ProtoWire.ReadFields(model, 0, model.Length);
        var graphs = modelFields.Where(f => f.Number == OnnxFields.ModelGraph).ToList();
        if (graphs.Count != 1 || graphs[0].Wire != WireType.LengthDelimited)
        {
            // Protobuf would merge several occurrences; a real exporter never writes that, so treat it as foreign.
            throw new InvalidDataException($"Expected exactly one ModelProto.graph (field 7), found {graphs.Count}.");
        }

        var graphFields = ProtoWire.ReadFields(model, graphs[0].ValueStart, graphs[0].ValueEnd);
        var g = new OnnxGraph { ModelFields = modelFields, GraphField = graphs[0], GraphFields = graphFields };

        foreach (var f in modelFields.Where(f => f.Number == OnnxFields.ModelOpsetImport))
        {
            string domain = "";
            long version = 0;
            foreach (var o in ProtoWire.ReadFields(model, f.ValueStart, f.ValueEnd))
            {
                if (o.Number == OnnxFields.OpsetDomain)
                {
                    domain = o.String(model);
                }
                else if (o.Number == OnnxFields.OpsetVersion)
                {
                    version = (long)o.Varint;
                }
            }

            g.OpsetImports.Add((domain, version));
        }

        foreach (var f in graphFields)
        {
            switch (f.Number)
            {
                case OnnxFields.GraphNode:
                    g.Nodes.Add(ParseNode(model, f, g.SubgraphReferences));
                    break;
                case OnnxFields.GraphInitializer:
                    var init = ParseTensorHeader(model, f);
                    g.Initializers[init.Name] = init;
                    break;
                case OnnxFields.GraphSparseInitializer:
                    foreach (var s in ProtoWire.ReadFields(model, f.ValueStart, f.ValueEnd).Where(s => s.Number == OnnxFields.SparseValues))
                    {
                        g.SparseInitializers.Add(ParseTensorHeader(model, s).Name);
                    }

                    break;
                case OnnxFields.GraphInput:
                    g.Inputs.Add(ParseValueInfo(model, f));
                    break;
                case OnnxFields.GraphOutput:
                    g.Outputs.Add(ParseValueInfo(model, f));
                    break;
                case OnnxFields.GraphValueInfo:
                    g.ValueInfos.Add(ParseValueInfo(model, f));
                    break;
            }
        }

        return g;
    }

    private static OnnxNode ParseNode(ReadOnlySpan<byte> model, ProtoField nodeField, HashSet<string> subgraphRefs)
    {
        List<string> inputs = [], outputs = [];
        string name = "", opType = "", domain = "";
        var attributes = new List<OnnxAttribute>();
        var hasSubgraph = false;
        foreach (var f in ProtoWire.ReadFields(model, nodeField.ValueStart, nodeField.ValueEnd))
        {
            switch (f.Number)
            {
                case OnnxFields.NodeInput: inputs.Add(f.String(model)); break;
                case OnnxFields.NodeOutput: outputs.Add(f.String(model)); break;
                case OnnxFields.NodeName: name = f.String(model); break;
                case OnnxFields.NodeOpType: opType = f.String(model); break;
                case OnnxFields.NodeDomain: domain = f.String(model); break;
                case OnnxFields.NodeAttribute:
                    attributes.Add(ParseAttribute(model, f, subgraphRefs, ref hasSubgraph));
                    break;
            }
        }

        return new OnnxNode(nodeField, inputs, outputs, name, opType, domain, attributes, hasSubgraph);
    }

    private static OnnxAttribute ParseAttribute(ReadOnlySpan<byte> model, ProtoField attrField, HashSet<string> subgraphRefs, ref bool hasSubgraph)
    {
        string name = "";
        long? i = null;
        float? fl = null;
        List<long>? dims = null;
        int ints = 0, floats = 0;
        foreach (var f in ProtoWire.ReadFields(model, attrField.ValueStart, attrField.ValueEnd))
        {
            switch (f.Number)
            {
                case OnnxFields.AttrName: name = f.String(model); break;
                case OnnxFields.AttrI: i = (long)f.Varint; break;
                case OnnxFields.AttrF when f.Wire == WireType.Fixed32:
                    fl = BitConverter.ToSingle(model[f.ValueStart..f.ValueEnd]);
                    break;
                case OnnxFields.AttrT: dims = [.. ParseTensorHeader(model, f).Dims]; break;
                case OnnxFields.AttrInts:
                    var tmp = new List<long>();
                    ProtoWire.ReadInt64s(model, f, tmp);
                    ints += tmp.Count;
                    break;
                case OnnxFields.AttrFloats:
                    floats += f.Wire == WireType.LengthDelimited ? (f.ValueEnd - f.ValueStart) / 4 : 1;
                    break;
                case OnnxFields.AttrG:
                case OnnxFields.AttrGraphs:
                    hasSubgraph = true;
                    CollectSubgraphInputs(model, f, subgraphRefs);
                    break;
            }
        }

        return new OnnxAttribute(name, i, fl, dims, ints, floats);
    }

    // Any name a nested graph's node reads may come from the outer scope. Over-collecting (names that are in
    // fact local to the subgraph) only makes the rewriter more cautious, never wrong.
    private static void CollectSubgraphInputs(ReadOnlySpan<byte> model, ProtoField graphField, HashSet<string> into)
    {
        foreach (var f in ProtoWire.ReadFields(model, graphField.ValueStart, graphField.ValueEnd).Where(f => f.Number == OnnxFields.GraphNode))
        {
            // ParseNode recurses into this node's own subgraphs, so deeper nesting is covered too.
            var node = ParseNode(model, f, into);
            foreach (var input in node.Inputs)
            {
                into.Add(input);
            }
        }
    }

    private static OnnxInitializer ParseTensorHeader(ReadOnlySpan<byte> model, ProtoField tensorField)
    {
        string name = "";
        var dims = new List<long>();
        var locations = new List<string>();
        var external = false;
        foreach (var f in ProtoWire.ReadFields(model, tensorField.ValueStart, tensorField.ValueEnd))
        {
            switch (f.Number)
            {
                case OnnxFields.TensorDims: ProtoWire.ReadInt64s(model, f, dims); break;
                case OnnxFields.TensorName: name = f.String(model); break;
                case OnnxFields.TensorDataLocation: external = f.Varint == OnnxFields.DataLocationExternal; break;
                case OnnxFields.TensorExternalData:
                    string key = "", value = "";
                    foreach (var e in ProtoWire.ReadFields(model, f.ValueStart, f.ValueEnd))
                    {
                        if (e.Number == OnnxFields.StringEntryKey)
                        {
                            key = e.String(model);
                        }
                        else if (e.Number == OnnxFields.StringEntryValue)
                        {
                            value = e.String(model);
                        }
                    }

                    if (key == "location")
                    {
                        locations.Add(value);
                    }

                    break;
            }
        }

        return new OnnxInitializer(name, dims, external ? locations : []);
    }

    private static OnnxValueInfo ParseValueInfo(ReadOnlySpan<byte> model, ProtoField field)
    {
        string name = "";
        int? rank = null;
        int? elemType = null;
        foreach (var f in ProtoWire.ReadFields(model, field.ValueStart, field.ValueEnd))
        {
            if (f.Number == OnnxFields.ValueInfoName)
            {
                name = f.String(model);
            }
            else if (f.Number == OnnxFields.ValueInfoType)
            {
                foreach (var t in ProtoWire.ReadFields(model, f.ValueStart, f.ValueEnd).Where(t => t.Number == OnnxFields.TypeTensorType))
                {
                    foreach (var s in ProtoWire.ReadFields(model, t.ValueStart, t.ValueEnd))
                    {
                        if (s.Number == OnnxFields.TensorTypeShape)
                        {
                            rank = ProtoWire.ReadFields(model, s.ValueStart, s.ValueEnd).Count(d => d.Number == OnnxFields.ShapeDim);
                        }
                        else if (s.Number == OnnxFields.TensorTypeElemType && s.Wire == WireType.Varint)
                        {
                            elemType = (int)s.Varint;
                        }
                    }
                }
            }
        }

        return new OnnxValueInfo(field, name, rank, elemType);
    }
}

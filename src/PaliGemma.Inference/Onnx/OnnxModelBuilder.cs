using System.Runtime.InteropServices;

namespace PaliGemma.Inference.Onnx;

/// <summary>ONNX TensorProto.DataType values used by the graphs built in code (ONNX Runtime's TensorElementType has the same numbers).</summary>
internal static class OnnxType
{
    public const int Float = 1;
    public const int Int64 = 7;
    public const int Bool = 9;
    public const int Float16 = 10;
}

/// <summary>A node attribute to write: exactly one of the values is set.</summary>
internal readonly record struct OnnxAttr(string Name, long? Int = null, float? Float = null, long[]? Ints = null, List<byte>? Tensor = null)
{
    public static OnnxAttr I(string name, long value) => new(name, Int: value);

    public static OnnxAttr Is(string name, params long[] values) => new(name, Ints: values);
}

/// <summary>
/// Writes small ONNX graphs at the protobuf wire level (no schema compiler, no onnx package): the helper graphs the
/// generator runs on the execution provider (merging image features, compacting rows, advancing positions) and
/// the nodes the decoder rewrite appends. Node and value names are made unique against <see cref="Taken"/>, so the
/// same builder can emit nodes into an existing graph.
/// </summary>
internal sealed class OnnxModelBuilder(string prefix, HashSet<string>? taken = null)
{
    private const int AttrFloat = 1;
    private const int AttrInt = 2;
    private const int AttrTensor = 4;
    private const int AttrInts = 7;

    private readonly List<byte> _inputs = [];
    private readonly List<byte> _outputs = [];

    /// <summary>Serialized NodeProto messages, in topological order (each one a GraphProto.node field).</summary>
    public List<byte> Nodes { get; } = [];

    /// <summary>Serialized graph output ValueInfoProto fields.</summary>
    public List<byte> OutputFields => _outputs;

    /// <summary>Names already used, by the graph these nodes go into and by this builder.</summary>
    public HashSet<string> Taken { get; } = taken ?? new HashSet<string>(StringComparer.Ordinal);

    /// <summary>A name not used yet, derived from <paramref name="stem"/>.</summary>
    public string Fresh(string stem)
    {
        var name = $"{prefix}/{stem}";
        for (var n = 1; Taken.Contains(name); n++)
        {
            name = $"{prefix}/{stem}_{n}";
        }

        Taken.Add(name);
        return name;
    }

    /// <summary>Declares a graph input of the given element type and rank (every dimension symbolic).</summary>
    public string Input(string name, int elemType, int rank)
    {
        Taken.Add(name);
        ProtoWire.WriteBytesField(_inputs, OnnxFields.GraphInput, CollectionsMarshal.AsSpan(ValueInfo(name, elemType, rank)));
        return name;
    }

    /// <summary>Declares <paramref name="name"/> a graph output of the given element type and rank.</summary>
    public void Output(string name, int elemType, int rank) =>
        ProtoWire.WriteBytesField(_outputs, OnnxFields.GraphOutput, CollectionsMarshal.AsSpan(ValueInfo(name, elemType, rank)));

    /// <summary>Appends a node with one output and returns the output's name (<paramref name="output"/> or a fresh one).</summary>
    public string Node(string opType, IReadOnlyList<string> inputs, string? output = null, params OnnxAttr[] attributes) =>
        NodeN(opType, inputs, output is null ? 1 : 0, output is null ? [] : [output], attributes)[0];

    /// <summary>Appends a node with several outputs: <paramref name="named"/> first, then <paramref name="freshCount"/> fresh names.</summary>
    public string[] NodeN(string opType, IReadOnlyList<string> inputs, int freshCount, IReadOnlyList<string> named, params OnnxAttr[] attributes)
    {
        var outputs = named.Concat(Enumerable.Range(0, freshCount).Select(_ => Fresh(opType))).ToArray();
        foreach (var o in outputs)
        {
            Taken.Add(o);
        }

        var node = new List<byte>();
        foreach (var input in inputs)
        {
            ProtoWire.WriteStringField(node, OnnxFields.NodeInput, input);
        }

        foreach (var output in outputs)
        {
            ProtoWire.WriteStringField(node, OnnxFields.NodeOutput, output);
        }

        ProtoWire.WriteStringField(node, OnnxFields.NodeName, Fresh(opType + "_node"));
        ProtoWire.WriteStringField(node, OnnxFields.NodeOpType, opType);
        foreach (var a in attributes)
        {
            ProtoWire.WriteBytesField(node, OnnxFields.NodeAttribute, CollectionsMarshal.AsSpan(Attribute(a)));
        }

        ProtoWire.WriteBytesField(Nodes, OnnxFields.GraphNode, CollectionsMarshal.AsSpan(node));
        return outputs;
    }

    /// <summary>A 1-D int64 constant.</summary>
    public string Int64s(params long[] values) => Constant(Int64Tensor(values, scalar: false));

    /// <summary>A scalar int64 constant.</summary>
    public string Int64Scalar(long value) => Constant(Int64Tensor([value], scalar: true));

    /// <summary>The <c>value</c> attribute of ConstantOfShape: a one-element int64 tensor.</summary>
    public static OnnxAttr Int64Value(long value) => new("value", Tensor: Int64Tensor([value], scalar: false));

    /// <summary>A whole ModelProto around the nodes, inputs and outputs written so far.</summary>
    public byte[] Build(string graphName, long opset = 17, long irVersion = 8)
    {
        var graph = new List<byte>();
        graph.AddRange(Nodes);
        ProtoWire.WriteStringField(graph, GraphName, graphName);
        graph.AddRange(_inputs);
        graph.AddRange(_outputs);

        var opsetImport = new List<byte>();
        ProtoWire.WriteStringField(opsetImport, OnnxFields.OpsetDomain, "");
        ProtoWire.WriteVarintField(opsetImport, OnnxFields.OpsetVersion, (ulong)opset);

        var model = new List<byte>();
        ProtoWire.WriteVarintField(model, ModelIrVersion, (ulong)irVersion);
        ProtoWire.WriteStringField(model, ModelProducerName, "pgpipe");
        ProtoWire.WriteBytesField(model, OnnxFields.ModelGraph, CollectionsMarshal.AsSpan(graph));
        ProtoWire.WriteBytesField(model, OnnxFields.ModelOpsetImport, CollectionsMarshal.AsSpan(opsetImport));
        return [.. model];
    }

    private const int ModelIrVersion = 1;
    private const int ModelProducerName = 2;
    private const int GraphName = 2;

    private string Constant(List<byte> tensor)
    {
        var name = Fresh("const");
        Node("Constant", [], name, new OnnxAttr("value", Tensor: tensor));
        return name;
    }

    private static List<byte> Int64Tensor(long[] values, bool scalar)
    {
        var tensor = new List<byte>();
        if (!scalar)
        {
            ProtoWire.WritePackedInt64Field(tensor, OnnxFields.TensorDims, [values.Length]);
        }

        ProtoWire.WriteVarintField(tensor, OnnxFields.TensorDataType, OnnxType.Int64);
        ProtoWire.WritePackedInt64Field(tensor, OnnxFields.TensorInt64Data, values);
        return tensor;
    }

    private static List<byte> Attribute(OnnxAttr a)
    {
        var attr = new List<byte>();
        ProtoWire.WriteStringField(attr, OnnxFields.AttrName, a.Name);
        if (a.Int is { } i)
        {
            ProtoWire.WriteVarintField(attr, OnnxFields.AttrI, (ulong)i);
            ProtoWire.WriteVarintField(attr, OnnxFields.AttrType, AttrInt);
        }
        else if (a.Float is { } f)
        {
            ProtoWire.WriteTag(attr, OnnxFields.AttrF, WireType.Fixed32);
            attr.AddRange(BitConverter.GetBytes(f));
            ProtoWire.WriteVarintField(attr, OnnxFields.AttrType, AttrFloat);
        }
        else if (a.Ints is { } ints)
        {
            ProtoWire.WritePackedInt64Field(attr, OnnxFields.AttrInts, ints);
            ProtoWire.WriteVarintField(attr, OnnxFields.AttrType, AttrInts);
        }
        else if (a.Tensor is { } t)
        {
            ProtoWire.WriteBytesField(attr, OnnxFields.AttrT, CollectionsMarshal.AsSpan(t));
            ProtoWire.WriteVarintField(attr, OnnxFields.AttrType, AttrTensor);
        }
        else
        {
            throw new ArgumentException($"Attribute '{a.Name}' has no value.", nameof(a));
        }

        return attr;
    }

    private static List<byte> ValueInfo(string name, int elemType, int rank)
    {
        var shape = new List<byte>();
        for (var d = 0; d < rank; d++)
        {
            // An empty Dimension: known rank, unknown size, and no dim_param name that would tie it to another tensor.
            ProtoWire.WriteBytesField(shape, OnnxFields.ShapeDim, []);
        }

        var tensorType = new List<byte>();
        ProtoWire.WriteVarintField(tensorType, TensorTypeElemType, (ulong)elemType);
        ProtoWire.WriteBytesField(tensorType, OnnxFields.TensorTypeShape, CollectionsMarshal.AsSpan(shape));
        var type = new List<byte>();
        ProtoWire.WriteBytesField(type, OnnxFields.TypeTensorType, CollectionsMarshal.AsSpan(tensorType));
        var info = new List<byte>();
        ProtoWire.WriteStringField(info, OnnxFields.ValueInfoName, name);
        ProtoWire.WriteBytesField(info, OnnxFields.ValueInfoType, CollectionsMarshal.AsSpan(type));
        return info;
    }

    private const int TensorTypeElemType = 1;
}

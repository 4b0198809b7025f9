using System.Runtime.InteropServices;
using PaliGemma.Inference.Onnx;

namespace PaliGemma.Inference.Tests.Onnx;

/// <summary>
/// Builds, in memory, a decoder tail big enough to time: one position-wise MLP block (stand-in for the body),
/// a norm scale, the lm_head MatMul and the 30 soft-cap. Built here rather than committed because the head
/// weight alone is D*V*4 bytes (33 MB at D=256, V=33000).
/// </summary>
internal static class SyntheticDecoderTail
{
    public static byte[] Build(int hidden, int vocab, int seed)
    {
        var nodes = new List<List<byte>>
        {
            Node("MatMul", ["inputs_embeds", "mlp.up"], ["mlp_up"]),
            Node("Relu", ["mlp_up"], ["mlp_act"]),
            Node("MatMul", ["mlp_act", "mlp.down"], ["mlp_down"]),
            Node("Add", ["inputs_embeds", "mlp_down"], ["residual"]),
            Node("Mul", ["residual", "norm.scale"], ["hidden"]),
            Node("Mul", ["inputs_embeds", "two"], ["present.0.key"]),
            Node("MatMul", ["hidden", "lm_head.weight"], ["head"], "lm_head"),
            Node("Div", ["head", "cap"], ["cap_div"]),
            Node("Tanh", ["cap_div"], ["cap_tanh"]),
            Node("Mul", ["cap_tanh", "cap"], ["logits"]),
        };
        var scale = 1f / MathF.Sqrt(hidden);
        var initializers = new List<List<byte>>
        {
            FloatTensor("mlp.up", [hidden, 4 * hidden], Scaled(OnnxTestSupport.RandomNormal(hidden * 4 * hidden, seed), scale)),
            FloatTensor("mlp.down", [4 * hidden, hidden], Scaled(OnnxTestSupport.RandomNormal(4 * hidden * hidden, seed + 1), scale / 2)),
            FloatTensor("norm.scale", [hidden], Scaled(OnnxTestSupport.RandomNormal(hidden, seed + 2), 0.1f, 1f)),
            FloatTensor("lm_head.weight", [hidden, vocab], Scaled(OnnxTestSupport.RandomNormal(hidden * vocab, seed + 3), 3 * scale)),
            FloatTensor("cap", [], [30f]),
            FloatTensor("two", [], [2f]),
        };

        var graph = new List<byte>();
        foreach (var n in nodes)
        {
            ProtoWire.WriteBytesField(graph, OnnxFields.GraphNode, CollectionsMarshal.AsSpan(n));
        }

        ProtoWire.WriteStringField(graph, 2, "synthetic_decoder_tail");
        foreach (var t in initializers)
        {
            ProtoWire.WriteBytesField(graph, OnnxFields.GraphInitializer, CollectionsMarshal.AsSpan(t));
        }

        ProtoWire.WriteBytesField(graph, OnnxFields.GraphInput, ValueInfo("inputs_embeds", ["batch", "seq", hidden]));
        ProtoWire.WriteBytesField(graph, OnnxFields.GraphOutput, ValueInfo("logits", ["batch", "seq", vocab]));
        ProtoWire.WriteBytesField(graph, OnnxFields.GraphOutput, ValueInfo("present.0.key", ["batch", "seq", hidden]));

        var opset = new List<byte>();
        ProtoWire.WriteStringField(opset, OnnxFields.OpsetDomain, "");
        ProtoWire.WriteVarintField(opset, OnnxFields.OpsetVersion, 17);

        var model = new List<byte>();
        ProtoWire.WriteVarintField(model, 1, 8); // ir_version
        ProtoWire.WriteStringField(model, 2, "PaliGemma.Inference.Tests");
        ProtoWire.WriteBytesField(model, OnnxFields.ModelGraph, CollectionsMarshal.AsSpan(graph));
        ProtoWire.WriteBytesField(model, OnnxFields.ModelOpsetImport, CollectionsMarshal.AsSpan(opset));
        return [.. model];
    }

    private static float[] Scaled(float[] values, float scale, float offset = 0f)
    {
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (values[i] * scale) + offset;
        }

        return values;
    }

    private static List<byte> Node(string op, string[] inputs, string[] outputs, string? name = null)
    {
        var node = new List<byte>();
        foreach (var i in inputs)
        {
            ProtoWire.WriteStringField(node, OnnxFields.NodeInput, i);
        }

        foreach (var o in outputs)
        {
            ProtoWire.WriteStringField(node, OnnxFields.NodeOutput, o);
        }

        ProtoWire.WriteStringField(node, OnnxFields.NodeName, name ?? outputs[0]);
        ProtoWire.WriteStringField(node, OnnxFields.NodeOpType, op);
        return node;
    }

    private static List<byte> FloatTensor(string name, long[] dims, float[] data)
    {
        var tensor = new List<byte>();
        if (dims.Length > 0)
        {
            ProtoWire.WritePackedInt64Field(tensor, OnnxFields.TensorDims, dims);
        }

        ProtoWire.WriteVarintField(tensor, OnnxFields.TensorDataType, 1); // FLOAT
        ProtoWire.WriteStringField(tensor, OnnxFields.TensorName, name);
        ProtoWire.WriteBytesField(tensor, 9, MemoryMarshal.AsBytes(data.AsSpan())); // raw_data, little-endian
        return tensor;
    }

    private static byte[] ValueInfo(string name, object[] dims)
    {
        var shape = new List<byte>();
        foreach (var d in dims)
        {
            var dim = new List<byte>();
            if (d is string param)
            {
                ProtoWire.WriteStringField(dim, OnnxFields.DimParam, param);
            }
            else
            {
                ProtoWire.WriteVarintField(dim, OnnxFields.DimValue, (ulong)(int)d);
            }

            ProtoWire.WriteBytesField(shape, OnnxFields.ShapeDim, CollectionsMarshal.AsSpan(dim));
        }

        var tensorType = new List<byte>();
        ProtoWire.WriteVarintField(tensorType, 1, 1); // elem_type FLOAT
        ProtoWire.WriteBytesField(tensorType, OnnxFields.TensorTypeShape, CollectionsMarshal.AsSpan(shape));
        var type = new List<byte>();
        ProtoWire.WriteBytesField(type, OnnxFields.TypeTensorType, CollectionsMarshal.AsSpan(tensorType));
        var vi = new List<byte>();
        ProtoWire.WriteStringField(vi, OnnxFields.ValueInfoName, name);
        ProtoWire.WriteBytesField(vi, OnnxFields.ValueInfoType, CollectionsMarshal.AsSpan(type));
        return [.. vi];
    }
}

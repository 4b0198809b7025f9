using System.Numerics;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace PaliGemma.Inference.Runtime;

/// <summary>Element-type-aware copies and reductions over raw tensor memory (float32 and float16 graphs).</summary>
internal static class TensorOps
{
    public static int ElementSize(TensorElementType type) => type switch
    {
        TensorElementType.Float => 4,
        TensorElementType.Float16 => 2,
        TensorElementType.Int64 => 8,
        _ => throw new NotSupportedException($"Element type {type} is not supported."),
    };

    /// <summary>Copies <paramref name="count"/> elements, converting between float32 and float16 when the types differ.</summary>
    public static void CopyConvert(ReadOnlySpan<byte> src, TensorElementType srcType, Span<byte> dst, TensorElementType dstType, int count)
    {
        if (srcType == dstType)
        {
            var bytes = count * ElementSize(srcType);
            src[..bytes].CopyTo(dst);
            return;
        }

        if (srcType == TensorElementType.Float && dstType == TensorElementType.Float16)
        {
            var s = MemoryMarshal.Cast<byte, float>(src)[..count];
            var d = MemoryMarshal.Cast<byte, Half>(dst)[..count];
            for (var i = 0; i < count; i++)
            {
                d[i] = (Half)s[i];
            }
        }
        else
        {
            var s = MemoryMarshal.Cast<byte, Half>(src)[..count];
            var d = MemoryMarshal.Cast<byte, float>(dst)[..count];
            for (var i = 0; i < count; i++)
            {
                d[i] = (float)s[i];
            }
        }
    }

    /// <summary>
    /// Index of the largest logit in one row (first index on ties, as transformers.js's argmax), and optionally the
    /// gap between the largest and second-largest values.
    /// </summary>
    public static int ArgMax(OrtValue logits, TensorElementType type, long offset, int length, bool trackMargin, out float margin)
    {
        // Typed spans (not raw bytes) so a full-sequence logits tensor of up to 2^31 elements stays addressable.
        if (type == TensorElementType.Float)
        {
            var row = logits.GetTensorDataAsSpan<float>().Slice(checked((int)offset), length);
            if (!trackMargin)
            {
                margin = float.NaN;
                return ArgMaxFloat(row);
            }

            return Top2(row, out margin);
        }

        var halves = MemoryMarshal.Cast<Float16, Half>(logits.GetTensorDataAsSpan<Float16>()).Slice(checked((int)offset), length);
        var index = Top2(halves, out var gap);
        margin = trackMargin ? gap : float.NaN;
        return index;
    }

    // Generic over the element type; the JIT specialises it per value type, so float and Half each get a tight loop.
    private static int Top2<T>(ReadOnlySpan<T> row, out float margin)
        where T : struct, INumberBase<T>
    {
        var best = float.NegativeInfinity;
        var second = float.NegativeInfinity;
        var bestIndex = 0;
        for (var i = 0; i < row.Length; i++)
        {
            var x = float.CreateTruncating(row[i]);
            if (x > best)
            {
                second = best;
                best = x;
                bestIndex = i;
            }
            else if (x > second)
            {
                second = x;
            }
        }

        margin = best - second;
        return bestIndex;
    }

    private static int ArgMaxFloat(ReadOnlySpan<float> row)
    {
        var best = float.NegativeInfinity;
        var bestIndex = 0;
        for (var i = 0; i < row.Length; i++)
        {
            if (row[i] > best)
            {
                best = row[i];
                bestIndex = i;
            }
        }

        return bestIndex;
    }

    /// <summary>A tensor of the given shape allocated by ONNX Runtime's CPU allocator.</summary>
    public static OrtValue Allocate(TensorElementType type, long[] shape) =>
        OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, type, shape);

    /// <summary>
    /// Keeps the rows <paramref name="keep"/> (indices along axis 0, ascending) of a [B, ...] tensor, in a new tensor.
    /// Used to drop finished rows from the KV cache so they stop costing decode compute.
    /// </summary>
    public static OrtValue SelectRows(OrtValue source, IReadOnlyList<int> keep)
    {
        var info = source.GetTensorTypeAndShape();
        var shape = info.Shape;
        var rowElements = 1L;
        for (var i = 1; i < shape.Length; i++)
        {
            rowElements *= shape[i];
        }

        var rowBytes = checked((int)(rowElements * ElementSize(info.ElementDataType)));
        var newShape = (long[])shape.Clone();
        newShape[0] = keep.Count;
        var result = Allocate(info.ElementDataType, newShape);
        var src = source.GetTensorMutableRawData();
        var dst = result.GetTensorMutableRawData();
        for (var r = 0; r < keep.Count; r++)
        {
            src.Slice(keep[r] * rowBytes, rowBytes).CopyTo(dst.Slice(r * rowBytes, rowBytes));
        }

        return result;
    }
}

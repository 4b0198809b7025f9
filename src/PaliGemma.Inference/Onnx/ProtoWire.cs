using System.Text;

namespace PaliGemma.Inference.Onnx;

/// <summary>Protobuf wire types used by ONNX messages.</summary>
internal enum WireType
{
    Varint = 0,
    Fixed64 = 1,
    LengthDelimited = 2,
    StartGroup = 3,
    EndGroup = 4,
    Fixed32 = 5,
}

/// <summary>
/// One field occurrence inside a message, as offsets into the buffer the message was read from. Offsets (not
/// slices) are kept so that a parse of a multi-gigabyte model holds no copies: every untouched field is
/// later copied straight from the source span, which is what keeps the rewrite byte-exact outside the edit.
/// </summary>
internal readonly record struct ProtoField(int Number, WireType Wire, int Start, int End, int ValueStart, int ValueEnd, ulong Varint)
{
    /// <summary>The field's payload (for length-delimited fields, without tag and length).</summary>
    public ReadOnlySpan<byte> Value(ReadOnlySpan<byte> buffer) => buffer[ValueStart..ValueEnd];

    /// <summary>The length-delimited payload decoded as UTF-8.</summary>
    public string String(ReadOnlySpan<byte> buffer) => Encoding.UTF8.GetString(buffer[ValueStart..ValueEnd]);
}

/// <summary>Minimal protobuf wire reader and writer: enough to walk ONNX messages without a schema compiler.</summary>
internal static class ProtoWire
{
    /// <summary>Splits the message in <paramref name="buffer"/>[start..end) into its field occurrences, in order.</summary>
    /// <exception cref="InvalidDataException">The bytes are not a well-formed protobuf message.</exception>
    public static List<ProtoField> ReadFields(ReadOnlySpan<byte> buffer, int start, int end)
    {
        var fields = new List<ProtoField>();
        var pos = start;
        while (pos < end)
        {
            var fieldStart = pos;
            var tag = ReadVarint(buffer, ref pos, end);
            var number = (int)(tag >> 3);
            var wire = (WireType)(tag & 7);
            if (number <= 0)
            {
                throw new InvalidDataException($"Protobuf field number {number} at byte {fieldStart} is invalid.");
            }

            int valueStart = pos, valueEnd;
            ulong varint = 0;
            switch (wire)
            {
                case WireType.Varint:
                    varint = ReadVarint(buffer, ref pos, end);
                    valueEnd = pos;
                    break;
                case WireType.Fixed64:
                    pos += 8;
                    valueEnd = pos;
                    break;
                case WireType.Fixed32:
                    pos += 4;
                    valueEnd = pos;
                    break;
                case WireType.LengthDelimited:
                    var length = ReadVarint(buffer, ref pos, end);
                    if (length > (ulong)(end - pos))
                    {
                        throw new InvalidDataException(
                            $"Protobuf field {number} at byte {fieldStart} declares {length} bytes but only {end - pos} remain.");
                    }

                    valueStart = pos;
                    pos += (int)length;
                    valueEnd = pos;
                    break;
                default:
                    // Groups are deprecated and never used by onnx.proto; refusing beats mis-skipping them.
                    throw new InvalidDataException($"Protobuf wire type {(int)wire} at byte {fieldStart} is not supported.");
            }

            if (pos > end)
            {
                throw new InvalidDataException($"Protobuf field {number} at byte {fieldStart} runs past the end of its message.");
            }

            fields.Add(new ProtoField(number, wire, fieldStart, pos, valueStart, valueEnd, varint));
        }

        return fields;
    }

    /// <summary>Reads repeated int64 values of a field that may be packed or unpacked (both are legal encodings).</summary>
    public static void ReadInt64s(ReadOnlySpan<byte> buffer, ProtoField field, List<long> into)
    {
        if (field.Wire == WireType.Varint)
        {
            into.Add((long)field.Varint);
            return;
        }

        if (field.Wire != WireType.LengthDelimited)
        {
            throw new InvalidDataException($"Protobuf int64 field {field.Number} has wire type {field.Wire}.");
        }

        var pos = field.ValueStart;
        while (pos < field.ValueEnd)
        {
            into.Add((long)ReadVarint(buffer, ref pos, field.ValueEnd));
        }
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> buffer, ref int pos, int end)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= end)
            {
                throw new InvalidDataException($"Protobuf varint at byte {pos} is truncated.");
            }

            var b = buffer[pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }

        throw new InvalidDataException($"Protobuf varint ending at byte {pos} is longer than 10 bytes.");
    }

    /// <summary>Appends a varint.</summary>
    public static void WriteVarint(List<byte> into, ulong value)
    {
        while (value >= 0x80)
        {
            into.Add((byte)(value | 0x80));
            value >>= 7;
        }

        into.Add((byte)value);
    }

    /// <summary>Appends a field tag.</summary>
    public static void WriteTag(List<byte> into, int number, WireType wire) =>
        WriteVarint(into, ((ulong)number << 3) | (ulong)wire);

    /// <summary>Appends a varint field.</summary>
    public static void WriteVarintField(List<byte> into, int number, ulong value)
    {
        WriteTag(into, number, WireType.Varint);
        WriteVarint(into, value);
    }

    /// <summary>Appends a length-delimited field.</summary>
    public static void WriteBytesField(List<byte> into, int number, ReadOnlySpan<byte> payload)
    {
        WriteTag(into, number, WireType.LengthDelimited);
        WriteVarint(into, (ulong)payload.Length);
        foreach (var b in payload)
        {
            into.Add(b);
        }
    }

    /// <summary>Appends a UTF-8 string field.</summary>
    public static void WriteStringField(List<byte> into, int number, string value) =>
        WriteBytesField(into, number, Encoding.UTF8.GetBytes(value));

    /// <summary>Appends a packed repeated int64 field.</summary>
    public static void WritePackedInt64Field(List<byte> into, int number, IEnumerable<long> values)
    {
        var payload = new List<byte>();
        foreach (var v in values)
        {
            WriteVarint(payload, (ulong)v);
        }

        WriteBytesField(into, number, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(payload));
    }

    /// <summary>Appends the source bytes of a field occurrence unchanged.</summary>
    public static void CopyField(List<byte> into, ReadOnlySpan<byte> buffer, ProtoField field)
    {
        foreach (var b in buffer[field.Start..field.End])
        {
            into.Add(b);
        }
    }
}

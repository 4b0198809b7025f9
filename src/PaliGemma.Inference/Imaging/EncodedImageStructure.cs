using System.Buffers.Binary;

namespace PaliGemma.Inference.Imaging;

/// <summary>
/// Checks that a PNG or JPEG file is complete (reaches IEND / EOI) by walking its chunk or marker structure.
/// </summary>
/// <remarks>
/// ImageSharp 2.1 decodes a PNG or JPEG cut off in the middle of its pixel data without complaint, filling the missing
/// rows with grey or black. A partially uploaded or downloaded file would then be captioned as if it were whole; PIL
/// refuses such files ("image file is truncated"). The walk skips chunk and segment bodies by their lengths and scans only
/// JPEG entropy-coded data for the next marker, so it costs a fraction of decoding; data after the end marker (e.g. a
/// motion photo's video) is ignored.
/// </remarks>
internal static class EncodedImageStructure
{
    private static ReadOnlySpan<byte> PngSignature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Returns null when the file is complete, or why it is not. Formats other than PNG and JPEG return null.</summary>
    public static string? FindTruncation(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith(PngSignature))
        {
            return CheckPng(data);
        }

        if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
        {
            return CheckJpeg(data);
        }

        return null;
    }

    private static string? CheckPng(ReadOnlySpan<byte> data)
    {
        long pos = PngSignature.Length;
        while (pos + 8 <= data.Length)
        {
            uint length = BinaryPrimitives.ReadUInt32BigEndian(data.Slice((int)pos, 4));
            ReadOnlySpan<byte> type = data.Slice((int)pos + 4, 4);
            long next = pos + 12 + length; // length, type, body, CRC
            if (next > data.Length)
            {
                return $"the PNG ends inside its '{System.Text.Encoding.ASCII.GetString(type)}' chunk ({data.Length} bytes, the chunk needs {next})";
            }

            if (type.SequenceEqual("IEND"u8))
            {
                return null;
            }

            pos = next;
        }

        return "the PNG ends before its IEND chunk";
    }

    private static string? CheckJpeg(ReadOnlySpan<byte> data)
    {
        int pos = 2; // after SOI
        while (true)
        {
            // Find the next 0xFF; bytes before it are garbage that decoders skip (libjpeg warns "extraneous bytes").
            int ff = data[pos..].IndexOf((byte)0xFF);
            if (ff < 0)
            {
                return "the JPEG ends before its EOI marker";
            }

            pos += ff;
            while (pos < data.Length && data[pos] == 0xFF)
            {
                pos++; // fill bytes
            }

            if (pos >= data.Length)
            {
                return "the JPEG ends before its EOI marker";
            }

            byte marker = data[pos];
            pos++;
            if (marker == 0xD9)
            {
                return null; // EOI
            }

            if (marker is 0x01 or (>= 0xD0 and <= 0xD7) or 0x00)
            {
                continue; // standalone markers (TEM, RSTn); 0x00 is a stray stuffed byte
            }

            if (pos + 2 > data.Length)
            {
                return $"the JPEG ends inside marker 0xFF{marker:X2}";
            }

            int length = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(pos, 2));
            if (length < 2 || pos + length > data.Length)
            {
                return $"the JPEG ends inside segment 0xFF{marker:X2} ({data.Length} bytes, the segment needs {pos + length})";
            }

            pos += length;
            if (marker == 0xDA)
            {
                // Entropy-coded data follows SOS: it ends at the first 0xFF not followed by 0x00 (stuffing) or RSTn.
                while (true)
                {
                    int next = data[pos..].IndexOf((byte)0xFF);
                    if (next < 0 || pos + next + 1 >= data.Length)
                    {
                        return "the JPEG ends inside its compressed image data (no EOI marker)";
                    }

                    pos += next;
                    byte after = data[pos + 1];
                    if (after == 0x00 || (after >= 0xD0 && after <= 0xD7))
                    {
                        pos += 2;
                        continue;
                    }

                    break; // a real marker: handled by the outer loop
                }
            }
        }
    }
}

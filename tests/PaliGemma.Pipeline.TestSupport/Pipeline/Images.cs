using System.Buffers.Binary;
using System.Text;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>Generated catalog content: distinct small PNGs and the kinds of bad object a real bucket holds.</summary>
public static class Images
{
    /// <summary>A PNG whose pixels (and so bytes and ETag) depend on <paramref name="seed"/>; sizes vary to exercise resizing.</summary>
    public static byte[] Png(int seed)
    {
        var width = 40 + (seed * 7 % 60);
        var height = 30 + (seed * 13 % 70);
        using var image = new Image<Rgb24>(width, height);
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                image[x, y] = new Rgb24((byte)((x * 3) + seed), (byte)((y * 5) + (seed * 7)), (byte)((x * y) + (seed * 11)));
            }
        }

        using var stream = new MemoryStream();
        image.SaveAsPng(stream);
        return stream.ToArray();
    }

    public static byte[] NotAnImage() => Encoding.UTF8.GetBytes("this is a text file that happens to be called .png\n");

    /// <summary>The first half of a valid PNG: signature and header intact, image data cut off.</summary>
    public static byte[] TruncatedPng()
    {
        var whole = Png(12345);
        return whole[..(whole.Length / 2)];
    }

    /// <summary>
    /// A decompression bomb's header: a well-formed PNG signature and IHDR (valid CRC) declaring 100000 x 100000 RGB
    /// pixels (30 GB decoded) in a few dozen bytes. A worker must refuse it from the header, before allocating.
    /// </summary>
    public static byte[] DecompressionBombHeader()
    {
        using var stream = new MemoryStream();
        stream.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(0), 100_000);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), 100_000);
        ihdr[8] = 8; // bit depth
        ihdr[9] = 2; // colour type: RGB
        WriteChunk(stream, "IHDR", ihdr);
        WriteChunk(stream, "IDAT", [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        WriteChunk(stream, "IEND", []);
        return stream.ToArray();
    }

    private static void WriteChunk(Stream stream, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(length, (uint)data.Length);
        stream.Write(length);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        stream.Write(typeBytes);
        stream.Write(data);
        var crc = Crc32([.. typeBytes, .. data]);
        Span<byte> crcBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crcBytes, crc);
        stream.Write(crcBytes);
    }

    // PNG's CRC-32 (ISO 3309, reflected polynomial 0xEDB88320), bit by bit: a few dozen bytes need no table.
    private static uint Crc32(byte[] data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
            }
        }

        return crc ^ 0xFFFFFFFFu;
    }
}

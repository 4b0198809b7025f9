using System.Buffers;
using System.Text;

namespace PaliGemma.Inference.Imaging;

/// <summary>
/// Names well-known formats that turn up in image buckets but that this preprocessor deliberately does not decode:
/// SVG (needs a renderer, and a renderer fetches external references), PDF (a document, not an image), HEIC and AVIF
/// (no decoder ships with ImageSharp 2).
/// </summary>
/// <remarks>
/// Only consulted after ImageSharp has failed to recognise the bytes, so it can never turn a decodable image into a
/// refusal. Its value is the message: "this is an SVG" tells an operator what to convert, where "not an image" reads
/// like a corrupt upload.
/// </remarks>
internal static class UnsupportedFormatSniffer
{
    // Enough for an XML prolog, a DOCTYPE and a licence comment before the root element.
    private const int SvgWindow = 4096;

    // The PDF spec lets readers accept "%PDF-" within the first 1024 bytes (junk before it is common from mailers).
    private const int PdfWindow = 1024;

    private static readonly SearchValues<byte> NameEnd = SearchValues.Create(" \t\r\n>/"u8);

    /// <summary>Returns "SVG", "PDF", "HEIC" or "AVIF" when the bytes are that format, otherwise null.</summary>
    public static string? Sniff(ReadOnlySpan<byte> data)
    {
        if (data[..Math.Min(data.Length, PdfWindow)].IndexOf("%PDF-"u8) >= 0)
        {
            return "PDF";
        }

        if (IsoBaseMediaBrand(data) is { } brand)
        {
            return brand;
        }

        return IsSvg(data[..Math.Min(data.Length, SvgWindow)]) ? "SVG" : null;
    }

    /// <summary>HEIC/AVIF files start with an ISO-BMFF 'ftyp' box whose major brand names the codec.</summary>
    private static string? IsoBaseMediaBrand(ReadOnlySpan<byte> data)
    {
        if (data.Length < 12 || !data.Slice(4, 4).SequenceEqual("ftyp"u8))
        {
            return null;
        }

        return Encoding.ASCII.GetString(data.Slice(8, 4)) switch
        {
            "heic" or "heix" or "hevc" or "hevx" or "heim" or "heis" or "mif1" or "msf1" => "HEIC",
            "avif" or "avis" => "AVIF",
            _ => null,
        };
    }

    /// <summary>
    /// True when the first element of an XML document is &lt;svg&gt; (optionally namespace-prefixed), after an optional
    /// BOM, whitespace, processing instructions, comments and DOCTYPE. An HTML page with inline SVG is not an SVG file.
    /// </summary>
    private static bool IsSvg(ReadOnlySpan<byte> data)
    {
        if (data.StartsWith("\xEF\xBB\xBF"u8))
        {
            data = data[3..];
        }

        while (true)
        {
            data = data.TrimStart(" \t\r\n"u8);
            if (data.IsEmpty || data[0] != (byte)'<')
            {
                return false;
            }

            if (data.StartsWith("<?"u8) || data.StartsWith("<!--"u8) || data.StartsWith("<!"u8))
            {
                ReadOnlySpan<byte> terminator = data.StartsWith("<?"u8) ? "?>"u8 : data.StartsWith("<!--"u8) ? "-->"u8 : ">"u8;
                int end = data.IndexOf(terminator);
                if (end < 0)
                {
                    return false;
                }

                data = data[(end + terminator.Length)..];
                continue;
            }

            // The root element's name ends at whitespace, '>' or '/'.
            ReadOnlySpan<byte> name = data[1..];
            int stop = name.IndexOfAny(NameEnd);
            name = stop < 0 ? name : name[..stop];
            int colon = name.LastIndexOf((byte)':');
            if (colon >= 0)
            {
                name = name[(colon + 1)..];
            }

            return Ascii.EqualsIgnoreCase(name, "svg"u8);
        }
    }
}

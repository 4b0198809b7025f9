using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using BitMiracle.LibTiff.Classic;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace PaliGemma.Pipeline.Documents;

/// <summary>
/// A TIFF opened page by page. Opening walks the chain of image file directories (two small reads a page, no tag
/// or pixel is decoded), so <see cref="PageCount"/> is cheap and a loop in the chain cannot hang the reader.
/// Each render opens its own LibTiff handle on its own stream at that page's directory, so pages of one file
/// render in parallel and a damaged page fails alone.
/// </summary>
internal sealed class TiffSource : IDisposable
{
    private readonly string _path;
    private readonly long[] _directoryOffsets;
    private readonly DocumentOptions _options;

    static TiffSource()
    {
        // LibTiff.NET reports through one static handler that writes to the console by default; ours keeps the
        // last error of the current thread for the exception message instead (each handle is used by one thread).
        Tiff.SetErrorHandler(new QuietErrorHandler());
    }

    private TiffSource(string path, long[] directoryOffsets, DocumentOptions options)
    {
        _path = path;
        _directoryOffsets = directoryOffsets;
        _options = options;
    }

    public int PageCount => _directoryOffsets.Length;

    public static TiffSource Open(string path, long length, DocumentOptions options)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 4096, FileOptions.RandomAccess);
        return new TiffSource(path, WalkDirectories(stream, length, options.MaxPages), options);
    }

    /// <summary>The offset of every image file directory, from the header's first to the one whose next is 0.</summary>
    internal static long[] WalkDirectories(Stream stream, long length, int maxPages)
    {
        Span<byte> header = stackalloc byte[16];
        if (stream.ReadAtLeast(header, 16, throwOnEndOfStream: false) < 8)
        {
            throw Corrupt("The TIFF is shorter than its header.");
        }

        bool little = header[0] == (byte)'I' && header[1] == (byte)'I';
        if (!little && !(header[0] == (byte)'M' && header[1] == (byte)'M'))
        {
            throw Corrupt("Not a TIFF: the byte-order mark is neither II nor MM.");
        }

        ushort magic = little ? BinaryPrimitives.ReadUInt16LittleEndian(header[2..]) : BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
        bool big = magic == 43;
        if (magic != 42 && !big)
        {
            throw Corrupt($"Not a TIFF: version {magic}.");
        }

        long offset = big ? (long)Read(header[8..], 8, little) : (long)Read(header[4..], 4, little);
        var offsets = new List<long>();
        var seen = new HashSet<long>();
        int countSize = big ? 8 : 2, entrySize = big ? 20 : 12, nextSize = big ? 8 : 4;
        Span<byte> buffer = stackalloc byte[8];
        while (offset != 0)
        {
            if (offset < 8 || offset + countSize > length || !seen.Add(offset))
            {
                throw Corrupt(offset + countSize > length
                    ? $"Directory {offsets.Count + 1} points past the end of the file (offset {offset}): the TIFF is truncated."
                    : $"Directory {offsets.Count + 1} points back into the chain (offset {offset}).");
            }

            if (offsets.Count == maxPages)
            {
                throw new DocumentException(DocumentFailureReason.TooManyPages, $"The TIFF has more than Documents:MaxPages ({maxPages}) pages.");
            }

            offsets.Add(offset);
            stream.Seek(offset, SeekOrigin.Begin);
            stream.ReadExactly(buffer[..countSize]);
            ulong entries = Read(buffer, countSize, little);
            long next = offset + countSize + ((long)entries * entrySize);
            if (entries > 100_000 || next + nextSize > length)
            {
                throw Corrupt($"Directory {offsets.Count} runs past the end of the file: the TIFF is truncated.");
            }

            stream.Seek(next, SeekOrigin.Begin);
            stream.ReadExactly(buffer[..nextSize]);
            offset = (long)Read(buffer, nextSize, little);
        }

        if (offsets.Count == 0)
        {
            throw new DocumentException(DocumentFailureReason.NoPages, "The TIFF has no image directory.");
        }

        return [.. offsets];
    }

    private static ulong Read(ReadOnlySpan<byte> b, int size, bool little) => size switch
    {
        2 => little ? BinaryPrimitives.ReadUInt16LittleEndian(b) : BinaryPrimitives.ReadUInt16BigEndian(b),
        4 => little ? BinaryPrimitives.ReadUInt32LittleEndian(b) : BinaryPrimitives.ReadUInt32BigEndian(b),
        _ => little ? BinaryPrimitives.ReadUInt64LittleEndian(b) : BinaryPrimitives.ReadUInt64BigEndian(b),
    };

    private static DocumentException Corrupt(string message) => new(DocumentFailureReason.Corrupt, message);

    public RenderedPage Render(int page, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 64 * 1024, FileOptions.RandomAccess);
        QuietErrorHandler.LastError = null;
        using Tiff? tiff = Tiff.ClientOpen(_path, "r", stream, new TiffStream());
        if (tiff is null || !tiff.SetSubDirectory(_directoryOffsets[page - 1]))
        {
            throw PageCorrupt(page, "its directory cannot be read");
        }

        int width = tiff.GetField(TiffTag.IMAGEWIDTH)?[0].ToInt() ?? 0;
        int height = tiff.GetField(TiffTag.IMAGELENGTH)?[0].ToInt() ?? 0;
        if (width <= 0 || height <= 0)
        {
            throw PageCorrupt(page, $"it declares {width}x{height} pixels");
        }

        if ((long)width * height > _options.MaxPagePixels)
        {
            throw new DocumentPageException(page, DocumentPageException.TooLarge,
                $"Page {page} is {width}x{height} pixels, more than Documents:MaxPagePixels ({_options.MaxPagePixels}).");
        }

        int orientation = tiff.GetField(TiffTag.ORIENTATION)?[0].ToInt() ?? 1;
        double dpi = Resolution(tiff, orientation is >= 5 and <= 8 ? TiffTag.YRESOLUTION : TiffTag.XRESOLUTION);

        // Read the raster in stored order (first stored row on top) and orient it here: LibTiff's RGBA reader only
        // flips, and would leave the transposed orientations 5-8 unrotated.
        tiff.SetField(TiffTag.ORIENTATION, BitMiracle.LibTiff.Classic.Orientation.TOPLEFT);
        int[] raster = ArrayPool<int>.Shared.Rent(width * height);
        try
        {
            bool ok;
            try
            {
                ok = tiff.ReadRGBAImageOriented(width, height, raster, BitMiracle.LibTiff.Classic.Orientation.TOPLEFT, stopOnError: true);
            }
#pragma warning disable CA1031 // LibTiff.NET's codecs throw assorted exception types on damaged data; each means this page is corrupt.
            catch (Exception ex) when (ex is not OutOfMemoryException)
#pragma warning restore CA1031
            {
                throw PageCorrupt(page, ex.Message, ex);
            }

            if (!ok)
            {
                throw PageCorrupt(page, QuietErrorHandler.LastError ?? "its pixels cannot be decoded");
            }

            ct.ThrowIfCancellationRequested();

            // LibTiff packs a pixel as A<<24 | B<<16 | G<<8 | R: in little-endian memory that is R, G, B, A, which is Rgba32.
            var image = Image.LoadPixelData<Rgba32>(MemoryMarshal.Cast<int, Rgba32>(raster.AsSpan(0, width * height)), width, height);
            Orient(image, orientation);
            return new RenderedPage(image, dpi);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(raster);
        }
    }

    /// <summary>Applies the TIFF/EXIF orientation (1-8) so the image is as a viewer shows it.</summary>
    private static void Orient(Image<Rgba32> image, int orientation)
    {
        switch (orientation)
        {
            case 2: image.Mutate(x => x.Flip(FlipMode.Horizontal)); break;
            case 3: image.Mutate(x => x.Rotate(RotateMode.Rotate180)); break;
            case 4: image.Mutate(x => x.Flip(FlipMode.Vertical)); break;
            case 5: image.Mutate(x => x.Rotate(RotateMode.Rotate90).Flip(FlipMode.Horizontal)); break;
            case 6: image.Mutate(x => x.Rotate(RotateMode.Rotate90)); break;
            case 7: image.Mutate(x => x.Rotate(RotateMode.Rotate90).Flip(FlipMode.Vertical)); break;
            case 8: image.Mutate(x => x.Rotate(RotateMode.Rotate270)); break;
            default: break;
        }
    }

    private static double Resolution(Tiff tiff, TiffTag tag)
    {
        var value = tiff.GetField(tag);
        if (value is null)
        {
            return 0;
        }

        double r = value[0].ToDouble();
        int unit = tiff.GetField(TiffTag.RESOLUTIONUNIT)?[0].ToInt() ?? 2;
        return unit switch
        {
            2 => r,
            3 => r * 2.54,
            _ => 0,
        };
    }

    private static DocumentPageException PageCorrupt(int page, string why, Exception? inner = null) =>
        new(page, DocumentPageException.Corrupt, $"Page {page} of the TIFF is damaged: {why}.", inner);

    public void Dispose()
    {
        // Nothing is held between calls: each render opens and closes its own handle.
    }

    private sealed class QuietErrorHandler : TiffErrorHandler
    {
        [ThreadStatic]
        private static string? _lastError;

        public static string? LastError
        {
            get => _lastError;
            set => _lastError = value;
        }

        public override void ErrorHandler(Tiff tif, string method, string format, params object[] args) =>
            _lastError = $"{method}: {string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args)}";

        public override void ErrorHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args)
        {
        }

        public override void WarningHandler(Tiff tif, string method, string format, params object[] args)
        {
        }

        public override void WarningHandlerExt(Tiff tif, object clientData, string method, string format, params object[] args)
        {
        }
    }
}

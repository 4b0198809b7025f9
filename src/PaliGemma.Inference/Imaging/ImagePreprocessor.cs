using System.Globalization;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Gif;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Formats.Tiff;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.PixelFormats;
using SixLabors.ImageSharp.Processing;

namespace PaliGemma.Inference.Imaging;

/// <summary>
/// Turns encoded image bytes into PaliGemma's <c>pixel_values</c>: decode, EXIF-orient, convert to RGB, resize to
/// H x W with bicubic, rescale, normalize, CHW float. Thread-safe: one instance serves all cores.
/// </summary>
/// <remarks>
/// <para>
/// Alpha: transparent pixels are composited onto WHITE. That is what Hugging Face's <c>convert_to_rgb</c> does
/// (<c>Image.alpha_composite</c> over an opaque white canvas, then <c>convert("RGB")</c>), which the Python
/// processors call when RGB conversion is on. Plain PIL <c>convert("RGB")</c> would instead drop alpha and expose
/// whatever colour sits under transparent pixels (often black or garbage), which depends on the encoder rather than on
/// what a viewer shows. White also matches how transparent product shots and logos are displayed.
/// </para>
/// <para>
/// Orientation: the EXIF orientation tag is applied (like transformers' <c>load_image</c>, which calls
/// <c>ImageOps.exif_transpose</c>), and the reported original size is the size AFTER orientation, because detection
/// boxes must be in the image as the user sees it.
/// </para>
/// <para>
/// 16-bit channels are reduced to 8 bits by rounding v/257 (the full range maps onto 0..255). PIL's own
/// <c>convert("RGB")</c> of a 16-bit grey PNG clips at 255 instead, which turns most of the image white; we do not copy that.
/// CMYK and YCCK JPEGs use the naive (255-C)(255-K)/255 conversion, as PIL does; embedded ICC profiles are ignored.
/// Only the first frame of animated or multi-page images is decoded. PNG and JPEG files cut off before their end marker
/// are refused as <see cref="ImageFailureReason.Corrupt"/> (ImageSharp alone would fill the missing rows); for other
/// formats truncation detection is whatever the decoder does. SVG, PDF and HEIC/AVIF are recognised by sniffing and
/// refused as <see cref="ImageFailureReason.UnsupportedFormat"/> naming the format (no renderer or decoder is shipped).
/// </para>
/// <para>
/// Resizing is ImageSharp's <see cref="KnownResamplers.Bicubic"/> on 8-bit pixels, as PIL resizes uint8 images; it
/// stays within a fraction of a level of PIL's BICUBIC (see tests). Images already H x W are not resampled.
/// </para>
/// </remarks>
public sealed class ImagePreprocessor
{
    private readonly ImageProcessorConfig _config;
    private readonly ImageDecodeLimits _limits;
    private readonly Configuration _imageSharp;
    private readonly float[] _scale = new float[3];
    private readonly float[] _offset = new float[3];

    /// <summary>Creates a preprocessor for one model's configuration.</summary>
    /// <param name="config">The model's preprocessor configuration.</param>
    /// <param name="limits">Decode limits; <see cref="ImageDecodeLimits.Default"/> when null.</param>
    public ImagePreprocessor(ImageProcessorConfig config, ImageDecodeLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (config.Height <= 0 || config.Width <= 0)
        {
            throw new ArgumentException($"ImageProcessorConfig size must be positive, got {config.Width}x{config.Height}.", nameof(config));
        }

        if (config.Mean is not { Length: 3 } || config.Std is not { Length: 3 })
        {
            throw new ArgumentException("ImageProcessorConfig Mean and Std must each hold three values (R, G, B).", nameof(config));
        }

        _config = config;
        _limits = limits ?? ImageDecodeLimits.Default;
        if (_limits.MaxPixels <= 0 || _limits.MaxBytes <= 0 || _limits.MaxDimension <= 0)
        {
            throw new ArgumentException("ImageDecodeLimits values must be positive.", nameof(limits));
        }

        Height = config.Height;
        Width = config.Width;
        PixelValueCount = checked(3 * Height * Width);

        // Fold rescale and normalize into one multiply-add per value: ((v * r) - mean) / std = v * (r / std) - mean / std.
        for (int c = 0; c < 3; c++)
        {
            float r = config.DoRescale ? config.RescaleFactor : 1f;
            float mean = config.DoNormalize ? config.Mean[c] : 0f;
            float std = config.DoNormalize ? config.Std[c] : 1f;
            _scale[c] = r / std;
            _offset[c] = -mean / std;
        }

        _imageSharp = CreateConfiguration(_limits);
    }

    /// <summary>Target height in pixels.</summary>
    public int Height { get; }

    /// <summary>The preprocessor configuration this instance applies.</summary>
    public ImageProcessorConfig Config => _config;

    /// <summary>Target width in pixels.</summary>
    public int Width { get; }

    /// <summary>Number of floats one image occupies: 3 x <see cref="Height"/> x <see cref="Width"/>.</summary>
    public int PixelValueCount { get; }

    /// <summary>
    /// Decodes and preprocesses one image into <paramref name="destinationChw"/> (one image's slice of an NCHW batch).
    /// </summary>
    /// <param name="encoded">The encoded file (JPEG, PNG, GIF, BMP, TIFF, WebP, TGA, PBM).</param>
    /// <param name="destinationChw">At least <see cref="PixelValueCount"/> floats; R plane, then G, then B.</param>
    /// <param name="ct">Checked between decode stages.</param>
    /// <returns>The source size after EXIF orientation.</returns>
    /// <exception cref="ImageDecodeException">The input is empty, not an image, corrupt, over the limits, or unsupported.</exception>
    public ImageInfo Preprocess(ReadOnlySpan<byte> encoded, Span<float> destinationChw, CancellationToken ct = default)
    {
        if (destinationChw.Length < PixelValueCount)
        {
            throw new ArgumentException($"Destination holds {destinationChw.Length} floats; one {Width}x{Height} image needs {PixelValueCount}.", nameof(destinationChw));
        }

        using Image<Rgba32> image = DecodeToModelSize(encoded, ct, out ImageInfo info);
        ct.ThrowIfCancellationRequested();
        WriteChw(image, destinationChw[..PixelValueCount]);
        return info;
    }

    /// <summary>Decodes and preprocesses one image into a new array.</summary>
    /// <param name="encoded">The encoded file.</param>
    /// <param name="ct">Checked between decode stages.</param>
    /// <returns>The CHW pixels and the source size after EXIF orientation.</returns>
    /// <exception cref="ImageDecodeException">The input is empty, not an image, corrupt, over the limits, or unsupported.</exception>
    public PreprocessedImage Preprocess(ReadOnlySpan<byte> encoded, CancellationToken ct = default)
    {
        var pixels = new float[PixelValueCount];
        ImageInfo info = Preprocess(encoded, pixels, ct);
        return new PreprocessedImage(pixels, info.OriginalWidth, info.OriginalHeight);
    }

    /// <summary>
    /// The resized 8-bit RGB pixels (H x W x 3, row-major, interleaved) before rescale/normalize; for conformance tests
    /// against PIL.
    /// </summary>
    internal byte[] DecodeResizeRgb24(ReadOnlySpan<byte> encoded, out ImageInfo info, CancellationToken ct = default)
    {
        using Image<Rgba32> image = DecodeToModelSize(encoded, ct, out info);
        var result = new byte[Width * Height * 3];
        image.ProcessPixelRows(accessor =>
        {
            for (int y = 0; y < accessor.Height; y++)
            {
                Span<Rgba32> row = accessor.GetRowSpan(y);
                Span<byte> dst = result.AsSpan(y * Width * 3, Width * 3);
                for (int x = 0; x < row.Length; x++)
                {
                    dst[3 * x] = row[x].R;
                    dst[(3 * x) + 1] = row[x].G;
                    dst[(3 * x) + 2] = row[x].B;
                }
            }
        });
        return result;
    }

    /// <summary>Decodes, orients, flattens alpha and resizes; the result is exactly Width x Height and opaque.</summary>
    private Image<Rgba32> DecodeToModelSize(ReadOnlySpan<byte> encoded, CancellationToken ct, out ImageInfo info)
    {
        ct.ThrowIfCancellationRequested();
        if (encoded.IsEmpty)
        {
            throw new ImageDecodeException(ImageFailureReason.Empty, "The image input is empty (0 bytes).");
        }

        if (encoded.Length > _limits.MaxBytes)
        {
            throw new ImageDecodeException(
                ImageFailureReason.TooLarge,
                string.Create(CultureInfo.InvariantCulture, $"The encoded image is {encoded.Length} bytes; the limit (ImageDecodeLimits.MaxBytes) is {_limits.MaxBytes}."));
        }

        Image<Rgba32> image;
        IImageFormat format;
        unsafe
        {
            fixed (byte* p = encoded)
            {
                // UnmanagedMemoryStream reads the caller's span in place: no copy of the encoded file.
                using var stream = new UnmanagedMemoryStream(p, encoded.Length);
                format = Identify(stream, encoded, out IImageInfo header);
                CheckLimits(header, format);
                if (EncodedImageStructure.FindTruncation(encoded) is { } truncation)
                {
                    throw new ImageDecodeException(ImageFailureReason.Corrupt, $"The {format.Name} image is truncated or damaged: {truncation}.");
                }

                ct.ThrowIfCancellationRequested();
                stream.Position = 0;
                image = Decode(stream, format);
            }
        }

        try
        {
            ct.ThrowIfCancellationRequested();
            image.Mutate(x => x.AutoOrient());
            info = new ImageInfo(image.Width, image.Height);
            // JPEG has no alpha channel (the decoder writes A = 255 everywhere), so compositing would only re-read
            // the whole full-size frame (8% of the pipeline's CPU in a profile; ~0.2 ms per 1 MP image saved).
            ToModelSize(image, flatten: format != JpegFormat.Instance, ct);
            return image;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Preprocesses an image that is already decoded and oriented (a rendered document page): alpha flattened onto
    /// white, resized to H x W, rescaled and normalised into a new CHW array. The image is resized in place.
    /// </summary>
    /// <param name="image">The decoded image; its size before resizing is what the result reports.</param>
    /// <param name="ct">Checked between stages.</param>
    /// <returns>The CHW pixels and the image's size before resizing.</returns>
    public PreprocessedImage PreprocessDecoded(Image<Rgba32> image, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var pixels = new float[PixelValueCount];
        var (width, height) = (image.Width, image.Height);
        ToModelSize(image, flatten: true, ct);
        ct.ThrowIfCancellationRequested();
        WriteChw(image, pixels);
        return new PreprocessedImage(pixels, width, height);
    }

    private void ToModelSize(Image<Rgba32> image, bool flatten, CancellationToken ct)
    {
        if (flatten)
        {
            FlattenOntoWhite(image);
        }

        ct.ThrowIfCancellationRequested();
        if (image.Width != Width || image.Height != Height)
        {
            if (!_config.DoResize)
            {
                throw new ImageDecodeException(
                    ImageFailureReason.Unsupported,
                    string.Create(CultureInfo.InvariantCulture, $"The image is {image.Width}x{image.Height} but the preprocessor config has do_resize=false and expects {Width}x{Height}."));
            }

            image.Mutate(x => x.Resize(new ResizeOptions
            {
                Size = new Size(Width, Height),
                Mode = ResizeMode.Stretch,
                Sampler = KnownResamplers.Bicubic,
                Compand = false,
                PremultiplyAlpha = false,
            }));
        }
    }

    private IImageFormat Identify(Stream stream, ReadOnlySpan<byte> encoded, out IImageInfo header)
    {
        IImageInfo? result;
        IImageFormat? format;
        try
        {
            result = Image.Identify(_imageSharp, stream, out format);
        }
        catch (UnknownImageFormatException ex)
        {
            throw NotAnImage(encoded, ex);
        }
        catch (NotSupportedException ex)
        {
            throw new ImageDecodeException(ImageFailureReason.Unsupported, $"The image uses an unsupported feature: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is ImageFormatException or InvalidImageContentException or InvalidDataException or EndOfStreamException or IndexOutOfRangeException or ArgumentException)
        {
            throw new ImageDecodeException(ImageFailureReason.Corrupt, $"The image header is corrupt or truncated: {ex.Message}", ex);
        }

        if (result is null || format is null)
        {
            throw NotAnImage(encoded, null);
        }

        header = result;
        return format;
    }

    /// <summary>Refuses bytes no decoder recognised, naming the format when it is a known non-raster one (SVG, PDF, ...).</summary>
    private static ImageDecodeException NotAnImage(ReadOnlySpan<byte> encoded, Exception? inner) => UnsupportedFormatSniffer.Sniff(encoded) is { } name
        ? new ImageDecodeException(ImageFailureReason.UnsupportedFormat,
            $"The input is {name}, which is not supported; convert it to JPEG, PNG, GIF, BMP, TIFF or WebP first.", inner)
        : new ImageDecodeException(ImageFailureReason.NotAnImage, "The input is not in a recognised image format (JPEG, PNG, GIF, BMP, TIFF, WebP, TGA, PBM).", inner);

    private void CheckLimits(IImageInfo header, IImageFormat format)
    {
        long pixels = (long)header.Width * header.Height;
        if (header.Width <= 0 || header.Height <= 0)
        {
            throw new ImageDecodeException(
                ImageFailureReason.Corrupt,
                string.Create(CultureInfo.InvariantCulture, $"The {format.Name} header declares an empty canvas ({header.Width}x{header.Height})."));
        }

        if (header.Width > _limits.MaxDimension || header.Height > _limits.MaxDimension || pixels > _limits.MaxPixels)
        {
            throw new ImageDecodeException(
                ImageFailureReason.TooLarge,
                string.Create(
                    CultureInfo.InvariantCulture,
                    $"The {format.Name} header declares {header.Width}x{header.Height} ({pixels} pixels); the limits are {_limits.MaxDimension} pixels per side and {_limits.MaxPixels} pixels (ImageDecodeLimits). Refused before decoding."));
        }
    }

    private Image<Rgba32> Decode(Stream stream, IImageFormat format)
    {
        try
        {
            return Image.Load<Rgba32>(_imageSharp, stream);
        }
        catch (InvalidMemoryOperationException ex)
        {
            throw new ImageDecodeException(ImageFailureReason.TooLarge, $"Decoding the {format.Name} image needs more memory than the allocation limit: {ex.Message}", ex);
        }
        catch (NotSupportedException ex)
        {
            throw new ImageDecodeException(ImageFailureReason.Unsupported, $"The {format.Name} image uses an unsupported feature: {ex.Message}", ex);
        }
        catch (UnknownImageFormatException ex)
        {
            throw new ImageDecodeException(ImageFailureReason.NotAnImage, "The input is not in a recognised image format.", ex);
        }
        catch (Exception ex) when (ex is ImageFormatException or InvalidImageContentException or InvalidDataException or EndOfStreamException or IndexOutOfRangeException or ArgumentException)
        {
            throw new ImageDecodeException(ImageFailureReason.Corrupt, $"The {format.Name} image data is corrupt or truncated: {ex.Message}", ex);
        }
    }

    /// <summary>Composites every pixel over opaque white, in place (see the class remarks for why white).</summary>
    private static void FlattenOntoWhite(Image<Rgba32> image)
    {
        image.ProcessPixelRows(accessor =>
        {
            for (int y = 0; y < accessor.Height; y++)
            {
                Span<Rgba32> row = accessor.GetRowSpan(y);
                for (int x = 0; x < row.Length; x++)
                {
                    ref Rgba32 p = ref row[x];
                    int a = p.A;
                    if (a == 255)
                    {
                        continue;
                    }

                    // c*a/255 + 255*(255-a)/255, rounded: the integer form of "over white".
                    int white = 255 * (255 - a);
                    p.R = (byte)(((p.R * a) + white + 127) / 255);
                    p.G = (byte)(((p.G * a) + white + 127) / 255);
                    p.B = (byte)(((p.B * a) + white + 127) / 255);
                    p.A = 255;
                }
            }
        });
    }

    private void WriteChw(Image<Rgba32> image, Span<float> destination)
    {
        int plane = Width * Height;
        float s0 = _scale[0], s1 = _scale[1], s2 = _scale[2];
        float o0 = _offset[0], o1 = _offset[1], o2 = _offset[2];
        int width = Width;

        // ProcessPixelRows takes a delegate, which cannot capture a Span; go through an unsafe pointer of the pinned destination.
        unsafe
        {
            fixed (float* dst = destination)
            {
                float* r = dst;
                float* g = dst + plane;
                float* b = dst + (2 * plane);
                image.ProcessPixelRows(accessor =>
                {
                    for (int y = 0; y < accessor.Height; y++)
                    {
                        Span<Rgba32> row = accessor.GetRowSpan(y);
                        int offset = y * width;
                        for (int x = 0; x < row.Length; x++)
                        {
                            Rgba32 p = row[x];
                            r[offset + x] = (p.R * s0) + o0;
                            g[offset + x] = (p.G * s1) + o1;
                            b[offset + x] = (p.B * s2) + o2;
                        }
                    }
                });
            }
        }
    }

    private static Configuration CreateConfiguration(ImageDecodeLimits limits)
    {
        Configuration configuration = Configuration.Default.Clone();

        // The caller runs one image per core; ImageSharp's own parallel loops would oversubscribe the CPU.
        configuration.MaxDegreeOfParallelism = 1;

        // Backstop behind the header check: no single buffer may exceed what MaxPixels RGBA pixels need (+ slack for
        // decoder working buffers such as 16-bit rows).
        long maxBytes = limits.MaxPixels * 8;
        int maxMegabytes = (int)Math.Clamp((maxBytes / (1024 * 1024)) + 16, 16, int.MaxValue);
        configuration.MemoryAllocator = MemoryAllocator.Create(new MemoryAllocatorOptions { AllocationLimitMegabytes = maxMegabytes });

        // Animated / multi-page images: the first frame only, as PIL's Image.open + convert sees them.
        configuration.ImageFormatsManager.SetDecoder(GifFormat.Instance, new GifDecoder { DecodingMode = SixLabors.ImageSharp.Metadata.FrameDecodingMode.First });
        configuration.ImageFormatsManager.SetDecoder(TiffFormat.Instance, new TiffDecoder { DecodingMode = SixLabors.ImageSharp.Metadata.FrameDecodingMode.First });
        return configuration;
    }
}

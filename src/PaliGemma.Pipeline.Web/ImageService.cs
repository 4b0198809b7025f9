using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Data;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.Memory;
using SixLabors.ImageSharp.Processing;

namespace PaliGemma.Pipeline.Web;

/// <summary>An encoded image and its MIME type.</summary>
internal sealed record ImagePayload(byte[] Bytes, string ContentType);

/// <summary>Why an object's image could not be served; the status code the API answers with.</summary>
internal sealed class ImageUnavailableException(int statusCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int StatusCode { get; } = statusCode;
}

/// <summary>
/// Reads a result's object from the source of the run that wrote it (S3 or a local folder, through
/// <see cref="CatalogSourceFactory"/>, so a local read stays inside that run's folder and the ETag must still match),
/// within <see cref="ResultsBrowserOptions.MaxImageBytes"/>, and makes thumbnails kept only in a bounded memory cache.
/// </summary>
internal sealed partial class ImageService : IDisposable
{
    private readonly CatalogSourceFactory _sources;
    private readonly ResultsBrowserOptions _options;
    private readonly ILogger<ImageService> _logger;
    private readonly MemoryCache _thumbnails;
    private readonly Configuration _imageSharp;
    // Thumbnails decode whole images: at most one per core at a time, so a grid of 50 cannot exhaust memory or CPU.
    private readonly SemaphoreSlim _decodeSlots = new(Math.Max(1, Environment.ProcessorCount));

    public ImageService(CatalogSourceFactory sources, IOptions<ResultsBrowserOptions> options, ILogger<ImageService> logger)
    {
        _sources = sources;
        _options = options.Value;
        _logger = logger;
        _thumbnails = new MemoryCache(new MemoryCacheOptions { SizeLimit = _options.ThumbnailCacheMegabytes * 1024L * 1024L });
        _imageSharp = Configuration.Default.Clone();
        // Backstop behind the header check: no buffer beyond what MaxImagePixels RGBA pixels need, plus decoder slack.
        var megabytes = (int)Math.Clamp((_options.MaxImagePixels * 8 / (1024 * 1024)) + 16, 16, int.MaxValue);
        _imageSharp.MemoryAllocator = MemoryAllocator.Create(new MemoryAllocatorOptions { AllocationLimitMegabytes = megabytes });
        _imageSharp.MaxDegreeOfParallelism = 1;
    }

    /// <summary>The object's bytes as stored, with the MIME type of the recognised image format.</summary>
    public async Task<ImagePayload> GetImageAsync(ResultDetail result, CancellationToken ct)
    {
        var bytes = await ReadAsync(result, ct).ConfigureAwait(false);
        IImageFormat? format;
        try
        {
            format = Image.DetectFormat(_imageSharp, bytes);
        }
        catch (Exception ex) when (ex is InvalidImageContentException or NotSupportedException)
        {
            format = null;
        }

        // Never serve bytes as an image type the decoder does not recognise (an SVG or HTML file could carry script).
        return format is null
            ? throw new ImageUnavailableException(415, "The object is not in a recognised raster image format.")
            : new ImagePayload(bytes, format.DefaultMimeType);
    }

    /// <summary>A JPEG no larger than <see cref="ResultsBrowserOptions.ThumbnailSize"/> on its longest side, EXIF-oriented.</summary>
    public async Task<ImagePayload> GetThumbnailAsync(ResultDetail result, CancellationToken ct)
    {
        var key = (result.Uri, result.ETag, _options.ThumbnailSize);
        if (_thumbnails.TryGetValue(key, out byte[]? cached) && cached is not null)
        {
            return new ImagePayload(cached, "image/jpeg");
        }

        var bytes = await ReadAsync(result, ct).ConfigureAwait(false);
        await _decodeSlots.WaitAsync(ct).ConfigureAwait(false);
        byte[] thumbnail;
        try
        {
            thumbnail = MakeThumbnail(bytes, ct);
        }
        finally
        {
            _decodeSlots.Release();
        }

        _thumbnails.Set(key, thumbnail, new MemoryCacheEntryOptions { Size = thumbnail.Length, SlidingExpiration = TimeSpan.FromHours(1) });
        return new ImagePayload(thumbnail, "image/jpeg");
    }

    public void Dispose()
    {
        _thumbnails.Dispose();
        _decodeSlots.Dispose();
    }

    private byte[] MakeThumbnail(byte[] bytes, CancellationToken ct)
    {
        try
        {
            using var header = new MemoryStream(bytes, writable: false);
            var info = Image.Identify(_imageSharp, header)
                ?? throw new ImageUnavailableException(415, "The object is not in a recognised raster image format.");
            if ((long)info.Width * info.Height > _options.MaxImagePixels)
            {
                throw new ImageUnavailableException(413,
                    $"The image is {info.Width}x{info.Height}; thumbnails are made for at most {_options.MaxImagePixels} pixels ({ResultsBrowserOptions.SectionName}:MaxImagePixels).");
            }

            ct.ThrowIfCancellationRequested();
            using var image = Image.Load(_imageSharp, bytes);
            var side = _options.ThumbnailSize;
            image.Mutate(x => x
                .AutoOrient()
                .Resize(new ResizeOptions { Size = new Size(side, side), Mode = ResizeMode.Max, Sampler = KnownResamplers.Bicubic })
                // JPEG has no alpha: flatten transparent pixels on white, as the model's preprocessing does.
                .BackgroundColor(Color.White));
            using var output = new MemoryStream();
            image.Save(output, new JpegEncoder { Quality = 82 });
            return output.ToArray();
        }
        catch (Exception ex) when (ex is UnknownImageFormatException or InvalidImageContentException or NotSupportedException or InvalidMemoryOperationException)
        {
            throw new ImageUnavailableException(415, $"The image cannot be decoded for a thumbnail: {ex.Message}", ex);
        }
    }

    private async Task<byte[]> ReadAsync(ResultDetail result, CancellationToken ct)
    {
        if (result.RunSource is null)
        {
            throw new ImageUnavailableException(404, "The result was not written by a run, so there is no source to read its object from.");
        }

        try
        {
            var source = _sources.Create(result.RunSource);
            return await source.ReadAsync(result.Uri, result.ETag, ct).ConfigureAwait(false);
        }
        catch (CatalogObjectMissingException ex)
        {
            throw new ImageUnavailableException(404, "The object is no longer in its source.", ex);
        }
        catch (CatalogObjectChangedException ex)
        {
            throw new ImageUnavailableException(409, "The object changed since this result was made (its ETag differs).", ex);
        }
        catch (CatalogObjectTooLargeException ex)
        {
            throw new ImageUnavailableException(413,
                $"The object is {ex.Size} bytes; the limit ({ResultsBrowserOptions.SectionName}:MaxImageBytes) is {ex.Limit}.", ex);
        }
        catch (Exception ex) when (ex is ArgumentException or DirectoryNotFoundException or Amazon.S3.AmazonS3Exception)
        {
            ReadFailed(_logger, result.Id, ex.Message);
            throw new ImageUnavailableException(404, "The object's source cannot be read from this server.", ex);
        }
    }

    [LoggerMessage(EventId = 8002, EventName = "ImageReadFailed", Level = LogLevel.Warning, Message = "Reading the object of result {ResultId} failed: {Message}")]
    private static partial void ReadFailed(ILogger logger, long resultId, string message);
}

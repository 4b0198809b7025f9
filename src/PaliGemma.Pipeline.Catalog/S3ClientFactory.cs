using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>Builds <see cref="AmazonS3Client"/> instances that work against both AWS and S3-compatible servers.</summary>
public static class S3ClientFactory
{
    /// <summary>
    /// Creates a client from validated <paramref name="options"/>. The caller owns (and disposes) the client.
    /// </summary>
    /// <exception cref="OptionsValidationException">The options are inconsistent; the message names the setting.</exception>
    public static AmazonS3Client Create(S3Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var result = new S3OptionsValidator().Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(S3Options), result.Failures);
        }

        var config = new AmazonS3Config
        {
            ForcePathStyle = options.UsePathStyle,
            // SDK v4 adds CRC checksums to every request and validates them on responses by default;
            // S3-compatible servers (s3rver, older MinIO) either reject the trailers or store them inside the
            // object. WHEN_REQUIRED keeps checksums only where the S3 API itself demands them.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };

        if (!string.IsNullOrWhiteSpace(options.ServiceUrl))
        {
            config.ServiceURL = options.ServiceUrl;
            // With an explicit endpoint the SDK cannot infer the signing region from the host name.
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        if (!string.IsNullOrWhiteSpace(options.ProfileName))
        {
            config.Profile = new Profile(options.ProfileName);
        }

        if (!string.IsNullOrWhiteSpace(options.CaBundlePath))
        {
            config.HttpClientFactory = new CustomCaHttpClientFactory(options.CaBundlePath);
        }

        return !string.IsNullOrEmpty(options.AccessKey)
            ? new AmazonS3Client(new BasicAWSCredentials(options.AccessKey, options.ResolveSecretKey()), config)
            : new AmazonS3Client(config);
    }
}

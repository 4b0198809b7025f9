using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace PaliGemma.Pipeline.Catalog;

/// <summary>
/// How to reach S3 or an S3-compatible server (MinIO, s3rver), bound from the "S3" configuration section.
/// Credentials are optional: without <see cref="AccessKey"/>/<see cref="SecretKey"/> or <see cref="ProfileName"/>
/// the AWS SDK's standard credential chain (environment, profile, IRSA, instance metadata) is used.
/// </summary>
public sealed class S3Options
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "S3";

    /// <summary>
    /// Endpoint of an S3-compatible server, e.g. <c>http://minio:9000</c>. Absent means AWS S3 in <see cref="Region"/>.
    /// </summary>
    public string? ServiceUrl { get; set; }

    /// <summary>Region used to pick the AWS endpoint, or to sign requests for an S3-compatible server.</summary>
    [Required(AllowEmptyStrings = false)]
    public string Region { get; set; } = "us-east-1";

    /// <summary>
    /// Address buckets as <c>host/bucket/key</c> rather than <c>bucket.host/key</c>. Unset means "true when
    /// <see cref="ServiceUrl"/> is set": S3-compatible servers rarely have wildcard DNS for bucket subdomains.
    /// </summary>
    public bool? ForcePathStyle { get; set; }

    /// <summary>Static access key id; set together with <see cref="SecretKey"/> or not at all.</summary>
    public string? AccessKey { get; set; }

    /// <summary>Static secret key; never logged (see <see cref="ToString"/>).</summary>
    public string? SecretKey { get; set; }

    /// <summary>A named profile from the shared AWS credentials/config files; excludes static keys.</summary>
    public string? ProfileName { get; set; }

    /// <summary>The effective path-style choice after applying the default described on <see cref="ForcePathStyle"/>.</summary>
    public bool UsePathStyle => ForcePathStyle ?? !string.IsNullOrWhiteSpace(ServiceUrl);

    /// <summary>Describes the options with credentials redacted, so the object is safe to log.</summary>
    public override string ToString() =>
        $"S3Options {{ ServiceUrl = {ServiceUrl ?? "(AWS)"}, Region = {Region}, PathStyle = {UsePathStyle}, " +
        $"AccessKey = {Redact(AccessKey)}, SecretKey = {Redact(SecretKey)}, ProfileName = {ProfileName ?? "(none)"} }}";

    private static string Redact(string? secret) => string.IsNullOrEmpty(secret) ? "(not set)" : "(set, redacted)";
}

/// <summary>Cross-field rules for <see cref="S3Options"/> that data annotations cannot express.</summary>
public sealed class S3OptionsValidator : IValidateOptions<S3Options>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, S3Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();

        if (string.IsNullOrWhiteSpace(options.Region))
        {
            errors.Add($"{S3Options.SectionName}:Region must name a region (e.g. us-east-1); it is used to sign requests.");
        }

        if (!string.IsNullOrWhiteSpace(options.ServiceUrl)
            && (!Uri.TryCreate(options.ServiceUrl, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)))
        {
            errors.Add($"{S3Options.SectionName}:ServiceUrl must be an absolute http(s) URL such as http://127.0.0.1:9000; got '{options.ServiceUrl}'.");
        }

        var hasAccess = !string.IsNullOrEmpty(options.AccessKey);
        var hasSecret = !string.IsNullOrEmpty(options.SecretKey);
        if (hasAccess != hasSecret)
        {
            errors.Add($"{S3Options.SectionName}:AccessKey and {S3Options.SectionName}:SecretKey must be set together, or both left out to use the AWS credential chain.");
        }

        if (hasAccess && !string.IsNullOrWhiteSpace(options.ProfileName))
        {
            errors.Add($"{S3Options.SectionName}:ProfileName and static keys are alternatives; set one of them.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

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

    /// <summary>Static secret key; never logged (see <see cref="ToString"/>). <see cref="SecretKeyFile"/> is the file-based alternative.</summary>
    public string? SecretKey { get; set; }

    /// <summary>
    /// A file holding the secret key (a Docker or Kubernetes secret mount), read when the client is created; trailing
    /// line breaks are ignored. Set instead of <see cref="SecretKey"/>, together with <see cref="AccessKey"/>.
    /// </summary>
    public string? SecretKeyFile { get; set; }

    /// <summary>
    /// PEM file of the CA(s) that sign an https <see cref="ServiceUrl"/>'s certificate (a private MinIO CA), trusted
    /// instead of the system roots for this client only. Empty means the system trust store.
    /// </summary>
    public string? CaBundlePath { get; set; }

    /// <summary>A named profile from the shared AWS credentials/config files; excludes static keys.</summary>
    public string? ProfileName { get; set; }

    /// <summary>The effective path-style choice after applying the default described on <see cref="ForcePathStyle"/>.</summary>
    public bool UsePathStyle => ForcePathStyle ?? !string.IsNullOrWhiteSpace(ServiceUrl);

    /// <summary>Describes the options with credentials redacted, so the object is safe to log.</summary>
    public override string ToString() =>
        $"S3Options {{ ServiceUrl = {ServiceUrl ?? "(AWS)"}, Region = {Region}, PathStyle = {UsePathStyle}, " +
        $"AccessKey = {Redact(AccessKey)}, SecretKey = {Redact(SecretKey ?? SecretKeyFile)}, ProfileName = {ProfileName ?? "(none)"}, " +
        $"CaBundlePath = {CaBundlePath ?? "(system roots)"} }}";

    /// <summary>
    /// The secret key: <see cref="SecretKey"/>, else the content of <see cref="SecretKeyFile"/>, else null. A method, not
    /// a property, because it reads a file (binders and validators read every property).
    /// </summary>
    /// <exception cref="InvalidOperationException">The file cannot be read; the message names the setting.</exception>
    public string? ResolveSecretKey()
    {
        if (!string.IsNullOrEmpty(SecretKey) || string.IsNullOrWhiteSpace(SecretKeyFile))
        {
            return SecretKey;
        }

        return SecretFile.Read(SecretKeyFile, $"{SectionName}:{nameof(SecretKeyFile)}");
    }

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
        var hasSecretFile = !string.IsNullOrWhiteSpace(options.SecretKeyFile);
        var hasSecret = !string.IsNullOrEmpty(options.SecretKey) || hasSecretFile;
        if (hasAccess != hasSecret)
        {
            errors.Add($"{S3Options.SectionName}:AccessKey and {S3Options.SectionName}:SecretKey (or SecretKeyFile) must be set together, or both left out to use the AWS credential chain.");
        }

        if (!string.IsNullOrEmpty(options.SecretKey) && hasSecretFile)
        {
            errors.Add($"{S3Options.SectionName}:SecretKey and {S3Options.SectionName}:SecretKeyFile are alternatives; set one of them.");
        }

        foreach (var (setting, path) in new[] { ("SecretKeyFile", options.SecretKeyFile), ("CaBundlePath", options.CaBundlePath) })
        {
            if (!string.IsNullOrWhiteSpace(path) && !File.Exists(path))
            {
                errors.Add($"{S3Options.SectionName}:{setting} names '{path}', which does not exist.");
            }
        }

        if (!string.IsNullOrWhiteSpace(options.CaBundlePath) && !string.IsNullOrWhiteSpace(options.ServiceUrl)
            && Uri.TryCreate(options.ServiceUrl, UriKind.Absolute, out var endpoint) && endpoint.Scheme != Uri.UriSchemeHttps)
        {
            errors.Add($"{S3Options.SectionName}:CaBundlePath is set but {S3Options.SectionName}:ServiceUrl '{options.ServiceUrl}' is not https; a CA bundle only matters for TLS.");
        }

        if (hasAccess && !string.IsNullOrWhiteSpace(options.ProfileName))
        {
            errors.Add($"{S3Options.SectionName}:ProfileName and static keys are alternatives; set one of them.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

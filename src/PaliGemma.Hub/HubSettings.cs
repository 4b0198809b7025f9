namespace PaliGemma.Hub;

/// <summary>
/// Where the Hub is and where its cache lives, read from the same environment variables as huggingface_hub so a
/// Python user's cache and ours are one: HF_ENDPOINT, HF_HOME, HF_HUB_CACHE (or the older HUGGINGFACE_HUB_CACHE),
/// HF_TOKEN / HUGGING_FACE_HUB_TOKEN / HF_TOKEN_PATH / $HF_HOME/token, and HF_HUB_OFFLINE.
/// </summary>
public sealed record HubSettings
{
    /// <summary>The public Hub, used when HF_ENDPOINT is unset.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>Base URL of the Hub, without a trailing slash.</summary>
    public required string Endpoint { get; init; }

    /// <summary>The hub cache folder (holds <c>models--org--name</c> folders and <c>.locks</c>).</summary>
    public required string CacheDirectory { get; init; }

    /// <summary>Access token, or null for anonymous access.</summary>
    public string? Token { get; init; }

    /// <summary>Where <see cref="Token"/> came from (an environment variable name or a file path), for error messages.</summary>
    public string? TokenSource { get; init; }

    /// <summary>True when HF_HUB_OFFLINE asks for no network access at all.</summary>
    public bool Offline { get; init; }

    /// <summary>Reads the settings from the process environment.</summary>
    public static HubSettings FromEnvironment() => FromEnvironment(Environment.GetEnvironmentVariable);

    /// <summary>Reads the settings through <paramref name="getEnvironmentVariable"/> (tests pass a dictionary lookup).</summary>
    public static HubSettings FromEnvironment(Func<string, string?> getEnvironmentVariable)
    {
        ArgumentNullException.ThrowIfNull(getEnvironmentVariable);
        string? Get(string name)
        {
            var value = getEnvironmentVariable(name);
            return string.IsNullOrWhiteSpace(value) ? null : value.Trim();
        }

        var hfHome = ExpandHome(Get("HF_HOME") ?? Path.Combine(Get("XDG_CACHE_HOME") ?? Path.Combine(HomeDirectory(), ".cache"), "huggingface"));
        // huggingface_hub: HF_HUB_CACHE wins over the legacy HUGGINGFACE_HUB_CACHE, which wins over $HF_HOME/hub.
        var cache = ExpandHome(Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(hfHome, "hub"));

        string? token = null;
        string? tokenSource = null;
        foreach (var name in new[] { "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN" })
        {
            if (Get(name) is { } value)
            {
                token = value;
                tokenSource = name;
                break;
            }
        }

        if (token is null)
        {
            var tokenPath = ExpandHome(Get("HF_TOKEN_PATH") ?? Path.Combine(hfHome, "token"));
            if (File.Exists(tokenPath))
            {
                var text = File.ReadAllText(tokenPath).Trim();
                if (text.Length > 0)
                {
                    token = text;
                    tokenSource = tokenPath;
                }
            }
        }

        return new HubSettings
        {
            Endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            CacheDirectory = Path.GetFullPath(cache),
            Token = token,
            TokenSource = tokenSource,
            Offline = IsTrue(Get("HF_HUB_OFFLINE")),
        };
    }

    // huggingface_hub's _is_true: "1", "ON", "YES", "TRUE" in any case.
    private static bool IsTrue(string? value) => value is not null && value.ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private static string HomeDirectory() => Environment.GetFolderPath(Environment.SpecialFolder.UserProfile, Environment.SpecialFolderOption.DoNotVerify);

    private static string ExpandHome(string path) =>
        path == "~" ? HomeDirectory()
        : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(HomeDirectory(), path[2..])
        : path;
}

using System.Globalization;

namespace PaliGemma.Hub;

/// <summary>Reading the Hub's answers: headers as sent, ETags, retry waits, pagination links and redirects.</summary>
internal static class HubResponses
{
    // huggingface_hub's _normalize_etag: drop a weak-validator prefix and the quotes.
    internal static string? NormalizeEtag(string? etag)
    {
        if (etag is null)
        {
            return null;
        }

        var trimmed = etag.Trim();
        if (trimmed.StartsWith("W/", StringComparison.Ordinal))
        {
            trimmed = trimmed[2..];
        }

        trimmed = trimmed.Trim('"');
        return trimmed.Length == 0 ? null : trimmed;
    }

    /// <summary>
    /// The wait a 429/503 asks for: Retry-After (seconds or an HTTP date), else the reset of the IETF RateLimit header
    /// the Hub sends (<c>RateLimit: "api";r=0;t=42</c>, t = seconds until the window resets).
    /// </summary>
    internal static TimeSpan? ServerDelay(HttpResponseMessage response)
    {
        if (response.Headers.RetryAfter is { } retryAfter)
        {
            if (retryAfter.Delta is { } delta)
            {
                return delta;
            }

            if (retryAfter.Date is { } date)
            {
                var wait = date - DateTimeOffset.UtcNow;
                return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
            }
        }

        if (RawHeader(response, "RateLimit") is { } rateLimit)
        {
            foreach (var part in rateLimit.Split(';', ',').Select(p => p.Trim()))
            {
                if (part.StartsWith("t=", StringComparison.Ordinal) && int.TryParse(part[2..], NumberStyles.None, CultureInfo.InvariantCulture, out var reset))
                {
                    return TimeSpan.FromSeconds(reset);
                }
            }
        }

        return null;
    }

    internal static string ErrorMessageSuffix(HttpResponseMessage response) =>
        RawHeader(response, "X-Error-Message") is { } message ? $" ({message})" : "";

    internal static Uri? NextLink(HttpResponseMessage response, Uri current)
    {
        if (!response.Headers.NonValidated.TryGetValues("Link", out var values))
        {
            return null;
        }

        foreach (var value in values)
        {
            foreach (var link in value.Split(','))
            {
                var parts = link.Split(';');
                var target = parts[0].Trim();
                if (target.StartsWith('<') && target.EndsWith('>')
                    && parts.Skip(1).Any(p => p.Trim().Replace(" ", "", StringComparison.Ordinal) is "rel=\"next\"" or "rel=next"))
                {
                    return new Uri(current, target[1..^1]);
                }
            }
        }

        return null;
    }

    internal static string? RawHeader(HttpResponseMessage response, string name)
    {
        if (response.Headers.NonValidated.TryGetValues(name, out var values) || response.Content.Headers.NonValidated.TryGetValues(name, out values))
        {
            var first = values.FirstOrDefault();
            return string.IsNullOrEmpty(first) ? null : first;
        }

        return null;
    }

    // urlparse(location).netloc == "": "/x", "x", "../x" are relative; "https://..." and "//host/x" are not.
    // (Never parse with UriKind.RelativeOrAbsolute: on Unix "/x" becomes an absolute file:// URI.)
    internal static bool IsRelative(string location) =>
        !location.StartsWith("//", StringComparison.Ordinal) && !location.Contains("://", StringComparison.Ordinal);

    internal static bool SameAuthority(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    // Signed CDN URLs carry credentials in the query; keep them out of messages and logs.
    internal static string Redact(Uri url) => url.GetLeftPart(UriPartial.Path);
}

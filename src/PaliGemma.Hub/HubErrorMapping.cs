namespace PaliGemma.Hub;

/// <summary>
/// Turns a refused Hub request into the exception that says what to do: gated (accept the licence, set a token),
/// revision or file not found, repo not found or private, access refused, or the bare HTTP status.
/// </summary>
internal static class HubErrorMapping
{
    /// <summary>The exception for an unsuccessful <paramref name="response"/> about <paramref name="repo"/> (and <paramref name="path"/>).</summary>
    internal static HubException FromResponse(HttpResponseMessage response, HubSettings settings, string repo, string revision, string? path)
    {
        var code = HubResponses.RawHeader(response, "X-Error-Code");
        var status = (int)response.StatusCode;
        var page = $"{settings.Endpoint}/{repo}";
        if (code == "GatedRepo")
        {
            var tokenNote = settings.Token is null
                ? " No token was sent: HF_TOKEN, HUGGING_FACE_HUB_TOKEN and the token file ($HF_HOME/token) are all unset."
                : $" The token from {settings.TokenSource} has not been granted access (HTTP {status}): its account must accept the licence, or the request is still pending.";
            return new HubGatedRepoException(
                $"Model repo '{repo}' is gated: accept the licence at {page} while logged in, then set HF_TOKEN to a read token of that account.{tokenNote}");
        }

        if (code == "RevisionNotFound")
        {
            return new HubRevisionNotFoundException($"Revision '{revision}' not found in model repo '{repo}': name a branch, tag or commit hash that exists ({page}/tree/main).");
        }

        if (code == "EntryNotFound" || (status == 404 && code is null && path is not null))
        {
            return new HubEntryNotFoundException($"File '{path}' not found in model repo '{repo}' at revision '{revision}'.")
            {
                Commit = HubResponses.RawHeader(response, "X-Repo-Commit"),
            };
        }

        if (code == "RepoNotFound" || status is 401 or 404)
        {
            var tokenNote = settings.Token is null ? " If it is private, set HF_TOKEN to a token that can read it." : $" If it is private, the token from {settings.TokenSource} cannot read it.";
            return new HubRepoNotFoundException($"Model repo '{repo}' not found at {settings.Endpoint}: check the id (owner/name).{tokenNote}");
        }

        if (status == 403)
        {
            return new HubException($"Access to model repo '{repo}' was refused (HTTP 403){HubResponses.ErrorMessageSuffix(response)}. Check that the token from {settings.TokenSource ?? "HF_TOKEN"} has read access.");
        }

        return new HubException($"Request for '{repo}' at '{revision}'{(path is null ? "" : $" file '{path}'")} failed: HTTP {status} {response.ReasonPhrase}{HubResponses.ErrorMessageSuffix(response)}.");
    }
}

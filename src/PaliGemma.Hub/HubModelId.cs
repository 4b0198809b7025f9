using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace PaliGemma.Hub;

/// <summary>
/// A model repo on the Hub, optionally pinned to a revision: <c>owner/name</c> or <c>owner/name@revision</c>
/// (a branch, tag or commit hash). This is what users type after <c>--model</c> instead of a folder.
/// </summary>
public sealed partial record HubModelId(string Repo, string Revision)
{
    /// <summary>The revision used when none is given.</summary>
    public const string DefaultRevision = "main";

    /// <summary>The cache folder name huggingface_hub uses for a model repo: <c>models--owner--name</c>.</summary>
    public string CacheFolderName => CacheFolderNameOf(Repo);

    /// <summary>The folder name of <paramref name="repo"/> in the cache.</summary>
    public static string CacheFolderNameOf(string repo) => "models--" + repo.Replace("/", "--", StringComparison.Ordinal);

    /// <summary>
    /// Parses <c>owner/name[@revision]</c>. Returns false for anything else (a path with more segments, spaces,
    /// a leading dot or slash), so a mistyped folder is never taken for a repo id.
    /// </summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out HubModelId? id)
    {
        id = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var trimmed = text.Trim();
        var at = trimmed.IndexOf('@', StringComparison.Ordinal);
        var repo = at < 0 ? trimmed : trimmed[..at];
        var revision = at < 0 ? DefaultRevision : trimmed[(at + 1)..];
        if (!RepoPattern().IsMatch(repo) || repo.Contains("--", StringComparison.Ordinal) || repo.Contains("..", StringComparison.Ordinal)
            || revision.Length == 0 || revision.Contains("..", StringComparison.Ordinal) || revision.Any(char.IsWhiteSpace))
        {
            return false;
        }

        id = new HubModelId(repo, revision);
        return true;
    }

    /// <summary>Parses like <see cref="TryParse"/> and throws <see cref="ArgumentException"/> naming the expected form.</summary>
    public static HubModelId Parse(string text) => TryParse(text, out var id)
        ? id
        : throw new ArgumentException($"'{text}' is not a Hugging Face model repo id; expected owner/name or owner/name@revision, e.g. onnx-community/paligemma2-3b-pt-448.", nameof(text));

    /// <summary>True when <paramref name="revision"/> is a full 40-character commit hash.</summary>
    public static bool IsCommitHash(string revision) => CommitPattern().IsMatch(revision);

    /// <inheritdoc />
    public override string ToString() => Revision == DefaultRevision ? Repo : $"{Repo}@{Revision}";

    // The Hub's repo name rules: letters, digits, '-', '_', '.', at most 96 characters per part.
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")]
    private static partial Regex RepoPattern();

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();
}

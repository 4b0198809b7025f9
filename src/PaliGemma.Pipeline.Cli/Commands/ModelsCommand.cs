using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.Logging;
using PaliGemma.Hub;
using PaliGemma.Inference.Model;
using PaliGemma.ModelLayout;
using PaliGemma.Pipeline.Cli.Errors;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>
/// <c>pgpipe models pull|list|verify</c>: model exports from the Hugging Face Hub in the cache huggingface_hub and
/// transformers share (HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN are honoured as there).
/// </summary>
internal static class ModelsCommand
{
    public static Command Create()
    {
        var command = new Command("models", "Pull model exports from the Hugging Face Hub into the shared cache, list and verify them.");
        command.Add(CreatePull());
        command.Add(CreateList());
        command.Add(CreateVerify());
        return command;
    }

    private static Command CreatePull()
    {
        var repo = new Argument<string>("REPO") { Description = "Model repo id, e.g. onnx-community/paligemma2-3b-pt-448 (owner/name, optionally @revision)." };
        var revision = new Option<string?>("--revision") { Description = "Branch, tag or commit (default: main, or the @revision in REPO)." };
        var dtype = new Option<string>("--dtype")
        {
            Description = $"Graph variant to pull: {string.Join(", ", ModelDtypes.Names)} (default: the worker's Inference__Dtype when set, else fp32).",
            // The chart's init container pulls with the worker's ConfigMaps as environment, so it pulls the dtype the
            // worker will load without repeating it.
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("Inference__Dtype") is { Length: > 0 } configured ? configured : "fp32",
        };
        var include = new Option<string[]>("--include") { Description = "Also pull files matching this glob (repeatable; * matches across folders)." };
        var all = new Option<bool>("--all") { Description = "Pull every file of the repo." };
        var command = new Command("pull", "Download what a dtype needs (configs, tokenizer, the three graphs and their .onnx_data) and print the snapshot folder.");
        command.Add(repo);
        foreach (var o in new Option[] { revision, dtype, include, all })
        {
            command.Add(o);
        }

        command.SetBody(async (result, c, ct) =>
        {
            var id = HubModelId.Parse(result.GetValue(repo)!);
            if (result.GetValue(revision) is { Length: > 0 } rev)
            {
                id = id with { Revision = rev };
            }

            var selection = new ModelFileSelection(ModelDtypes.Parse(result.GetValue(dtype)!), result.GetValue(include), result.GetValue(all));
            var settings = HubSettings.FromEnvironment();
            var cache = new HubCache(settings.CacheDirectory);
            using var loggerFactory = c.CreateLoggerFactory();
            var logger = loggerFactory.CreateLogger("pgpipe.hub");
            using var client = new HubClient(settings, logger: logger);
            var puller = new HubModelPuller(client, cache, logger);
            var display = PullProgressFactory.Create(c.Error, interactive: c.ErrorIsTerminal);
            var pulled = await display.RunAsync(p => puller.PullAsync(id, selection, p, ct)).ConfigureAwait(false);
            await c.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{id.Repo} {id.Revision} -> {pulled.Commit}: {pulled.Files.Count} files, {PullProgressFactory.Bytes(pulled.DownloadedBytes)} downloaded")).ConfigureAwait(false);
            // stdout carries only the folder, so `$(pgpipe models pull ...)` is a model folder.
            await c.Output.WriteLineAsync(pulled.SnapshotDirectory).ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateList()
    {
        var command = new Command("list", "Show cached model repos: revisions, commits, sizes and the dtypes whose graphs are present.");
        command.SetBody(async (result, c, ct) =>
        {
            var output = c.Output;
            var cache = new HubCache(HubSettings.FromEnvironment().CacheDirectory);
            var repos = cache.ListRepos();
            if (repos.Count == 0)
            {
                await c.Error.WriteLineAsync($"no model repos in {cache.Directory}").ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var rows = new List<string[]> { new[] { "REPO", "REVISIONS", "COMMIT", "FILES", "SIZE", "DTYPES" } };
            foreach (var repo in repos)
            {
                foreach (var snapshot in repo.Snapshots)
                {
                    rows.Add([
                        repo.Repo,
                        snapshot.Revisions.Count == 0 ? "-" : string.Join(",", snapshot.Revisions),
                        snapshot.Commit,
                        snapshot.Files.Count.ToString(CultureInfo.InvariantCulture),
                        PullProgressFactory.Bytes(snapshot.Bytes),
                        snapshot.Dtypes.Count == 0 ? "-" : string.Join(",", snapshot.Dtypes),
                    ]);
                }
            }

            var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
            foreach (var row in rows)
            {
                await output.WriteLineAsync(string.Join("  ", row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c])))).ConfigureAwait(false);
            }

            await output.WriteLineAsync($"cache: {cache.Directory} ({PullProgressFactory.Bytes(repos.Sum(r => r.BlobBytes))} in blobs)").ConfigureAwait(false);
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command CreateVerify()
    {
        var repo = new Argument<string>("REPO") { Description = "Cached model repo id (owner/name)." };
        var command = new Command("verify", "Re-hash every cached file of a repo (sha256 for LFS files, git blob id for the others); a mismatching blob is deleted.");
        command.Add(repo);
        command.SetBody(async (result, c, ct) =>
        {
            var (output, error) = (c.Output, c.Error);
            var id = HubModelId.Parse(result.GetValue(repo)!);
            var cache = new HubCache(HubSettings.FromEnvironment().CacheDirectory);
            var pathsByBlob = BlobUsers(cache, id.Repo);
            {
                var checks = await cache.VerifyAsync(id.Repo, progress: null, ct).ConfigureAwait(false);
                foreach (var check in checks)
                {
                    var users = pathsByBlob.TryGetValue(check.Etag, out var paths) ? string.Join(", ", paths) : "(no snapshot file)";
                    var kind = check.Kind == BlobHashKind.Sha256 ? "sha256" : "git-sha1";
                    await output.WriteLineAsync(check.Ok
                        ? $"ok        {kind} {check.Etag}  {users}"
                        : $"MISMATCH  {kind} {check.Etag} is {check.Actual}; blob deleted, pull again  {users}").ConfigureAwait(false);
                }

                var bad = checks.Count(c => !c.Ok);
                await error.WriteLineAsync($"{checks.Count} blobs checked, {bad} mismatched").ConfigureAwait(false);
                return bad == 0 ? ExitCodes.Ok : ExitCodes.Failure;
            }
        });
        return command;
    }

    /// <summary>Which snapshot files point at each blob, for the verify report.</summary>
    private static Dictionary<string, List<string>> BlobUsers(HubCache cache, string repo)
    {
        var users = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var snapshots = Path.Combine(cache.RepoDirectory(repo), "snapshots");
        if (!Directory.Exists(snapshots))
        {
            return users;
        }

        foreach (var link in Directory.EnumerateFiles(snapshots, "*", SearchOption.AllDirectories))
        {
            if (new FileInfo(link).LinkTarget is { } target)
            {
                var blob = Path.GetFileName(target);
                if (!users.TryGetValue(blob, out var list))
                {
                    users[blob] = list = [];
                }

                list.Add(Path.GetRelativePath(snapshots, link).Replace('\\', '/'));
            }
        }

        return users;
    }
}

using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>
/// The exactly-once outcome, checked against the catalog rather than against the store's own unique indexes: every
/// expected (object version, task) has exactly one current result or exactly one failure, never both and never
/// neither, and nothing exists for objects that were not expected.
/// </summary>
public static class ExactlyOnce
{
    /// <param name="snapshot">The store now.</param>
    /// <param name="expected">uri → ETag of every object the runs listed (the S3 listing, plus objects deleted after enqueue).</param>
    /// <param name="badReasons">uri → the failure reason expected for the objects that must fail.</param>
    public static void AssertOutcome(StoreSnapshot snapshot, IReadOnlyDictionary<string, string> expected, IReadOnlyDictionary<string, string> badReasons)
    {
        var problems = new List<string>();
        var current = snapshot.Results.Where(r => !r.Superseded).ToLookup(r => (r.Uri, r.Task));
        var failures = snapshot.Failures.ToLookup(f => (f.Uri, f.Task));
        foreach (var group in current.Where(g => g.Count() > 1))
        {
            problems.Add($"{group.Count()} current results for {group.Key}");
        }

        foreach (var (uri, etag) in expected)
        {
            foreach (var task in PipelineRun.Tasks)
            {
                var results = current[(uri, task)].ToList();
                var failed = failures[(uri, task)].Where(f => f.ETag == etag).ToList();
                if (badReasons.TryGetValue(uri, out var reason))
                {
                    if (results.Count != 0 || failed.Count != 1 || failed[0].Reason != reason)
                    {
                        problems.Add($"{uri} [{task}]: expected one '{reason}' failure, found {results.Count} results and failures [{string.Join(", ", failed.Select(f => f.Reason))}]");
                    }
                    else if (string.IsNullOrWhiteSpace(failed[0].Message))
                    {
                        problems.Add($"{uri} [{task}]: failure '{reason}' has no message");
                    }
                }
                else if (results.Count != 1 || results[0].ETag != etag || failed.Count != 0)
                {
                    problems.Add($"{uri} [{task}]: expected one result for ETag {etag}, found results [{string.Join(", ", results.Select(r => r.ETag))}] and {failed.Count} failures");
                }
            }
        }

        foreach (var r in snapshot.Results.Where(r => !expected.ContainsKey(r.Uri)))
        {
            problems.Add($"unexpected result for {r.Uri} [{r.Task}]");
        }

        foreach (var f in snapshot.Failures.Where(f => !expected.ContainsKey(f.Uri)))
        {
            problems.Add($"unexpected failure for {f.Uri} [{f.Task}]: {f.Reason}");
        }

        Assert.True(problems.Count == 0,
            $"{problems.Count} exactly-once violation(s) over {expected.Count} objects x {PipelineRun.Tasks.Length} tasks:\n{string.Join('\n', problems.Take(40))}");
    }

    /// <summary>
    /// The change feed as an indexer sees it: each expected (uri, etag, task) appears exactly once as a live row, and
    /// no live row appears for anything else.
    /// </summary>
    public static void AssertFeed(IEnumerable<ChangeFeedRow> rows, IEnumerable<(string Uri, string ETag, string Task)> expected, string what)
    {
        var live = rows.Where(r => !r.Superseded).Select(r => (r.Uri, r.ETag, r.Task)).ToList();
        var duplicates = live.GroupBy(k => k).Where(g => g.Count() > 1).Select(g => $"{g.Key} x{g.Count()}").ToList();
        var expectedSet = expected.ToHashSet();
        var missing = expectedSet.Except(live).Select(k => k.ToString()).ToList();
        var extra = live.ToHashSet().Except(expectedSet).Select(k => k.ToString()).ToList();
        Assert.True(duplicates.Count == 0 && missing.Count == 0 && extra.Count == 0,
            $"change feed ({what}): {live.Count} live rows for {expectedSet.Count} expected; duplicates [{string.Join("; ", duplicates.Take(10))}], " +
            $"missing {missing.Count} [{string.Join("; ", missing.Take(10))}], unexpected {extra.Count} [{string.Join("; ", extra.Take(10))}]");
    }
}

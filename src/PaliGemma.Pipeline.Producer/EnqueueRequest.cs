using System.Security.Cryptography;
using System.Text;
using PaliGemma.Pipeline.Catalog;
using PaliGemma.Pipeline.Contracts;

namespace PaliGemma.Pipeline.Producer;

/// <summary>What to enqueue: a source, a filter, a model and tasks, under a run name.</summary>
/// <param name="Source">s3://bucket/prefix or a local folder.</param>
/// <param name="Filter">Which listed objects to take.</param>
/// <param name="Model">The model key; selects the queue.</param>
/// <param name="Tasks">Task prompts with their token limits.</param>
/// <param name="RunName">Run name; null derives one from the other fields so the same command resumes the same run.</param>
public sealed record EnqueueRequest(string Source, CatalogFilter Filter, ModelKey Model, IReadOnlyList<TaskSpec> Tasks, string? RunName = null)
{
    /// <summary>How workers render and read this run's document pages; null for their defaults. Not part of the run's identity.</summary>
    public DocumentJobOptions? Documents { get; init; }

    /// <summary>The run name used: the given one, or "run-" plus a hash of source, filter, model and tasks.</summary>
    public string EffectiveRunName
    {
        get
        {
            if (!string.IsNullOrWhiteSpace(RunName))
            {
                return RunName.Trim();
            }

            var identity = new StringBuilder()
                .Append(Source.Trim()).Append('\n')
                .Append(Filter.Prefix).Append('|').Append(Filter.Glob).Append('|')
                .AppendJoin(',', (Filter.Extensions ?? new HashSet<string>()).Select(e => e.ToLowerInvariant()).Order(StringComparer.Ordinal)).Append('|')
                .Append(Filter.MinSize).Append('|').Append(Filter.MaxSize).Append('\n')
                .Append(Model).Append('\n')
                .AppendJoin('\n', Tasks.Select(t => $"{t.Prompt}\t{t.MaxNewTokens}").Order(StringComparer.Ordinal));
            return "run-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity.ToString())))[..16];
        }
    }
}

/// <summary>Progress of an enqueue pass.</summary>
/// <param name="Listed">Objects listed that pass the filter.</param>
/// <param name="Enqueued">Jobs published (images with at least one task to do).</param>
/// <param name="Reused">Images whose every task already had a result.</param>
/// <param name="Elapsed">Time since the pass started.</param>
public sealed record EnqueueProgress(long Listed, long Enqueued, long Reused, TimeSpan Elapsed)
{
    /// <summary>Listing rate.</summary>
    public double KeysPerSecond => Elapsed.TotalSeconds > 0 ? Listed / Elapsed.TotalSeconds : 0;
}

/// <summary>The outcome of an enqueue pass.</summary>
public sealed record EnqueueSummary(Guid RunId, string RunName, bool Resumed, EnqueueProgress Progress, int Superseded);

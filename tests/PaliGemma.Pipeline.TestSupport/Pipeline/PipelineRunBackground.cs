using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace PaliGemma.Pipeline.TestSupport;

/// <summary>An enqueue that runs in the background, so a test can kill it or let it outlive an outage (the fault suite).</summary>
public sealed partial class PipelineRun
{
    /// <summary>Starts <c>pgpipe enqueue</c> (the same command as <see cref="EnqueueAsync"/>) without waiting for it.</summary>
    public PgpipeProcess StartEnqueue(string name, IReadOnlyDictionary<string, string>? settings = null, int maxNewTokens = 8)
    {
        var environment = new Dictionary<string, string>(_environment);
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        var process = PgpipeProcess.Start(name, environment,
            "enqueue", Source, "--task", Tasks[0], "--task", Tasks[1], "--model", TinyModel, "--max-new-tokens", maxNewTokens.ToString(CultureInfo.InvariantCulture),
            "--db", ConnectionString);
        lock (_processes)
        {
            _processes.Add(process);
        }

        return process;
    }

    /// <summary>The summary line of a finished enqueue.</summary>
    public static EnqueueResult ParseEnqueue(PgpipeProcess process)
    {
        ArgumentNullException.ThrowIfNull(process);
        var match = SummaryLine().Match(process.StandardOutput);
        Assert.True(match.Success, $"enqueue printed no summary line:\n{process.Log}");
        return new EnqueueResult(match.Groups[1].Value, match.Groups[2].Value == "resumed", long.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture),
            long.Parse(match.Groups[4].Value, CultureInfo.InvariantCulture), long.Parse(match.Groups[5].Value, CultureInfo.InvariantCulture),
            long.Parse(match.Groups[6].Value, CultureInfo.InvariantCulture), match.Groups[7].Value);
    }

    /// <summary>
    /// Messages of <paramref name="queue"/> the broker has delivered again (the management API's message_stats.redeliver,
    /// which it refreshes every few seconds); 0 when it has none.
    /// </summary>
    public async Task<long> RedeliveredAsync(string queue)
    {
        using var response = await _services.RabbitMq.Management.GetAsync($"api/queues/{Uri.EscapeDataString(VirtualHost)}/{Uri.EscapeDataString(queue)}");
        response.EnsureSuccessStatusCode();
        using var json = await response.Content.ReadFromJsonAsync<JsonDocument>();
        return json!.RootElement.TryGetProperty("message_stats", out var stats) && stats.TryGetProperty("redeliver", out var count) && count.ValueKind == JsonValueKind.Number
            ? count.GetInt64()
            : 0;
    }
}

using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// Raw malformed messages published straight onto a running worker's queue in RabbitMQ (as a buggy or hostile producer
/// would): each must end in the queue's _error queue with its reason in the MT-Fault-Message header, and the worker must
/// keep processing the good jobs enqueued after them.
/// </summary>
public sealed class MalformedMessageRunTests(E2EServices services, ITestOutputHelper output) : IClassFixture<E2EServices>
{
    private const string ImageJobType = "urn:message:PaliGemma.Pipeline.Contracts:ImageJob";

    [SkippableFact]
    public async Task Malformed_messages_reach_the_error_queue_with_a_reason_and_the_worker_continues()
    {
        await using var run = await PipelineRun.CreateAsync(services, output, "malformed-messages");
        await run.UploadAsync(Enumerable.Range(0, 8).Select(i => (Key: $"first/img-{i}.png", Content: Images.Png(300 + i))));
        var first = await run.ListAsync();
        await run.EnqueueAsync("enqueue-1");
        var worker = run.StartWorker("worker-1");
        await run.WaitForAsync("the first 16 combinations", s => s.Covered(first) == 16, TimeSpan.FromMinutes(2));

        // Given malformed messages published onto the worker's queue
        var (uri, etag) = first.First();
        var malformed = new (string Name, byte[] Body, string Reason)[]
        {
            ("invalid JSON", Encoding.UTF8.GetBytes("{\"messageId\": \"x\", \"message\": {not json"), "JsonReaderException: 'n' is an invalid start of a property name"),
            ("not UTF-8 at all", [0xFF, 0xFE, 0x00, 0x01, 0x80], "JsonReaderException: '0xFF' is an invalid start of a value"),
            ("missing fields", Envelope(new JsonObject { ["runId"] = Guid.NewGuid(), ["size"] = 1, ["model"] = PipelineRun.ModelKeyText }),
                "missing required properties including: 'uri', 'eTag', 'tasks'"),
            ("null fields", Envelope(Job(null, null, [("caption en", 8)])), "Uri is missing or blank; ETag is missing or blank"),
            ("no tasks", Envelope(Job(uri, etag, [])), "Tasks is missing or empty"),
            ("unknown task shape", Envelope(Job(uri, etag, [("caption", 8)])), "Prompt 'caption' is malformed (the language code is missing)"),
            ("absurd max tokens", Envelope(Job(uri, etag, [("caption en", int.MaxValue)])), "MaxNewTokens must be between 1 and 8192, got 2147483647"),
            ("negative max tokens", Envelope(Job(uri, etag, [("ocr", -1)])), "MaxNewTokens must be between 1 and 8192, got -1"),
            ("empty prompt", Envelope(Job(uri, etag, [("", 8)])), "The prompt is empty"),
            ("100 KB prompt", Envelope(Job(uri, etag, [("answer en " + new string('x', 100 * 1024), 8)])), "the limit is 2048"),
            ("control characters", Envelope(Job(uri, etag, [("caption en\u0000\u001b[2J", 8)])), "control character U+0000 at position 10"),
        };
        var ids = new Dictionary<string, (string Name, string Reason)>(StringComparer.Ordinal);
        foreach (var (name, body, reason) in malformed)
        {
            var id = Guid.NewGuid().ToString();
            ids[id] = (name, reason);
            await PublishAsync(run, id, body);
        }

        // When good work is enqueued after them
        await run.UploadAsync(Enumerable.Range(0, 4).Select(i => (Key: $"later/img-{i}.png", Content: Images.Png(400 + i))));
        var all = await run.ListAsync();
        await run.EnqueueAsync("enqueue-2");

        // Then the worker processes it, and every malformed message sits in the error queue with its reason
        var snapshot = await run.WaitForAsync("all 24 combinations, including the later ones", s => s.Covered(all) == 24, TimeSpan.FromMinutes(2));
        Assert.Empty(snapshot.Failures);
        Assert.False(worker.HasExited, $"the worker exited:\n{run.ProcessSummary()}");
        var errors = await WaitForErrorQueueAsync(run, malformed.Length, TimeSpan.FromSeconds(60));
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var message in errors)
        {
            var properties = message["properties"]!;
            var id = properties["message_id"]?.GetValue<string>() ?? string.Empty;
            Assert.True(ids.TryGetValue(id, out var expected), $"unexpected message {id} in the error queue: {message.ToJsonString()[..Math.Min(400, message.ToJsonString().Length)]}");
            var headers = properties["headers"]!.AsObject();
            var fault = headers["MT-Fault-Message"]?.ToString() ?? string.Empty;
            var type = headers["MT-Fault-ExceptionType"]?.ToString() ?? string.Empty;
            output.WriteLine($"{expected.Name}: {type}: {(fault.Length > 200 ? fault[..200] + "..." : fault)}");
            Assert.Contains(expected.Reason, type + ": " + fault, StringComparison.Ordinal);
            seen.Add(id);
        }

        Assert.Equal(ids.Keys.Order(), seen.Order());
        Assert.Equal(malformed.Length, errors.Count);
    }

    private static JsonObject Job(string? uri, string? etag, (string Prompt, int MaxNewTokens)[] tasks)
    {
        var array = new JsonArray();
        foreach (var (prompt, max) in tasks)
        {
            array.Add(new JsonObject { ["prompt"] = prompt, ["maxNewTokens"] = max });
        }

        return new JsonObject
        {
            ["runId"] = Guid.NewGuid(),
            ["uri"] = uri,
            ["eTag"] = etag,
            ["size"] = 100,
            ["model"] = PipelineRun.ModelKeyText,
            ["tasks"] = array,
            ["enqueuedAt"] = DateTimeOffset.UtcNow,
        };
    }

    /// <summary>A MassTransit JSON envelope around <paramref name="message"/>, as any MassTransit producer sends it.</summary>
    private static byte[] Envelope(JsonObject message) => JsonSerializer.SerializeToUtf8Bytes(new JsonObject
    {
        ["messageId"] = Guid.NewGuid(),
        ["messageType"] = new JsonArray(ImageJobType),
        ["message"] = message,
        ["sentTime"] = DateTimeOffset.UtcNow,
    });

    /// <summary>Publishes raw bytes to the queue through the default exchange (management API, so the bytes go unaltered).</summary>
    private async Task PublishAsync(PipelineRun run, string messageId, byte[] body)
    {
        var request = new JsonObject
        {
            ["properties"] = new JsonObject { ["content_type"] = "application/vnd.masstransit+json", ["message_id"] = messageId, ["delivery_mode"] = 2 },
            ["routing_key"] = run.QueueName,
            ["payload"] = Convert.ToBase64String(body),
            ["payload_encoding"] = "base64",
        };
        using var response = await services.RabbitMq.Management.PostAsJsonAsync($"api/exchanges/{Uri.EscapeDataString(run.VirtualHost)}/amq.default/publish", request);
        response.EnsureSuccessStatusCode();
        var routed = await response.Content.ReadFromJsonAsync<JsonObject>();
        Assert.True(routed?["routed"]?.GetValue<bool>() == true, $"message {messageId} was not routed to {run.QueueName}");
    }

    /// <summary>Peeks (requeueing) the error queue until it holds <paramref name="count"/> messages or the time is up.</summary>
    private async Task<List<JsonObject>> WaitForErrorQueueAsync(PipelineRun run, int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var depth = await run.QueueDepthAsync(run.QueueName + "_error") ?? 0;
            if (depth >= count || DateTime.UtcNow > deadline)
            {
                var request = new JsonObject { ["count"] = count + 10, ["ackmode"] = "ack_requeue_true", ["encoding"] = "auto", ["truncate"] = 4096 };
                using var response = await services.RabbitMq.Management.PostAsJsonAsync(
                    $"api/queues/{Uri.EscapeDataString(run.VirtualHost)}/{Uri.EscapeDataString(run.QueueName + "_error")}/get", request);
                response.EnsureSuccessStatusCode();
                var messages = await response.Content.ReadFromJsonAsync<JsonArray>();
                return messages!.Select(m => m!.AsObject()).ToList();
            }

            await Task.Delay(250);
        }
    }
}

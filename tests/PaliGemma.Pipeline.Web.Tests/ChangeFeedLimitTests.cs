using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>GET /api/changes page sizes over a store with more changes than one page may hold.</summary>
public sealed class ChangeFeedLimitTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-web-changes-").FullName;

    [Fact]
    public async Task Without_a_limit_a_page_holds_100_changes_and_no_limit_makes_it_hold_more_than_1000()
    {
        // Given a store with 1,005 results
        var file = Path.Combine(_folder, "store.db");
        var store = new ResultStore(
            new PipelineDbContextFactory(Options.Create(new DatabaseOptions { Provider = DatabaseProvider.Sqlite, ConnectionString = new SqliteConnectionStringBuilder { DataSource = file }.ConnectionString })),
            TimeProvider.System, NullLogger<ResultStore>.Instance);
        await store.MigrateAsync(CancellationToken.None);
        await store.WriteBatchAsync(new ResultBatch(
            Enumerable.Range(0, 1005).Select(i => new ResultRecord($"file:///o/{i}", "e", "m", "caption en", "t", null, 1, 1, 1, null)).ToList(), [], []), CancellationToken.None);

        await using var factory = new BrowserFactory(new BrowserStore(store, file), IPAddress.Loopback, new Dictionary<string, string?>());
        using var client = factory.CreateClient();

        // Then the default page is 100 changes, and a limit above the maximum is clamped to 1,000
        Assert.Equal(100, JsonNode.Parse(await client.GetStringAsync("/api/changes"))!["changes"]!.AsArray().Count);
        var clamped = JsonNode.Parse(await client.GetStringAsync("/api/changes?limit=5000"))!;
        Assert.Equal(1000, clamped["changes"]!.AsArray().Count);

        // And the next page after it holds the remaining five
        var rest = JsonNode.Parse(await client.GetStringAsync($"/api/changes?limit=5000&after={Uri.EscapeDataString((string)clamped["next"]!)}"))!;
        Assert.Equal(5, rest["changes"]!.AsArray().Count);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}

using System.Text.Json.Nodes;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>search over the document store (see <see cref="DocumentSeededStore"/>), per provider: page hits name their page.</summary>
public abstract class DocumentSearchScenarios
{
    private readonly DocumentSeededStore _store;

    protected DocumentSearchScenarios(DocumentSeededStore store)
    {
        _store = store;
    }

    private string Db
    {
        get
        {
            _store.SkipOrThrowIfUnavailable();
            return _store.Db;
        }
    }

    [SkippableFact]
    public async Task A_hit_on_a_document_page_names_the_page_and_an_image_hit_does_not()
    {
        // "a chart" is the caption of report.pdf page 2; "a red kite" that of the plain image img.jpg
        var page = await CliRunner.RunAsync("search", "chart", "--db", Db);
        var image = await CliRunner.RunAsync("search", "kite", "--db", Db);

        Assert.True(page.ExitCode == 0, page.ToString());
        Assert.Equal(2, page.Lines.Count);
        Assert.Contains(" s3://docs/report.pdf#page=2 ", page.Lines[1], StringComparison.Ordinal);
        Assert.True(image.ExitCode == 0, image.ToString());
        Assert.All(image.Lines.Skip(1), l => Assert.Contains(" s3://docs/img.jpg ", l, StringComparison.Ordinal));
        Assert.DoesNotContain("#page", image.Stdout, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Json_hits_carry_a_page_only_for_document_pages()
    {
        var page = await CliRunner.RunAsync("search", "chart", "--json", "--db", Db);
        var image = await CliRunner.RunAsync("search", "red kite", "--json", "--db", Db);

        Assert.True(page.ExitCode == 0, page.ToString());
        var hit = JsonNode.Parse(Assert.Single(page.Lines))!.AsObject();
        Assert.Equal(["rank", "uri", "page", "task", "model", "snippet"], hit.Select(p => p.Key).ToArray());
        Assert.Equal(("s3://docs/report.pdf", 2), ((string)hit["uri"]!, (int)hit["page"]!));
        Assert.True(image.ExitCode == 0, image.ToString());
        var imageHit = JsonNode.Parse(Assert.Single(image.Lines))!.AsObject();
        Assert.Equal(["rank", "uri", "task", "model", "snippet"], imageHit.Select(p => p.Key).ToArray());
    }
}

public sealed class SqliteDocumentSearchTests(SqliteDocumentSeededStore store) : DocumentSearchScenarios(store), IClassFixture<SqliteDocumentSeededStore>;

public sealed class PostgresDocumentSearchTests(PostgresDocumentSeededStore store) : DocumentSearchScenarios(store), IClassFixture<PostgresDocumentSeededStore>;

using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>status, search and export against a seeded store (see <see cref="SeededStore"/>), per provider.</summary>
public abstract class ReadCommandScenarios
{
    private const string Model = SeededStore.Model;

    private readonly SeededStore _store;

    protected ReadCommandScenarios(SeededStore store)
    {
        _store = store;
    }

    private string Db => _store.AvailableDb;

    // Hand-written from the seed: URI then task order, pending rows kept, reused (monday) results included.
    private static readonly string[] ExpectedJsonl =
    [
        $$"""{"uri":"s3://photos/a.jpg","etag":"ea","task":"caption en","model":"{{Model}}","status":"ok","text":"a black cat sleeping on a red sofa","boxes":[],"error":null}""",
        $$"""{"uri":"s3://photos/a.jpg","etag":"ea","task":"detect cat ; dog","model":"{{Model}}","status":"ok","text":"cat","boxes":[{"label":"cat","x1":64,"y1":48,"x2":320,"y2":240}],"error":null}""",
        $$"""{"uri":"s3://photos/b.jpg","etag":"eb","task":"caption en","model":"{{Model}}","status":"ok","text":"two dogs running on the beach","boxes":[],"error":null}""",
        $$"""{"uri":"s3://photos/b.jpg","etag":"eb","task":"detect cat ; dog","model":"{{Model}}","status":"ok","text":"dog ; dog","boxes":[{"label":"dog","x1":100.5,"y1":200.25,"x2":300.75,"y2":500},{"label":"dog","x1":512,"y1":0,"x2":1024,"y2":384.5}],"error":null}""",
        $$"""{"uri":"s3://photos/c.jpg","etag":"ec","task":"caption en","model":"{{Model}}","status":"failed","text":null,"boxes":null,"error":"decode: truncated JPEG data"}""",
        $$"""{"uri":"s3://photos/c.jpg","etag":"ec","task":"detect cat ; dog","model":"{{Model}}","status":"ok","text":"","boxes":[],"error":null}""",
        $$"""{"uri":"s3://photos/d.jpg","etag":"ed","task":"caption en","model":"{{Model}}","status":"pending","text":null,"boxes":null,"error":null}""",
        $$"""{"uri":"s3://photos/d.jpg","etag":"ed","task":"detect cat ; dog","model":"{{Model}}","status":"pending","text":null,"boxes":null,"error":null}""",
        $$"""{"uri":"s3://photos/e.jpg","etag":"ee","task":"caption en","model":"{{Model}}","status":"failed","text":null,"boxes":null,"error":"fetch"}""",
        $$"""{"uri":"s3://photos/e.jpg","etag":"ee","task":"detect cat ; dog","model":"{{Model}}","status":"failed","text":null,"boxes":null,"error":"fetch"}""",
    ];

    private static readonly string[] JsonlKeys = ["uri", "etag", "task", "model", "status", "text", "boxes", "error"];

    [SkippableFact]
    public async Task Jsonl_export_has_one_line_per_object_and_task_with_exactly_the_documented_keys()
    {
        // When the tuesday run is exported by name
        var result = await CliRunner.RunAsync("export", "tuesday", "--format", "jsonl", "--db", Db);

        // Then every (object, task) is one line, reused monday results included, in URI then task order
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(ExpectedJsonl.Length, result.Lines.Count);
        for (var i = 0; i < ExpectedJsonl.Length; i++)
        {
            var actual = JsonNode.Parse(result.Lines[i])!.AsObject();
            Assert.Equal(JsonlKeys, actual.Select(p => p.Key).ToArray());
            var expected = JsonNode.Parse(ExpectedJsonl[i]);
            Assert.True(JsonNode.DeepEquals(expected, actual), $"line {i + 1}\nexpected {ExpectedJsonl[i]}\nactual   {result.Lines[i]}");
        }

        // And the summary goes to stderr, never into the data
        Assert.Contains("10 (object, task) rows: 5 ok, 3 failed, 2 pending", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Export_by_run_id_to_a_file_writes_the_file_and_nothing_to_stdout()
    {
        var file = Path.Combine(Path.GetTempPath(), $"pgpipe-export-{Guid.NewGuid():N}.jsonl");
        try
        {
            var result = await CliRunner.RunAsync("export", _store.Tuesday.Id.ToString(), "--out", file, "--db", Db);

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal(string.Empty, result.Stdout);
            var lines = await File.ReadAllLinesAsync(file);
            Assert.Equal(ExpectedJsonl.Length, lines.Length);
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(ExpectedJsonl[3]), JsonNode.Parse(lines[3])), lines[3]);
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(file)!, $".{Path.GetFileName(file)}.*.partial"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [SkippableFact]
    public async Task Coco_export_holds_images_categories_and_xywh_boxes()
    {
        var result = await CliRunner.RunAsync("export", "tuesday", "--format", "coco", "--db", Db);

        Assert.True(result.ExitCode == 0, result.ToString());
        var coco = JsonNode.Parse(result.Stdout)!.AsObject();

        // Images: objects with at least one ok row (d is pending, e only failed), ids from 1 in URI order
        var images = coco["images"]!.AsArray();
        Assert.Equal(
            [(1, "s3://photos/a.jpg", 640, 480), (2, "s3://photos/b.jpg", 1024, 768), (3, "s3://photos/c.jpg", 800, 600)],
            images.Select(i => ((int)i!["id"]!, (string)i["file_name"]!, (int)i["width"]!, (int)i["height"]!)).ToArray());

        // Categories in order of first appearance
        Assert.Equal([(1, "cat"), (2, "dog")], coco["categories"]!.AsArray().Select(c => ((int)c!["id"]!, (string)c["name"]!)).ToArray());

        // Annotations: bbox = [x1, y1, x2 - x1, y2 - y1], area = w * h, worked by hand:
        //   cat  (64, 48, 320, 240)          -> [64, 48, 256, 192],            area 49152
        //   dog  (100.5, 200.25, 300.75, 500) -> [100.5, 200.25, 200.25, 299.75], area 60024.9375
        //   dog  (512, 0, 1024, 384.5)       -> [512, 0, 512, 384.5],          area 196864
        var annotations = coco["annotations"]!.AsArray();
        Assert.Equal(3, annotations.Count);
        AssertAnnotation(annotations[0]!, 1, imageId: 1, categoryId: 1, [64, 48, 256, 192], 49152);
        AssertAnnotation(annotations[1]!, 2, imageId: 2, categoryId: 2, [100.5, 200.25, 200.25, 299.75], 60024.9375);
        AssertAnnotation(annotations[2]!, 3, imageId: 2, categoryId: 2, [512, 0, 512, 384.5], 196864);
        Assert.Equal("tuesday", (string)coco["info"]!["run"]!);
        Assert.Contains("3 images, 3 annotations, 2 categories", result.Stderr, StringComparison.Ordinal);
    }

    private static void AssertAnnotation(JsonNode a, int id, int imageId, int categoryId, double[] bbox, double area)
    {
        Assert.Equal(id, (int)a["id"]!);
        Assert.Equal(imageId, (int)a["image_id"]!);
        Assert.Equal(categoryId, (int)a["category_id"]!);
        Assert.Equal(bbox, a["bbox"]!.AsArray().Select(v => (double)v!).ToArray());
        Assert.Equal(area, (double)a["area"]!);
        Assert.Equal(0, (int)a["iscrowd"]!);
        Assert.Equal(SeededStore.Detect, (string)a["task"]!);
    }

    [SkippableFact]
    public async Task Search_finds_a_caption_by_a_stemmed_word()
    {
        // "sleeps" is not in any text; the caption says "sleeping", which stems to the same word
        var result = await CliRunner.RunAsync("search", "sleeps", "--json", "--db", Db);

        Assert.True(result.ExitCode == 0, result.ToString());
        var hit = JsonNode.Parse(Assert.Single(result.Lines))!;
        Assert.Equal("s3://photos/a.jpg", (string)hit["uri"]!);
        Assert.Equal(SeededStore.Caption, (string)hit["task"]!);
        Assert.Equal(Model, (string)hit["model"]!);
        Assert.Contains("sleeping", (string)hit["snippet"]!, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Search_prints_ranked_hits_as_plain_aligned_text_when_not_on_a_terminal()
    {
        var result = await CliRunner.RunAsync("search", "dogs", "--limit", "5", "--db", Db);

        Assert.True(result.ExitCode == 0, result.ToString());
        // Header plus the two b.jpg results ("two dogs running..." and "dog ; dog"), no table borders or colour codes
        Assert.Equal(3, result.Lines.Count);
        Assert.StartsWith("#", result.Lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', result.Stdout);
        Assert.All(result.Lines.Skip(1), l => Assert.Contains("s3://photos/b.jpg", l, StringComparison.Ordinal));
        var uriColumn = result.Lines[0].IndexOf("URI", StringComparison.Ordinal);
        Assert.All(result.Lines.Skip(1), l => Assert.Equal(uriColumn, l.IndexOf("s3://", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task Search_without_hits_prints_nothing_on_stdout()
    {
        var result = await CliRunner.RunAsync("search", "giraffe", "--db", Db);

        Assert.Equal((0, string.Empty), (result.ExitCode, result.Stdout));
        Assert.Contains("No results", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Status_of_a_run_shows_counts_throughput_and_eta()
    {
        var result = await CliRunner.RunAsync("status", "tuesday", "--db", Db);

        Assert.True(result.ExitCode == 0, result.ToString());
        var fields = result.Lines.Skip(1)
            .Select(l => l.Split("  ", 2, StringSplitOptions.TrimEntries))
            .ToDictionary(p => p[0], p => p[1]);
        // 5 objects x 2 tasks; done = a (2, reused) + b (2) + c detect (1); failed = c caption + e (2); pending = d (2)
        Assert.Equal("5", fields["listed objects"]);
        Assert.Equal("4", fields["enqueued objects"]);
        Assert.Equal("10", fields["combinations"]);
        Assert.Equal("5", fields["done"]);
        Assert.Equal("3", fields["failed"]);
        Assert.Equal("2", fields["pending"]);
        // 3 results written by tuesday a minute ago, window 5 minutes: 0.6 per minute; 2 pending / 0.6 = 200 s
        Assert.Equal("0.6", fields["throughput (per min, last 5 min)"]);
        Assert.Equal("3m 20s", fields["eta"]);
        Assert.Equal("complete", fields["listing"]);
    }

    [SkippableFact]
    public async Task Status_json_of_a_run_by_id()
    {
        var result = await CliRunner.RunAsync("status", _store.Tuesday.Id.ToString(), "--json", "--db", Db);

        Assert.True(result.ExitCode == 0, result.ToString());
        var s = JsonNode.Parse(Assert.Single(result.Lines))!;
        Assert.Equal(
            ("tuesday", 5L, 4L, 10L, 5L, 3L, 2L, 0.6, 200.0),
            ((string)s["run"]!, (long)s["listed"]!, (long)s["enqueued"]!, (long)s["combinations"]!, (long)s["done"]!, (long)s["failed"]!,
                (long)s["pending"]!, (double)s["throughput_per_minute"]!, (double)s["eta_seconds"]!));
    }

    [SkippableFact]
    public async Task Status_without_a_run_lists_runs_newest_first()
    {
        var result = await CliRunner.RunAsync("status", "--db", Db);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(3, result.Lines.Count);
        var header = result.Lines[0];
        Assert.StartsWith("RUN", header, StringComparison.Ordinal);
        Assert.StartsWith("tuesday ", result.Lines[1], StringComparison.Ordinal);
        Assert.StartsWith("monday ", result.Lines[2], StringComparison.Ordinal);
        // monday: 1 object x 2 tasks, both done
        var monday = result.Lines[2].Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var columns = header.Split("  ", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(columns.Length, monday.Length);
        Assert.Equal(
            ("1", "1", "2", "0", "0", "done"),
            (monday[Array.IndexOf(columns, "LISTED")], monday[Array.IndexOf(columns, "ENQUEUED")], monday[Array.IndexOf(columns, "DONE")],
                monday[Array.IndexOf(columns, "FAILED")], monday[Array.IndexOf(columns, "PENDING")], monday[Array.IndexOf(columns, "ETA")]));
        Assert.Equal(_store.Monday.Id.ToString(), monday[Array.IndexOf(columns, "ID")]);
    }

    [SkippableFact]
    public async Task Unknown_run_exits_2_and_says_how_to_list_runs()
    {
        foreach (var args in new[] { new[] { "export", "sunday" }, ["status", "sunday"], ["export", Guid.NewGuid().ToString(), "--format", "coco"] })
        {
            var result = await CliRunner.RunAsync([.. args, "--db", Db]);

            Assert.True(result.ExitCode == 2, result.ToString());
            Assert.Equal(string.Empty, result.Stdout);
            Assert.Contains("pgpipe status", result.Stderr, StringComparison.Ordinal);
        }
    }

    [SkippableFact]
    public async Task Unsupported_format_exits_2_and_names_the_formats()
    {
        var result = await CliRunner.RunAsync("export", "tuesday", "--format", "csv", "--db", Db);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal(string.Empty, result.Stdout);
        Assert.Contains("jsonl, coco", result.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task An_unmigrated_store_exits_3_and_says_to_migrate()
    {
        _store.SkipOrThrowIfUnavailable();
        var empty = await _store.CreateEmptyDatabaseAsync();

        foreach (var args in new[] { new[] { "status" }, ["search", "cat"], ["export", "tuesday"] })
        {
            var result = await CliRunner.RunAsync([.. args, "--db", empty]);

            Assert.True(result.ExitCode == 3, result.ToString());
            Assert.Equal(string.Empty, result.Stdout);
            Assert.Contains("pgpipe migrate", result.Stderr, StringComparison.Ordinal);
        }
    }
}

public sealed class SqliteReadCommandTests(SqliteSeededStore store) : ReadCommandScenarios(store), IClassFixture<SqliteSeededStore>;

public sealed class PostgresReadCommandTests(PostgresSeededStore store) : ReadCommandScenarios(store), IClassFixture<PostgresSeededStore>;

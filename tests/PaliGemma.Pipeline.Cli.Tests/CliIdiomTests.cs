using Microsoft.Data.Sqlite;
using PaliGemma.Pipeline.TestSupport;

namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary>
/// The CLI's one idiom, in-process: every command writes through the invocation's writers, a command line that does
/// not parse is a usage error (2), and <c>run</c> giving up on a stalled run has a code of its own (5).
/// </summary>
public sealed class CliIdiomTests : IDisposable
{
    private static readonly string TinyModel = RepositoryPaths.Combine("tests", "fixtures", "models", "tiny");
    private readonly string _folder = Directory.CreateTempSubdirectory("pgpipe-idiom-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task A_command_line_that_does_not_parse_exits_2()
    {
        var result = await CliRunner.RunAsync("search", "cat", "--limit", "many");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("many", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_commands_write_through_the_invocation_writers()
    {
        var migrate = await CliRunner.RunAsync("migrate", "--db", Path.Combine(_folder, "store.db"));
        var queue = await CliRunner.RunAsync("worker", "--model", TinyModel, "--print-queue");

        Assert.True(migrate.ExitCode == 0, migrate.ToString());
        Assert.Equal(["Migrations applied (Sqlite)."], migrate.Lines);
        Assert.True(queue.ExitCode == 0, queue.ToString());
        Assert.StartsWith("pgpipe-jobs-tiny-fp32-", Assert.Single(queue.Lines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_store_that_is_not_there_is_3_and_a_missing_model_is_2_in_one_line()
    {
        var status = await CliRunner.RunAsync("status", "--db", Path.Combine(_folder, "missing.db"));
        var worker = await CliRunner.RunAsync("worker", "--model", Path.Combine(_folder, "no-model"), "--db", Path.Combine(_folder, "missing.db"));

        Assert.Equal((3, string.Empty), (status.ExitCode, status.Stdout));
        Assert.Equal((2, string.Empty), (worker.ExitCode, worker.Stdout));
        Assert.StartsWith("error: ", Assert.Single(status.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
        Assert.StartsWith("error: Model ", Assert.Single(worker.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_that_stops_waiting_exits_5_and_says_how_to_resume()
    {
        // Given more images than the tiny model finishes in the first poll, and no patience at all
        var images = Directory.CreateDirectory(Path.Combine(_folder, "images")).FullName;
        var image = RepositoryPaths.Combine("tests", "fixtures", "images", "42x42-shapes.png");
        for (var i = 0; i < 1000; i++)
        {
            File.Copy(image, Path.Combine(images, $"{i:D4}.png"));
        }

        // When run gives up as soon as one poll sees no progress
        var result = await CliRunner.RunAsync("run", images, "--model", TinyModel, "--task", "caption en", "--max-new-tokens", "2",
            "--stall-timeout", "0", "--db", Path.Combine(_folder, "run.db"));

        // Then it exits 5 (no longer 3, which means a missing store) and says the same command resumes
        Assert.True(result.ExitCode == 5, result.ToString());
        Assert.Contains("re-run the same command to resume", result.Stdout, StringComparison.Ordinal);
    }
}

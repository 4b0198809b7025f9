namespace PaliGemma.Pipeline.Cli.Tests;

/// <summary><c>pgpipe serve</c>'s refusals: they happen before anything listens, with the setting to change in the message.</summary>
public sealed class ServeCommandTests(SqliteSeededStore seeded) : IClassFixture<SqliteSeededStore>
{
    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var result = await CliRunner.RunAsync(args);
        return (result.ExitCode, result.Stdout, result.Stderr);
    }

    [Fact]
    public async Task Serve_refuses_a_wildcard_address_without_credentials()
    {
        var (exit, stdout, stderr) = await RunAsync("serve", "--urls", "http://0.0.0.0:0", "--db", seeded.File);
        Assert.Equal(2, exit);
        Assert.Empty(stdout);
        Assert.Contains("error: --urls http://0.0.0.0:0 listens beyond loopback", stderr, StringComparison.Ordinal);
        Assert.Contains("Serve:ApiKey", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_refuses_a_missing_store_without_creating_it()
    {
        var missing = Path.Combine(Path.GetTempPath(), "pgpipe-missing-" + Guid.NewGuid().ToString("N") + ".db");
        var (exit, _, stderr) = await RunAsync("serve", "--db", missing);
        Assert.Equal(3, exit);
        Assert.Contains("No result store at " + missing, stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(missing));
    }
}

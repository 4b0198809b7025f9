using Xunit.Abstractions;

namespace PaliGemma.Pipeline.EndToEnd.Tests;

/// <summary>
/// The real pgpipe binary refuses malformed prompts and token limits in <c>infer</c>, <c>enqueue</c> and <c>run</c>
/// before loading a model, listing a source or touching a store: exit code 2 and one clear line on stderr.
/// No services are needed (the sources and stores named do not exist, and must never be reached).
/// </summary>
public sealed class PromptValidationCliTests(ITestOutputHelper output)
{
    public static TheoryData<string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string>();
        var prompts = new (string Prompt, string Message)[]
        {
            ("", "error: The prompt is empty"),
            ("   ", "error: The prompt is blank (3 whitespace characters)"),
            ("answer en " + new string('x', 100 * 1024), "error: The prompt is 102410 characters long; the limit is 2048"),
            ("caption en\u001b[2J", "error: The prompt contains the control character U+001B at position 10"),
        };
        foreach (var command in new[] { "infer", "enqueue", "run" })
        {
            foreach (var (prompt, message) in prompts)
            {
                data.Add(command, prompt, message);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Malformed_prompts_are_refused_before_any_work(string command, string prompt, string message)
    {
        using var process = Start(command, ["--task", prompt]);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        output.WriteLine(process.Log.Length > 2000 ? process.Log[..2000] : process.Log);
        Assert.Equal(2, code);
        var error = Assert.Single(process.Log.Split('\n'), l => l.Contains(" err: error: ", StringComparison.Ordinal));
        Assert.Contains(message, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("infer")]
    [InlineData("enqueue")]
    [InlineData("run")]
    public async Task Absurd_max_new_tokens_is_refused(string command)
    {
        using var process = Start(command, ["--task", "caption en", "--max-new-tokens", "1000000"]);
        Assert.Equal(2, await process.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("error: --max-new-tokens must be between 1 and 8192, got 1000000.", process.Log, StringComparison.Ordinal);
    }

    private static PgpipeProcess Start(string command, string[] taskArgs)
    {
        var missing = Path.Combine(Path.GetTempPath(), "pgpipe-no-such-" + Guid.NewGuid().ToString("N"));
        string[] args = command switch
        {
            // infer names its prompts --prompt.
            "infer" => ["infer", "--model", missing, "--image", Path.Combine(missing, "a.png"), .. taskArgs.Select(a => a == "--task" ? "--prompt" : a)],
            "enqueue" => ["enqueue", "s3://no-such-bucket/", "--model", missing, "--db", "Host=127.0.0.1;Port=1;Database=none", .. taskArgs],
            _ => ["run", missing, "--model", missing, "--db", Path.Combine(missing, "none.db"), .. taskArgs],
        };
        return PgpipeProcess.Start($"pgpipe-{command}", new Dictionary<string, string> { ["DOTNET_NOLOGO"] = "1" }, args);
    }
}

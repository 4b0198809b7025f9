using PaliGemma.Pipeline.Contracts;
using PaliGemma.Pipeline.Data;

namespace PaliGemma.Pipeline.Web.Tests;

public sealed class RetryCommandTests
{
    [Theory]
    [InlineData("plain-name_1.2", "plain-name_1.2")]
    [InlineData("caption en", "'caption en'")]
    [InlineData("it's", "'it'\\''s'")]
    [InlineData("$(rm -rf ~)", "'$(rm -rf ~)'")]
    [InlineData("", "''")]
    public void Quote_makes_values_one_literal_shell_word(string value, string expected) =>
        Assert.Equal(expected, PgpipeCommandLine.Quote(value));

    [Fact]
    public void Embedded_stores_retry_with_run_and_server_stores_with_enqueue()
    {
        var run = new RunInfo(Guid.NewGuid(), "nightly", "s3://photos/cats/", "paligemma2-3b-pt-448:fp16", ["caption en", "ocr"], DateTime.UtcNow, null, true, 3, 3);
        Assert.Equal(
            "pgpipe run s3://photos/cats/ --run nightly --model paligemma2-3b-pt-448 --dtype fp16 --task 'caption en' --task ocr --db '/data/my store.db'",
            RetryCommand.For(run, DatabaseProvider.Sqlite, "/data/my store.db"));
        Assert.Equal(
            "pgpipe enqueue s3://photos/cats/ --run nightly --model paligemma2-3b-pt-448 --dtype fp16 --task 'caption en' --task ocr",
            RetryCommand.For(run, DatabaseProvider.Postgres, null));
    }
}

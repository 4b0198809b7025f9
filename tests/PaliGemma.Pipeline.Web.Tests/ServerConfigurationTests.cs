using Microsoft.Extensions.Configuration;

namespace PaliGemma.Pipeline.Web.Tests;

/// <summary>Settings out of range stop the server before it starts, with one sentence naming the setting.</summary>
public sealed class ServerConfigurationTests(SqliteSeededStore seeded) : IClassFixture<SqliteSeededStore>
{
    [Theory]
    [InlineData("Documents:MaxBytes", "0")]
    [InlineData("Serve:DocumentCacheBytes", "0")]
    [InlineData("Serve:ThumbnailSize", "1")]
    public void A_setting_out_of_range_is_refused_by_name(string key, string value)
    {
        seeded.SkipOrThrowIfUnavailable();
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [key] = value }).Build();

        var refused = Assert.Throws<ResultsBrowserConfigurationException>(() =>
            ResultsBrowserApp.CreateServer(configuration, new BrowserStore(seeded.Store, seeded.SqliteFile), [ResultsBrowserApp.DefaultUrl]));

        Assert.StartsWith(key + " is out of range", refused.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", refused.Message, StringComparison.Ordinal);
    }
}

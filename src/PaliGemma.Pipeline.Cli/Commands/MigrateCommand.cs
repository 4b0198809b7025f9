using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary><c>pgpipe migrate</c>: applies the store's migrations; the only way a schema changes outside the embedded run.</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var db = HostCommandSupport.DbOption();
        var command = new Command("migrate", "Apply database migrations to the configured store (Database:Provider, Database:ConnectionString) and exit.");
        command.Add(db);
        command.SetAction(async (result, ct) =>
        {
            var overrides = new Dictionary<string, string?>();
            HostCommandSupport.AddDatabase(overrides, result.GetValue(db));
            var builder = PipelineConfiguration.CreateHostBuilder(overrides: overrides);
            builder.Services.AddPipelineData(builder.Configuration);
            using var host = builder.Build();
            try
            {
                var store = host.Services.GetRequiredService<ResultStore>();
                await store.MigrateAsync(ct).ConfigureAwait(false);
                Console.WriteLine($"Migrations applied ({store.Provider}).");
                return 0;
            }
            catch (OptionsValidationException ex)
            {
                return HostCommandSupport.Fail(string.Join("; ", ex.Failures));
            }
        });
        return command;
    }
}

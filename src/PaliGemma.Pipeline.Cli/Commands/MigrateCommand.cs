using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using PaliGemma.Pipeline.Cli.Errors;
using PaliGemma.Pipeline.Data;
using PaliGemma.Pipeline.Hosting;

namespace PaliGemma.Pipeline.Cli.Commands;

/// <summary>What <c>pgpipe migrate</c> was asked to do; null roles come from configuration.</summary>
internal sealed record MigrateSettings(string? Db, string? WorkerRole, string? ProducerRole, string? ReaderRole);

/// <summary><c>pgpipe migrate</c>: applies the store's migrations; the only way a schema changes outside the embedded run.</summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var db = HostCommandSupport.DbOption();
        var worker = new Option<string?>("--worker-role") { Description = "Existing Postgres role to grant the worker's privileges (default: Database:WorkerRole)." };
        var producer = new Option<string?>("--producer-role") { Description = "Existing Postgres role to grant the producer's privileges (default: Database:ProducerRole)." };
        var reader = new Option<string?>("--reader-role") { Description = "Existing Postgres role to grant read-only access for status, search and export (default: Database:ReaderRole)." };
        var command = new Command("migrate", "Apply database migrations to the configured store (Database:Provider, Database:ConnectionString), grant the configured roles their privileges, and exit.");
        command.Add(db);
        command.Add(worker);
        command.Add(producer);
        command.Add(reader);
        command.SetBody((r, c, ct) => RunAsync(c, new MigrateSettings(r.GetValue(db), r.GetValue(worker), r.GetValue(producer), r.GetValue(reader)), ct));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext c, MigrateSettings s, CancellationToken ct)
    {
        var overrides = new Dictionary<string, string?>();
        HostCommandSupport.AddDatabase(overrides, s.Db, c.Error);
        WorkerCommand.Set(overrides, "Database:WorkerRole", s.WorkerRole);
        WorkerCommand.Set(overrides, "Database:ProducerRole", s.ProducerRole);
        WorkerCommand.Set(overrides, "Database:ReaderRole", s.ReaderRole);
        var builder = PipelineConfiguration.CreateHostBuilder(overrides: overrides);
        c.AddLogging(builder.Logging, hostFormat: true);
        builder.Services.AddPipelineData(builder.Configuration);
        using var host = builder.Build();
        var store = host.Services.GetRequiredService<ResultStore>();
        await store.MigrateAsync(ct).ConfigureAwait(false);
        var grants = host.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value.RoleGrants;
        await store.GrantRolesAsync(grants, ct).ConfigureAwait(false);
        await c.Output.WriteLineAsync($"Migrations applied ({store.Provider}).").ConfigureAwait(false);
        if (!grants.IsEmpty)
        {
            await c.Output.WriteLineAsync($"Privileges granted: worker {grants.Worker ?? "-"}, producer {grants.Producer ?? "-"}, reader {grants.Reader ?? "-"}.").ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }
}

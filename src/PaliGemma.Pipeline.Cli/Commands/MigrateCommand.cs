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
        var worker = new Option<string?>("--worker-role") { Description = "Existing Postgres role to grant the worker's privileges (default: Database:WorkerRole)." };
        var producer = new Option<string?>("--producer-role") { Description = "Existing Postgres role to grant the producer's privileges (default: Database:ProducerRole)." };
        var reader = new Option<string?>("--reader-role") { Description = "Existing Postgres role to grant read-only access for status, search and export (default: Database:ReaderRole)." };
        var command = new Command("migrate", "Apply database migrations to the configured store (Database:Provider, Database:ConnectionString), grant the configured roles their privileges, and exit.");
        command.Add(db);
        command.Add(worker);
        command.Add(producer);
        command.Add(reader);
        command.SetAction(async (result, ct) =>
        {
            var overrides = new Dictionary<string, string?>();
            HostCommandSupport.AddDatabase(overrides, result.GetValue(db));
            WorkerCommand.Set(overrides, "Database:WorkerRole", result.GetValue(worker));
            WorkerCommand.Set(overrides, "Database:ProducerRole", result.GetValue(producer));
            WorkerCommand.Set(overrides, "Database:ReaderRole", result.GetValue(reader));
            var builder = PipelineConfiguration.CreateHostBuilder(overrides: overrides);
            builder.Services.AddPipelineData(builder.Configuration);
            using var host = builder.Build();
            try
            {
                var store = host.Services.GetRequiredService<ResultStore>();
                await store.MigrateAsync(ct).ConfigureAwait(false);
                var grants = host.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value.RoleGrants;
                await store.GrantRolesAsync(grants, ct).ConfigureAwait(false);
                Console.WriteLine($"Migrations applied ({store.Provider}).");
                if (!grants.IsEmpty)
                {
                    Console.WriteLine($"Privileges granted: worker {grants.Worker ?? "-"}, producer {grants.Producer ?? "-"}, reader {grants.Reader ?? "-"}.");
                }
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

using Microsoft.EntityFrameworkCore;

namespace PaliGemma.Pipeline.Data;

/// <summary>Schema administration: migrations and role grants (<see cref="ResultStore.MigrateAsync"/>, <see cref="ResultStore.GrantRolesAsync"/>).</summary>
internal sealed class SchemaAdmin(StoreContext store)
{
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var context = store.Factory.CreateDbContext();
        await using (context.ConfigureAwait(false))
        {
            var strategy = context.Database.CreateExecutionStrategy();
            await strategy.ExecuteAsync(
                async ct =>
                {
                    var pending = (await context.Database.GetPendingMigrationsAsync(ct).ConfigureAwait(false)).ToList();
                    await context.Database.MigrateAsync(ct).ConfigureAwait(false);
                    await store.Dialect.AfterMigrateAsync(context, ct).ConfigureAwait(false);
                    StoreLog.Migrated(store.Logger, store.Factory.Provider, pending.Count);
                },
                cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task GrantRolesAsync(DatabaseRoleGrants grants, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(grants);
        if (grants.IsEmpty)
        {
            return;
        }

        if (!store.Dialect.HasRoles)
        {
            throw new InvalidOperationException("Role grants need Database:Provider=Postgres; a SQLite file has no roles (protect it with file permissions).");
        }

        var statements = DatabaseRoles.GrantStatements(grants);
        await store.ExecuteAsync(
            true,
            async (connection, transaction, ct) =>
            {
                foreach (var sql in statements)
                {
                    using var command = connection.CreateCommand();
                    command.Transaction = transaction;
                    command.CommandText = sql;
                    await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                return 0;
            },
            cancellationToken).ConfigureAwait(false);
        StoreLog.RolesGranted(store.Logger, grants.Worker ?? "-", grants.Producer ?? "-", grants.Reader ?? "-");
    }
}

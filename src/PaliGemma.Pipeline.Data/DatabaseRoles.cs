using System.Text.RegularExpressions;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Least-privilege grants on the Postgres result store, applied by <c>pgpipe migrate</c> (as the migration role, which
/// owns every table because it created them) to roles that exist already (created by an administrator or by
/// deploy/postgres/init-roles.sh). Table privileges only: none of these roles can DROP, ALTER or TRUNCATE, because only
/// the owner can, and none gets a table its component does not touch.
/// <list type="bullet">
/// <item>worker: reads results (skip-existing) and writes one batch: images, results, failures (a success deletes the
/// failure it replaces) and the documents it expands; no runs, no run_items.</item>
/// <item>producer: runs, run_items and run_partitions (listing, resume), results read and superseded, documents read (a
/// document is skipped when all its pages are done); no images, no failures.</item>
/// <item>reader: SELECT on everything (status, search, export, the change feed).</item>
/// </list>
/// Every grant starts with REVOKE ALL, so re-running migrate after a role changed jobs leaves exactly this set.
/// </summary>
public static partial class DatabaseRoles
{
    /// <summary>Tables and what each component may do with them.</summary>
    private static readonly (string Table, string Worker, string Producer)[] TablePrivileges =
    [
        ("images", "SELECT, INSERT, UPDATE", ""),
        ("results", "SELECT, INSERT, UPDATE", "SELECT, UPDATE"),
        ("failures", "SELECT, INSERT, UPDATE, DELETE", ""),
        ("runs", "", "SELECT, INSERT, UPDATE"),
        ("run_items", "", "SELECT, INSERT, UPDATE"),
        ("run_partitions", "", "SELECT, INSERT, UPDATE, DELETE"),
        ("documents", "SELECT, INSERT, UPDATE", "SELECT"),
    ];

    // Every table and view a reader may query; EF's history table lets any role check the schema version.
    private static readonly string[] ReadableRelations = ["images", "results", "failures", "runs", "run_items", "run_partitions", "documents", "current_results", "\"__EFMigrationsHistory\""];

    /// <summary>
    /// The SQL (one statement per entry) that gives <paramref name="grants"/> their privileges on a migrated store.
    /// Roles left null get nothing.
    /// </summary>
    /// <exception cref="ArgumentException">A role name is not a plain Postgres identifier.</exception>
    public static IReadOnlyList<string> GrantStatements(DatabaseRoleGrants grants)
    {
        ArgumentNullException.ThrowIfNull(grants);
        var sql = new List<string>();
        foreach (var (role, kind) in new[] { (grants.Worker, RoleKind.Worker), (grants.Producer, RoleKind.Producer), (grants.Reader, RoleKind.Reader) })
        {
            if (string.IsNullOrWhiteSpace(role))
            {
                continue;
            }

            var name = Quote(role, kind);
            sql.Add($"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {name}");
            sql.Add($"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {name}");
            sql.Add($"GRANT USAGE ON SCHEMA public TO {name}");
            sql.Add($"GRANT SELECT ON \"__EFMigrationsHistory\" TO {name}");
            if (kind == RoleKind.Reader)
            {
                sql.Add($"GRANT SELECT ON {string.Join(", ", ReadableRelations)} TO {name}");
                continue;
            }

            foreach (var (table, worker, producer) in TablePrivileges)
            {
                var privileges = kind == RoleKind.Worker ? worker : producer;
                if (privileges.Length > 0)
                {
                    sql.Add($"GRANT {privileges} ON {table} TO {name}");
                }
            }

            // nextval() for change_seq (results writes and superseding) and the identity columns' sequences.
            sql.Add($"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {name}");
        }

        return sql;
    }

    private static string Quote(string role, RoleKind kind)
    {
        if (!Identifier().IsMatch(role))
        {
            throw new ArgumentException(
                $"{DatabaseOptions.SectionName}:{kind}Role '{role}' is not a plain Postgres role name (letters, digits, '_', starting with a letter or '_', at most 63 characters).", nameof(role));
        }

        return "\"" + role + "\"";
    }

    private enum RoleKind
    {
        Worker,
        Producer,
        Reader,
    }

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex Identifier();
}

/// <summary>Which existing Postgres roles get the worker, producer and read-only privileges; null skips one.</summary>
public sealed record DatabaseRoleGrants(string? Worker, string? Producer, string? Reader)
{
    /// <summary>True when no role is named.</summary>
    public bool IsEmpty => string.IsNullOrWhiteSpace(Worker) && string.IsNullOrWhiteSpace(Producer) && string.IsNullOrWhiteSpace(Reader);
}

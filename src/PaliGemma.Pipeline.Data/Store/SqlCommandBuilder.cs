using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Builds one parameterised command for either provider. Values are always parameters, never inlined;
/// only generated parameter names and fixed SQL fragments are concatenated; provider-specific forms come from the
/// <see cref="SqlDialect"/>.
/// </summary>
/// <remarks>
/// Who disposes: the builder owns the command <see cref="Build"/> returns (it reuses it after <see cref="Restart"/>),
/// so whoever creates a builder disposes the builder with <c>using</c>, and nobody disposes a built command. Disposal
/// is synchronous: a command holds no I/O to flush, and a plain <c>using</c> needs no ConfigureAwait. The same holds for
/// the few commands made directly with CreateCommand (Postgres array statements, LISTEN): their creator disposes them
/// with <c>using</c>. Readers are disposed asynchronously by whoever executes them
/// (<see cref="StoreContext.ReadAsync{T}"/> for whole result sets).
/// </remarks>
internal sealed class SqlCommandBuilder : IDisposable
{
    private readonly DbCommand _command;
    private readonly SqlDialect _dialect;
    private int _next;

    public SqlCommandBuilder(DbConnection connection, DbTransaction? transaction, SqlDialect dialect)
    {
        _command = connection.CreateCommand();
        _command.Transaction = transaction;
        _dialect = dialect;
    }

    public StringBuilder Sql { get; } = new();

    public int ParameterCount => _next;

    /// <summary>
    /// Adds a parameter and returns its placeholder (e.g. "@p3"). After <see cref="Restart"/> it overwrites the
    /// value of the existing parameter at the same position instead.
    /// </summary>
    public string Add(object? value, DbType type)
    {
        var name = "p" + _next.ToString(CultureInfo.InvariantCulture);
        DbParameter p;
        if (_next < _command.Parameters.Count)
        {
            p = _command.Parameters[_next];
        }
        else
        {
            p = _command.CreateParameter();
            p.ParameterName = name;
            _command.Parameters.Add(p);
        }

        _next++;
        p.DbType = type;
        p.Value = value ?? DBNull.Value;
        return "@" + name;
    }

    /// <summary>
    /// Starts the SQL again for the next row of a statement run once per row: the following Add calls (made in the
    /// same order as for the first row) set new values on the existing parameters, so the rebuilt text is the same,
    /// the command keeps it and SQLite reuses the statement it already prepared. Why: Microsoft.Data.Sqlite binds every parameter by name
    /// (sqlite3_bind_parameter_index is a linear scan), so one statement with thousands of parameters costs
    /// quadratic time, seconds per 1,000-row batch, while a prepared one-row statement costs microseconds a row.
    /// </summary>
    public void Restart()
    {
        Sql.Clear();
        _next = 0;
    }

    /// <summary>Disposes the command (and with it SQLite's prepared statements).</summary>
    public void Dispose() => _command.Dispose();

    public string Text(string? value) => Add(value, DbType.String);

    public string Int(int value) => Add(value, DbType.Int32);

    public string Long(long value) => Add(value, DbType.Int64);

    public string Bool(bool value) => Add(value, DbType.Boolean);

    public string Double(double value) => Add(value, DbType.Double);

    /// <summary>A JSON document, in the dialect's JSON column type.</summary>
    public string Json(string? value) => _dialect.Json(this, value);

    /// <summary>A Guid, in the form the dialect's EF Core provider stores.</summary>
    public string Guid(Guid? value) => _dialect.Guid(this, value);

    /// <summary>A UTC timestamp, in the form the dialect's EF Core provider stores.</summary>
    public string Time(DateTime utc) => _dialect.Time(this, utc);

    /// <summary>The command with the SQL so far; building again with unchanged SQL keeps the prepared statement.</summary>
    public DbCommand Build()
    {
        // A restarted builder whose SQL now needs fewer parameters (a shorter last chunk) drops the rest.
        while (_command.Parameters.Count > _next)
        {
            _command.Parameters.RemoveAt(_command.Parameters.Count - 1);
        }

        var text = Sql.ToString();
        if (!string.Equals(_command.CommandText, text, StringComparison.Ordinal))
        {
            _command.CommandText = text;
        }

        return _command;
    }
}

/// <summary>Reads provider-specific column values back into CLR types.</summary>
internal static class DbReaderExtensions
{
    public static string? GetNullableString(this DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static Guid? GetNullableGuid(this DbDataReader reader, int ordinal)
    {
        if (reader.IsDBNull(ordinal))
        {
            return null;
        }

        var value = reader.GetValue(ordinal);
        return value is Guid g ? g : System.Guid.Parse(Convert.ToString(value, CultureInfo.InvariantCulture)!);
    }

    public static DateTime GetUtcDateTime(this DbDataReader reader, int ordinal) =>
        DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc);

    public static bool GetBool(this DbDataReader reader, int ordinal) =>
        Convert.ToBoolean(reader.GetValue(ordinal), CultureInfo.InvariantCulture);

    public static long GetLong(this DbDataReader reader, int ordinal) =>
        Convert.ToInt64(reader.GetValue(ordinal), CultureInfo.InvariantCulture);
}

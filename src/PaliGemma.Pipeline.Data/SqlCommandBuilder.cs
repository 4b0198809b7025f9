using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Builds one parameterised command for either provider. Values are always parameters, never inlined;
/// only generated parameter names and fixed SQL fragments are concatenated.
/// </summary>
internal sealed class SqlCommandBuilder : IAsyncDisposable
{
    private readonly DbCommand _command;
    private readonly DatabaseProvider _provider;
    private int _next;

    public SqlCommandBuilder(DbConnection connection, DbTransaction? transaction, DatabaseProvider provider)
    {
        _command = connection.CreateCommand();
        _command.Transaction = transaction;
        _provider = provider;
    }

    public StringBuilder Sql { get; } = new();

    public bool IsPostgres => _provider == DatabaseProvider.Postgres;

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
    public ValueTask DisposeAsync() => _command.DisposeAsync();

    public string Text(string? value) => Add(value, DbType.String);

    public string Int(int value) => Add(value, DbType.Int32);

    public string Long(long value) => Add(value, DbType.Int64);

    public string Bool(bool value) => Add(value, DbType.Boolean);

    public string Double(double value) => Add(value, DbType.Double);

    /// <summary>A JSON document: jsonb on Postgres, text on SQLite.</summary>
    public string Json(string? value) => IsPostgres ? $"CAST({Text(value)} AS jsonb)" : Text(value);

    /// <summary>Guids as uuid on Postgres; on SQLite as upper-case text, the form EF Core's SQLite provider uses.</summary>
    public string Guid(Guid? value) =>
        IsPostgres
            ? Add(value, DbType.Guid)
            : Add(value?.ToString("D").ToUpperInvariant(), DbType.String);

    /// <summary>UTC timestamps: timestamptz on Postgres; ISO text on SQLite (same format EF Core writes).</summary>
    public string Time(DateTime utc) =>
        IsPostgres
            ? Add(DateTime.SpecifyKind(utc, DateTimeKind.Utc), DbType.DateTime)
            : Add(utc.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture), DbType.String);

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

using System.Data;
using System.Data.Common;
using System.Globalization;
using System.Text;

namespace PaliGemma.Pipeline.Data;

/// <summary>
/// Builds one parameterised command for either provider. Values are always parameters, never inlined;
/// only generated parameter names and fixed SQL fragments are concatenated.
/// </summary>
internal sealed class SqlCommandBuilder
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

    /// <summary>Adds a parameter and returns its placeholder (e.g. "@p3").</summary>
    public string Add(object? value, DbType type)
    {
        var name = "p" + _next.ToString(CultureInfo.InvariantCulture);
        _next++;
        var p = _command.CreateParameter();
        p.ParameterName = name;
        p.DbType = type;
        p.Value = value ?? DBNull.Value;
        _command.Parameters.Add(p);
        return "@" + name;
    }

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

    public DbCommand Build()
    {
        _command.CommandText = Sql.ToString();
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

using System.Data;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Dapper;

namespace Fle.Core.Storage;

/// <summary>How the engine talks to its provider's database: retries, error translation, cold statements, streamed reads.</summary>
public sealed partial class FleStore
{
    /// <summary>How often a read (or an idempotent write) is run again after a transient failure.</summary>
    private const int MaxReadRetries = 3;

    /// <summary>
    /// Run a database operation, translating provider errors into FleExceptions. With <paramref name="retryTransient"/>
    /// (reads and idempotent writes) a transient failure (a broken connection) is retried a few times on a fresh one.
    /// </summary>
    internal async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> op, string? trajectoryId, long? stepNumber, CancellationToken ct,
        bool retryTransient = true)
    {
        ThrowIfDisposed();
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await op(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not FleException && retryTransient && attempt < MaxReadRetries && !ct.IsCancellationRequested && Provider.IsTransient(e))
            {
                await Provider.BeforeRetryAsync(attempt, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not FleException && Provider.Translate(e, trajectoryId, stepNumber) is { } fe)
            {
                throw fe;
            }
        }
    }

    /// <summary>
    /// A cold-path statement on a connection of its own, through <see cref="RunAsync{T}"/>. Dapper maps the parameters
    /// (an anonymous object, names as in the SQL) and the rows; the hot paths stay hand-written in the providers.
    /// </summary>
    internal Task<T> DbAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work, string? trajectoryId, CancellationToken cancellationToken)
        => RunAsync(async ct =>
        {
            await using var conn = await Provider.OpenConnectionAsync(ct).ConfigureAwait(false);
            return await work(conn, ct).ConfigureAwait(false);
        }, trajectoryId, null, cancellationToken);

    /// <summary>A Dapper command.</summary>
    internal static CommandDefinition Cmd(string sql, object? parameters, CancellationToken ct, DbTransaction? tx = null)
        => new(sql, parameters, tx, commandTimeout: null, commandType: CommandType.Text, cancellationToken: ct);

    /// <summary>
    /// The rows of a query mapped one by one as they stream (hand-written reader: any number of rows, one in memory).
    /// A pooled connection that broke while idle (the server restarted) fails on its first command, before any row:
    /// that is retried on a fresh connection (bounded), so a read after a restart works.
    /// </summary>
    private async IAsyncEnumerable<T> StreamAsync<T>(string sql, IReadOnlyList<(string Name, object? Value)> parameters, CommandBehavior behavior,
        string? trajectoryId, Func<DbDataReader, T> map, [EnumeratorCancellation] CancellationToken ct)
    {
        DbConnection? conn = null;
        DbCommand? cmd = null;
        DbDataReader? reader = null;
        for (var attempt = 0; reader is null; attempt++)
        {
            try
            {
                conn = await Provider.OpenConnectionAsync(ct).ConfigureAwait(false);
                cmd = Command(conn, sql);
                foreach (var (name, value) in parameters) Param(cmd, name, value);
                reader = await cmd.ExecuteReaderAsync(behavior, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not FleException)
            {
                if (cmd is not null) await cmd.DisposeAsync().ConfigureAwait(false);
                if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                if (attempt < MaxReadRetries && !ct.IsCancellationRequested && Provider.IsTransient(e))
                {
                    await Provider.BeforeRetryAsync(attempt, ct).ConfigureAwait(false);
                    continue;
                }
                if (Provider.Translate(e, trajectoryId) is { } fe) throw fe;
                throw;
            }
        }
        await using (conn!.ConfigureAwait(false))
        await using (cmd!.ConfigureAwait(false))
        await using (reader.ConfigureAwait(false))
        {
            while (true)
            {
                bool more;
                try { more = await reader.ReadAsync(ct).ConfigureAwait(false); }
                catch (Exception e) when (Provider.Translate(e, trajectoryId) is { } fe) { throw fe; }
                if (!more) break;
                yield return map(reader);
            }
        }
    }

    /// <summary>A query's rows as a list, mapped in column order (sequential access).</summary>
    internal Task<List<T>> ReadListAsync<T>(string sql, (string Name, object? Value)[] parameters, string? trajectoryId, Func<DbDataReader, T> map,
        CancellationToken cancellationToken)
        => ToListAsync(StreamAsync(sql, parameters, CommandBehavior.SequentialAccess, trajectoryId, map, cancellationToken));

    /// <summary>A hand-written command (the engine's readers; the tests' raw statements).</summary>
    internal static DbCommand Command(DbConnection conn, string sql, DbTransaction? tx = null)
    {
        var cmd = conn.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd;
    }

    internal static void Param(DbCommand cmd, string name, object? value)
    {
        var p = cmd.CreateParameter();
        p.ParameterName = name;
        p.Value = value ?? DBNull.Value;
        cmd.Parameters.Add(p);
    }
}

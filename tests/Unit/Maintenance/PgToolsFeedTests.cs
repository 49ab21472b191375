using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage.Postgres;
using Fle.Tests.Infrastructure;
using Npgsql;
using Xunit;

namespace Fle.Tests.Maintenance;

/// <summary>
/// psql with --single-transaction commits when its input ends: a restore whose script writer fails half-way (the backup
/// could not be read further, a check of it failed) must stop psql before the input is closed, so nothing is committed.
/// The real psql against the test server.
/// </summary>
[RequiresPostgres]
public sealed class PgToolsFeedTests
{
    [ContractTheory]
    [InlineData("io")]
    [InlineData("fle")]
    public async Task A_script_writer_that_fails_half_way_commits_nothing(string failure)
    {
        var cs = PostgresEnvironment.Require();
        var settings = FleSettingsResolver.Resolve(new FleSettingsOverrides { ConnectionString = cs, Environment = new Dictionary<string, string?>() });
        var psql = PgTools.Find("psql") ?? throw new InvalidOperationException("psql is needed for this test");
        var table = "fle_feed_probe_" + Guid.NewGuid().ToString("n")[..10];
        var args = PgTools.ConnectionArgs(settings);
        args.AddRange(["-X", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-q", "-f", "-"]);

        var e = await Assert.ThrowsAsync<FleException>(() => PgTools.RunAsync(psql, args, settings, FleErrorIds.RestoreFailed, "psql", CancellationToken.None,
            stdin: async (input, ct) =>
            {
                var sql = System.Text.Encoding.UTF8.GetBytes($"CREATE TABLE {table} (a int);\nINSERT INTO {table} VALUES (1);\n");
                await input.WriteAsync(sql, ct);
                await input.FlushAsync(ct);
                await Task.Delay(500, ct); // psql has run both statements, in its open transaction
                throw failure == "io"
                    ? new IOException("the backup file could not be read")
                    : new FleException(FleErrorIds.RestoreFailed, FleErrorKind.InvalidData, "the dump is cut short");
            }));
        Assert.Equal(FleErrorIds.RestoreFailed, e.ErrorId);
        if (failure == "io") Assert.Contains("nothing was committed", e.Message);

        await using var conn = new NpgsqlConnection(cs);
        await conn.OpenAsync();
        await using var cmd = new NpgsqlCommand("SELECT to_regclass(@t) IS NULL", conn);
        cmd.Parameters.AddWithValue("t", table);
        Assert.True((bool)(await cmd.ExecuteScalarAsync())!, $"psql committed {table} although its script was cut short");
    }
}

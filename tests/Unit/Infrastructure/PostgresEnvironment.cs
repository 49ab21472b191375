namespace Fle.Tests.Infrastructure;

/// <summary>
/// Where the PostgreSQL test server comes from: the environment variable FLE_TEST_PG, an Npgsql connection
/// string to a database on a server where the role may CREATE DATABASE. Nothing else is read.
/// </summary>
public static class PostgresEnvironment
{
    public const string Variable = "FLE_TEST_PG";

    public static string? ConnectionString
    {
        get
        {
            var v = Environment.GetEnvironmentVariable(Variable);
            return string.IsNullOrWhiteSpace(v) ? null : v;
        }
    }

    /// <summary>True when running in CI (CI=true or CI=1), where PostgreSQL tests must run, never be skipped.</summary>
    public static bool IsCi
    {
        get
        {
            var v = Environment.GetEnvironmentVariable("CI");
            return v is not null && (v.Equals("true", StringComparison.OrdinalIgnoreCase) || v == "1");
        }
    }

    /// <summary>Why PostgreSQL tests are skipped, or null when they run (or must fail because CI needs them).</summary>
    public static string? SkipReason => ConnectionString is null && !IsCi
        ? $"PostgreSQL tests skipped: {Variable} is not set (set it to an Npgsql connection string, e.g. " +
          $"'Host=127.0.0.1;Port=5432;Database=fle_database;Username=fle_user;Password=...', for a role with CREATEDB; with CI=true they fail instead)."
        : null;

    /// <summary>The connection string, or an exception that says why there is none (used when the tests must run).</summary>
    public static string Require() => ConnectionString ?? throw new InvalidOperationException(
        $"{Variable} is not set, but CI=true: the PostgreSQL contract tests must run in CI and cannot be skipped. " +
        $"Start a PostgreSQL server and set {Variable} to an Npgsql connection string (role with CREATEDB), " +
        "e.g. 'Host=127.0.0.1;Port=55433;Database=fle_database;Username=fle_user;Password=fle123'.");
}

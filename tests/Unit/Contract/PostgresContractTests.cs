using System.Net;
using System.Net.Sockets;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Npgsql;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Contract;

/// <summary>The contract on the PostgreSQL server of FLE_TEST_PG (a fresh database per test), plus connection failures.</summary>
[RequiresPostgres]
public sealed class PostgresContractTests(PostgresBackendFixture fixture) : StoreContractTests(fixture), IClassFixture<PostgresBackendFixture>
{
    private const string WrongPassword = "Wr0ng-S3cret-p4ss!";
    private PostgresTestDatabase Pg => (PostgresTestDatabase)Db;

    [ContractFact]
    public async Task The_store_is_a_PostgreSQL_store_on_the_test_database_and_schema()
    {
        Assert.Equal(FleBackend.Postgres, Store.Backend);
        Assert.IsType<Fle.Core.Storage.Postgres.PostgresProvider>(Store.Provider);
        Assert.EndsWith("/" + Pg.Database, Store.Location);
        Assert.Equal(Pg.Database, (string?)await Db.ScalarAsync("SELECT current_database()"));
        Assert.Equal(Pg.Schema, (string?)await Db.ScalarAsync("SELECT current_schema()"));
        Assert.Equal(5, await Db.CountAsync(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = @s AND table_name IN ('fle_schema_version', 'trajectories', 'steps', 'game_states', 'state_dictionaries')",
            ("@s", Pg.Schema)));
    }

    [ContractFact]
    public async Task Settings_from_SKILLS_DB_variables_open_the_server_and_create_the_schema_in_public()
    {
        // no Search Path here: the tables go where a user's would, in the public schema of the fixture's fresh database
        var b = fixture.ServerBuilder();
        var env = new Dictionary<string, string?>
        {
            ["FLE_DB_TYPE"] = "PostgreSQL",
            ["SKILLS_DB_HOST"] = b.Host, ["SKILLS_DB_PORT"] = b.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SKILLS_DB_NAME"] = Pg.Database, ["SKILLS_DB_USER"] = b.Username, ["SKILLS_DB_PASSWORD"] = b.Password,
        };
        await using var store = await FleStore.OpenAsync(new FleSettingsOverrides { Environment = env, WorkingDirectory = Db.Folder });
        Assert.Equal(FleBackend.Postgres, store.Backend);
        Assert.Equal(2, store.SchemaVersion);
        Assert.Equal($"{b.Username}@{b.Host}:{b.Port}/{Pg.Database}", store.Location);
        var t = await store.CreateTrajectoryAsync("via-env");
        await store.SaveCheckpointAsync(new FleStepInput { TrajectoryId = t.Id, StepNumber = 0, GameState = GameState(82, 0, 3_000) });

        Assert.Equal(1, await Db.CountAsync("SELECT COUNT(*) FROM public.trajectories WHERE id = @id", ("@id", t.Id)));
        Assert.Equal(2, await Db.CountAsync("SELECT MAX(version) FROM public.fle_schema_version"));
        Assert.Equal(2, await Db.CountAsync("SELECT COUNT(*) FROM public.fle_schema_version"));
        Assert.False(await Store.TrajectoryExistsAsync(t.Id)); // the test's own schema is separate
        if (!string.IsNullOrEmpty(b.Password))
        {
            Assert.DoesNotContain(b.Password, store.Settings.ToString());
            Assert.DoesNotContain(b.Password, store.ToString());
        }
    }

    [ContractFact]
    public async Task A_wrong_password_fails_with_AuthenticationFailed_without_showing_the_password()
    {
        var b = fixture.ServerBuilder();
        foreach (var overrides in new[]
        {
            new FleSettingsOverrides { Backend = FleBackend.Postgres, Host = b.Host, Port = b.Port, Database = Pg.Database, Username = b.Username, Password = WrongPassword },
            new FleSettingsOverrides { ConnectionString = new NpgsqlConnectionStringBuilder(fixture.ConnectionStringFor(Pg.Database)) { Password = WrongPassword }.ConnectionString },
        })
        {
            overrides.Environment = new Dictionary<string, string?>();
            overrides.WorkingDirectory = Db.Folder;
            var settings = FleSettingsResolver.Resolve(overrides);
            Assert.True(settings.HasPassword);
            Assert.DoesNotContain(WrongPassword, settings.ToString());
            Assert.DoesNotContain(WrongPassword, settings.Describe());

            var e = await ThrowsFle(FleErrorIds.AuthenticationFailed, () => FleStore.OpenAsync(settings));
            Assert.Equal(FleErrorKind.AuthenticationError, e.Kind);
            Assert.Contains(b.Username!, e.Message);
            Assert.DoesNotContain(WrongPassword, e.ToString());
            Assert.DoesNotContain(WrongPassword, e.Target?.ToString() ?? "");
            for (Exception? inner = e; inner is not null; inner = inner.InnerException)
                Assert.DoesNotContain(WrongPassword, inner.Message);
        }
    }

    [ContractFact]
    public async Task A_missing_database_fails_with_DatabaseUnavailable_naming_it()
    {
        var e = await ThrowsFle(FleErrorIds.DatabaseUnavailable, () => FleStore.OpenAsync(new FleSettingsOverrides
        {
            ConnectionString = fixture.ConnectionStringFor("fle_no_such_database_x"), Environment = new Dictionary<string, string?>(), WorkingDirectory = Db.Folder,
        }));
        Assert.Contains("fle_no_such_database_x", e.Message);
        var password = fixture.ServerBuilder().Password;
        if (!string.IsNullOrEmpty(password)) Assert.DoesNotContain(password, e.ToString());
    }

    [ContractFact]
    public async Task A_server_that_does_not_listen_fails_with_DatabaseUnavailable()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now
        var e = await ThrowsFle(FleErrorIds.DatabaseUnavailable, () => FleStore.OpenAsync(new FleSettingsOverrides
        {
            Backend = FleBackend.Postgres, Host = "127.0.0.1", Port = port, Database = "db", Username = "u", Password = WrongPassword,
            ConnectTimeoutSeconds = 2, Environment = new Dictionary<string, string?>(), WorkingDirectory = Db.Folder,
        }));
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        Assert.DoesNotContain(WrongPassword, e.ToString());
    }

    [ContractFact]
    public async Task Game_states_are_stored_as_bytea_and_metadata_as_jsonb()
    {
        var t = await NewTrajectoryAsync(metadataJson: """{"b":1,"a":{"c":[1,2]}}""");
        await CheckpointAsync(t.Id, 0, GameState(81, 0, 4_000));
        Assert.Equal("jsonb", (string?)await Db.ScalarAsync("SELECT pg_typeof(metadata)::text FROM trajectories LIMIT 1"));
        Assert.Equal("bytea", (string?)await Db.ScalarAsync("SELECT pg_typeof(state_data)::text FROM game_states LIMIT 1"));
        Assert.Equal(1, await Db.CountAsync("SELECT (metadata->'a'->'c'->>1)::int - 1 FROM trajectories"));
        Assert.Equal("timestamp with time zone", (string?)await Db.ScalarAsync("SELECT pg_typeof(start_time)::text FROM trajectories LIMIT 1"));
    }
}

using Fle.Core;
using Fle.Core.Configuration;
using Xunit;
using static Fle.Tests.Infrastructure.TestData;

namespace Fle.Tests.Settings;

/// <summary>Configuration: explicit parameters &gt; environment &gt; .env &gt; defaults, and the errors for bad input.
/// Every test passes its own environment dictionary and working directory; the process environment is never used.</summary>
public sealed class SettingsResolverTests : IDisposable
{
    private const string Secret = "pa55-Secr3t-zz9";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "fle-settings-" + Guid.NewGuid().ToString("N")[..12]);

    public SettingsResolverTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private FleSettings Resolve(Dictionary<string, string?>? env = null, Action<FleSettingsOverrides>? set = null)
    {
        var o = new FleSettingsOverrides { WorkingDirectory = _dir, Environment = env ?? [] };
        set?.Invoke(o);
        return FleSettingsResolver.Resolve(o);
    }

    private void WriteEnvFile(string text, string name = ".env") => File.WriteAllText(Path.Combine(_dir, name), text);

    private static Dictionary<string, string?> Pg(string? host = "db.example", string? name = "fle_database", string? user = "fle_user", string? port = null, string? password = Secret)
    {
        var env = new Dictionary<string, string?> { ["FLE_DB_TYPE"] = "postgres" };
        if (host is not null) env["SKILLS_DB_HOST"] = host;
        if (name is not null) env["SKILLS_DB_NAME"] = name;
        if (user is not null) env["SKILLS_DB_USER"] = user;
        if (port is not null) env["SKILLS_DB_PORT"] = port;
        if (password is not null) env["SKILLS_DB_PASSWORD"] = password;
        return env;
    }

    [Fact]
    public void Defaults_are_sqlite_at_dot_fle_data_db_under_the_working_directory()
    {
        var s = Resolve();
        Assert.Equal(FleBackend.Sqlite, s.Backend);
        Assert.Equal(Path.Combine(_dir, ".fle", "data.db"), s.SqlitePath);
        Assert.Equal(FleSettings.DefaultMaxStateBytes, s.MaxStateBytes);
        Assert.Equal(FleSettings.DefaultConnectTimeoutSeconds, s.ConnectTimeoutSeconds);
        Assert.Equal(s.SqlitePath, s.Describe());
        Assert.False(Directory.Exists(Path.Combine(_dir, ".fle")), "resolving settings must not create anything");
    }

    [Theory]
    [InlineData("sqlite", FleBackend.Sqlite)]
    [InlineData("SQLite", FleBackend.Sqlite)]
    [InlineData("SQLITE3", FleBackend.Sqlite)]
    [InlineData(" sqlite ", FleBackend.Sqlite)]
    [InlineData("", FleBackend.Sqlite)]
    [InlineData("postgres", FleBackend.Postgres)]
    [InlineData("Postgres", FleBackend.Postgres)]
    [InlineData("POSTGRESQL", FleBackend.Postgres)]
    [InlineData("PostgreSQL", FleBackend.Postgres)]
    public void FLE_DB_TYPE_is_case_insensitive(string value, FleBackend expected)
    {
        var env = Pg();
        env["FLE_DB_TYPE"] = value;
        Assert.Equal(expected, Resolve(env).Backend);
    }

    [Theory]
    [InlineData("mysql")]
    [InlineData("sqlite4")]
    [InlineData("pg")]
    public void An_unknown_FLE_DB_TYPE_fails_naming_the_variable_and_the_valid_values(string value)
    {
        var e = ThrowsFle(FleErrorIds.UnknownDatabaseType, () => Resolve(new() { ["FLE_DB_TYPE"] = value }));
        Assert.Equal(FleErrorKind.InvalidConfiguration, e.Kind);
        Assert.Contains("FLE_DB_TYPE", e.Message);
        Assert.Contains(value, e.Message);
        Assert.Contains("sqlite", e.Message);
        Assert.Contains("postgres", e.Message);

        // from a .env file as well
        WriteEnvFile($"FLE_DB_TYPE={value}\n");
        ThrowsFle(FleErrorIds.UnknownDatabaseType, () => Resolve());
    }

    [Fact]
    public void Postgres_without_host_name_and_user_fails_naming_every_missing_variable()
    {
        var e = ThrowsFle(FleErrorIds.MissingSetting, () => Resolve(new() { ["FLE_DB_TYPE"] = "postgres", ["SKILLS_DB_PASSWORD"] = Secret }));
        Assert.Contains("SKILLS_DB_HOST", e.Message);
        Assert.Contains("SKILLS_DB_NAME", e.Message);
        Assert.Contains("SKILLS_DB_USER", e.Message);
        Assert.DoesNotContain(Secret, e.Message);

        var one = ThrowsFle(FleErrorIds.MissingSetting, () => Resolve(Pg(user: null)));
        Assert.Contains("SKILLS_DB_USER", one.Message);
        Assert.DoesNotContain("SKILLS_DB_HOST", one.Message);
        Assert.DoesNotContain("SKILLS_DB_NAME", one.Message);

        // an empty value counts as missing
        ThrowsFle(FleErrorIds.MissingSetting, () => Resolve(Pg(host: "")));
        // and so does a connection string without a host
        ThrowsFle(FleErrorIds.MissingSetting, () => Resolve(set: o => o.ConnectionString = "Database=x;Username=y"));
    }

    [Fact]
    public void Postgres_settings_resolve_with_the_default_port_and_no_password_means_none()
    {
        var s = Resolve(Pg(password: null));
        Assert.Equal(FleBackend.Postgres, s.Backend);
        Assert.Equal("db.example", s.Host);
        Assert.Equal(5432, s.Port);
        Assert.Equal("fle_database", s.Database);
        Assert.Equal("fle_user", s.Username);
        Assert.False(s.HasPassword);
        Assert.Equal("fle_user@db.example:5432/fle_database", s.Describe());
        Assert.Equal(6543, Resolve(Pg(port: "6543")).Port);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("65536")]
    [InlineData("-1")]
    [InlineData("54 32")]
    [InlineData("5432.0")]
    [InlineData("+5432")]
    public void A_bad_port_fails_with_ConfigurationInvalid(string port)
    {
        var e = ThrowsFle(FleErrorIds.ConfigurationInvalid, () => Resolve(Pg(port: port)));
        Assert.Contains("SKILLS_DB_PORT", e.Message);
        Assert.Contains(port, e.Message);
        Assert.DoesNotContain(Secret, e.Message);
    }

    [Theory]
    [InlineData("FLE_MAX_STATE_BYTES", "0")]
    [InlineData("FLE_MAX_STATE_BYTES", "-5")]
    [InlineData("FLE_MAX_STATE_BYTES", "10MB")]
    [InlineData("FLE_DB_CONNECT_TIMEOUT", "0")]
    [InlineData("FLE_DB_CONNECT_TIMEOUT", "3601")]
    [InlineData("FLE_DB_CONNECT_TIMEOUT", "soon")]
    [InlineData("SKILLS_DB_SSLMODE", "sometimes")]
    public void Other_bad_values_fail_with_ConfigurationInvalid_naming_the_variable(string variable, string value)
    {
        var env = Pg();
        env[variable] = value;
        var e = ThrowsFle(FleErrorIds.ConfigurationInvalid, () => Resolve(env));
        Assert.Contains(variable, e.Message);
    }

    [Fact]
    public void Good_optional_values_are_read()
    {
        var env = Pg();
        env["FLE_MAX_STATE_BYTES"] = "1048576";
        env["FLE_DB_CONNECT_TIMEOUT"] = "17";
        env["SKILLS_DB_SSLMODE"] = "verify-full";
        var s = Resolve(env);
        Assert.Equal(1048576, s.MaxStateBytes);
        Assert.Equal(17, s.ConnectTimeoutSeconds);
        Assert.Equal("VerifyFull", s.SslMode);
        Assert.Equal("Require", Resolve(Pg(), o => o.SslMode = "require").SslMode);
    }

    [Fact]
    public void Explicit_values_beat_the_environment_which_beats_the_env_file()
    {
        WriteEnvFile("""
            # settings for the lab machine
            FLE_DB_TYPE=postgres
            SKILLS_DB_HOST=file-host
            SKILLS_DB_PORT=1111
            SKILLS_DB_NAME=file_db
            SKILLS_DB_USER=file_user
            SKILLS_DB_PASSWORD=file-password
            SQLITE_DB_FILE=from-file.db
            """);

        // .env alone
        var fromFile = Resolve();
        Assert.Equal(FleBackend.Postgres, fromFile.Backend);
        Assert.Equal(("file-host", 1111, "file_db", "file_user"), (fromFile.Host, fromFile.Port, fromFile.Database, fromFile.Username));
        Assert.True(fromFile.HasPassword);
        Assert.Contains(Path.Combine(_dir, ".env"), fromFile.Source);

        // the environment wins over the file, variable by variable
        var env = new Dictionary<string, string?> { ["SKILLS_DB_HOST"] = "env-host", ["SKILLS_DB_PORT"] = "2222" };
        var fromEnv = Resolve(env);
        Assert.Equal(("env-host", 2222, "file_db", "file_user"), (fromEnv.Host, fromEnv.Port, fromEnv.Database, fromEnv.Username));

        // explicit values win over both
        var explicitly = Resolve(env, o => { o.Host = "param-host"; o.Port = 3333; o.Database = "param_db"; });
        Assert.Equal(("param-host", 3333, "param_db", "file_user"), (explicitly.Host, explicitly.Port, explicitly.Database, explicitly.Username));

        // FLE_DB_TYPE from the environment beats the file's
        var sqlite = Resolve(new() { ["FLE_DB_TYPE"] = "sqlite" });
        Assert.Equal(FleBackend.Sqlite, sqlite.Backend);
        Assert.Equal(Path.Combine(_dir, "from-file.db"), sqlite.SqlitePath);
        Assert.Equal(Path.Combine(_dir, "from-env.db"), Resolve(new() { ["FLE_DB_TYPE"] = "sqlite", ["SQLITE_DB_FILE"] = "from-env.db" }).SqlitePath);
        Assert.Equal(Path.Combine(_dir, "param.db"),
            Resolve(new() { ["FLE_DB_TYPE"] = "sqlite", ["SQLITE_DB_FILE"] = "from-env.db" }, o => o.SqlitePath = "param.db").SqlitePath);

        // and an explicit backend beats both
        Assert.Equal(FleBackend.Sqlite, Resolve(set: o => o.Backend = FleBackend.Sqlite).Backend);
        // an empty environment value does not hide the file's
        Assert.Equal("file-host", Resolve(new() { ["SKILLS_DB_HOST"] = "" }).Host);
    }

    [Fact]
    public void An_explicit_env_file_is_read_relative_to_the_working_directory_and_must_exist()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "conf"));
        WriteEnvFile("SQLITE_DB_FILE=/abs/elsewhere.db\n", Path.Combine("conf", "lab.env"));
        WriteEnvFile("SQLITE_DB_FILE=ignored.db\n");
        Assert.Equal("/abs/elsewhere.db", Resolve(set: o => o.EnvFile = "conf/lab.env").SqlitePath);

        var e = ThrowsFle(FleErrorIds.EnvFileNotFound, () => Resolve(set: o => o.EnvFile = "conf/missing.env"));
        Assert.Contains("missing.env", e.Message);
    }

    [Fact]
    public void Reading_an_env_file_does_not_change_the_process_environment()
    {
        var unique = "FLE_UNIT_" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        Assert.Null(Environment.GetEnvironmentVariable(unique));
        var hostBefore = Environment.GetEnvironmentVariable("SKILLS_DB_HOST");
        var typeBefore = Environment.GetEnvironmentVariable("FLE_DB_TYPE");
        WriteEnvFile($"{unique}=set-by-dotenv\nFLE_DB_TYPE=postgres\nSKILLS_DB_HOST=dotenv-host\nSKILLS_DB_NAME=n\nSKILLS_DB_USER=u\n");

        var s = Resolve();
        Assert.Equal("dotenv-host", s.Host);
        var (values, path) = FleSettingsResolver.ReadEnvFile(null, _dir);
        Assert.Equal("set-by-dotenv", values[unique]);
        Assert.Equal(Path.Combine(_dir, ".env"), path);

        Assert.Null(Environment.GetEnvironmentVariable(unique));
        Assert.Equal(hostBefore, Environment.GetEnvironmentVariable("SKILLS_DB_HOST"));
        Assert.Equal(typeBefore, Environment.GetEnvironmentVariable("FLE_DB_TYPE"));
    }

    [Fact]
    public void Env_file_syntax_quotes_comments_and_export_are_understood()
    {
        WriteEnvFile("# comment\n\nexport FLE_DB_TYPE=\"postgres\"\nSKILLS_DB_HOST='quoted host'\r\nSKILLS_DB_NAME=fle_database # trailing comment\nSKILLS_DB_USER=fle_user\nSKILLS_DB_PASSWORD=\"p#ss word\"\n");
        var s = Resolve();
        Assert.Equal(FleBackend.Postgres, s.Backend);
        Assert.Equal("quoted host", s.Host);
        Assert.Equal("fle_database", s.Database);
        Assert.Equal("fle_user", s.Username);
        Assert.Equal("p#ss word", s.Password);
    }

    [Theory]
    [InlineData("FLE_DB_TYPE=sqlite\nSKILLS_DB_HOST=h\nthis line has no equals sign {0}\n", 3)]
    [InlineData("=value-without-name-{0}\n", 1)]
    [InlineData("# ok\nFLE_DB_TYPE=sqlite\n\n\n9BAD=name-starts-with-digit-{0}\n", 5)]
    [InlineData("BAD NAME=spaces-in-name-{0}\n", 1)]
    public void A_malformed_env_line_fails_with_EnvFileInvalid_naming_the_line_but_not_its_content(string template, int line)
    {
        var token = "tok" + Guid.NewGuid().ToString("N")[..8];
        WriteEnvFile(string.Format(System.Globalization.CultureInfo.InvariantCulture, template, token));
        var e = ThrowsFle(FleErrorIds.EnvFileInvalid, () => Resolve());
        Assert.Contains($"line {line}", e.Message);
        Assert.Contains(Path.Combine(_dir, ".env"), e.Message);
        Assert.DoesNotContain(token, e.Message);
        Assert.DoesNotContain(token, e.RecommendedAction ?? "");
    }

    [Fact]
    public void An_unclosed_quote_in_the_env_file_fails_with_EnvFileInvalid()
    {
        WriteEnvFile("SKILLS_DB_PASSWORD=\"" + Secret + "\nFLE_DB_TYPE=sqlite\n");
        var e = ThrowsFle(FleErrorIds.EnvFileInvalid, () => Resolve());
        Assert.DoesNotContain(Secret, e.Message);
    }

    [Fact]
    public void The_password_never_appears_in_ToString_Describe_or_errors()
    {
        var s = Resolve(Pg());
        Assert.True(s.HasPassword);
        Assert.DoesNotContain(Secret, s.ToString());
        Assert.DoesNotContain(Secret, s.Describe());
        Assert.DoesNotContain(Secret, s.Source);

        var cs = Resolve(set: o => o.ConnectionString = $"Host=h;Port=5433;Database=d;Username=u;Password={Secret}");
        Assert.Equal(FleBackend.Postgres, cs.Backend);
        Assert.True(cs.HasPassword);
        Assert.Equal("u@h:5433/d", cs.Describe());
        Assert.DoesNotContain(Secret, cs.ToString());

        // a connection string that cannot be parsed is not quoted back
        var bad = ThrowsFle(FleErrorIds.ConfigurationInvalid, () => Resolve(set: o => o.ConnectionString = $"Host=h;Password={Secret};NoSuchKeyword=1"));
        Assert.DoesNotContain(Secret, bad.ToString());

        // nor in the missing-setting or port errors, and not in a .env parse error
        Assert.DoesNotContain(Secret, ThrowsFle(FleErrorIds.MissingSetting, () => Resolve(Pg(host: null))).ToString());
        WriteEnvFile($"SKILLS_DB_PASSWORD={Secret}\nnot a line {Secret}\n");
        Assert.DoesNotContain(Secret, ThrowsFle(FleErrorIds.EnvFileInvalid, () => Resolve()).ToString());
    }

    [Fact]
    public void A_connection_string_selects_postgres_even_when_FLE_DB_TYPE_says_sqlite()
    {
        var s = Resolve(new() { ["FLE_DB_TYPE"] = "sqlite" }, o => o.ConnectionString = "Host=h;Database=d;Username=u");
        Assert.Equal(FleBackend.Postgres, s.Backend);
        Assert.Equal(("h", 5432, "d", "u"), (s.Host, s.Port, s.Database, s.Username));
        Assert.False(s.HasPassword);
    }
}

using System.Globalization;
using System.Text;

namespace Fle.Core.Configuration;

/// <summary>The two storage backends.</summary>
public enum FleBackend
{
    Sqlite,
    Postgres,
}

/// <summary>
/// Resolved connection settings. Immutable; the password is never part of <see cref="ToString"/>,
/// <see cref="Describe"/> or any exception message.
/// </summary>
public sealed class FleSettings
{
    public const string DefaultSqliteFile = ".fle/data.db";
    public const int DefaultPort = 5432;
    public const int DefaultConnectTimeoutSeconds = 5;
    public const long DefaultMaxStateBytes = 256L * 1024 * 1024;

    public FleBackend Backend { get; init; } = FleBackend.Sqlite;

    /// <summary>Full path of the SQLite file (already resolved against the working directory).</summary>
    public string SqlitePath { get; init; } = Path.GetFullPath(DefaultSqliteFile);

    public string? Host { get; init; }
    public int Port { get; init; } = DefaultPort;
    public string? Database { get; init; }
    public string? Username { get; init; }

    /// <summary>The password; only the storage layer reads it. Null means "use PGPASSFILE / trust".</summary>
    internal string? Password { get; init; }

    /// <summary>True when a password was given (the value itself is never shown).</summary>
    public bool HasPassword => !string.IsNullOrEmpty(Password);

    /// <summary>PostgreSQL SSL mode (Disable, Allow, Prefer, Require, VerifyCA, VerifyFull).</summary>
    public string? SslMode { get; init; }

    /// <summary>
    /// PEM file (one certificate or a bundle) of the certificate authorities that may sign the PostgreSQL server's
    /// certificate; with VerifyCA or VerifyFull the server must present one signed by them (managed servers publish theirs).
    /// </summary>
    public string? SslRootCertificate { get; init; }

    /// <summary>A raw PostgreSQL connection string, when given instead of host/port/...</summary>
    internal string? ConnectionString { get; init; }

    /// <summary>Seconds to wait for a server before failing.</summary>
    public int ConnectTimeoutSeconds { get; init; } = DefaultConnectTimeoutSeconds;

    /// <summary>Seconds SQLite waits on a locked database before retrying.</summary>
    public int BusyTimeoutSeconds { get; init; } = 30;

    /// <summary>Largest game state accepted, in bytes.</summary>
    public long MaxStateBytes { get; init; } = DefaultMaxStateBytes;

    /// <summary>Where the settings came from (parameters, environment, a .env path).</summary>
    public string Source { get; init; } = "defaults";

    public FleSettings With(Func<FleSettings, FleSettings> change) => change(this);

    /// <summary>A location string without any secret: a file path or host:port/database.</summary>
    public string Describe() => Backend switch
    {
        FleBackend.Sqlite => SqlitePath,
        _ => ConnectionString is not null
            ? RedactedConnectionString()
            : $"{Username}@{Host}:{Port.ToString(CultureInfo.InvariantCulture)}/{Database}",
    };

    public override string ToString() => $"{Backend}: {Describe()}";

    internal string RedactedConnectionString()
    {
        try
        {
            var b = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
            return $"{b.Username}@{b.Host}:{b.Port.ToString(CultureInfo.InvariantCulture)}/{b.Database}";
        }
        catch (Exception)
        {
            return "(connection string)";
        }
    }
}

/// <summary>
/// Explicit values a caller passes (cmdlet parameters). Null means "not given":
/// the process environment, then the .env file, then defaults fill the gap.
/// </summary>
public sealed class FleSettingsOverrides
{
    public FleBackend? Backend { get; set; }
    public string? SqlitePath { get; set; }
    public string? Host { get; set; }
    public int? Port { get; set; }
    public string? Database { get; set; }
    public string? Username { get; set; }
    public string? Password { get; set; }
    public string? SslMode { get; set; }

    /// <summary>PEM file of trusted certificate authorities (SKILLS_DB_SSLROOTCERT).</summary>
    public string? SslRootCertificate { get; set; }
    public string? ConnectionString { get; set; }
    public int? ConnectTimeoutSeconds { get; set; }
    public long? MaxStateBytes { get; set; }

    /// <summary>Path of a .env file; when null, <c>.env</c> in the working directory is read if present.</summary>
    public string? EnvFile { get; set; }

    /// <summary>The working directory relative paths resolve against.</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>Environment to read; null reads the process environment. Tests pass their own.</summary>
    public IDictionary<string, string?>? Environment { get; set; }
}

/// <summary>Resolves settings: explicit parameters &gt; process environment &gt; .env &gt; defaults.</summary>
public static class FleSettingsResolver
{
    public const string DbTypeVariable = "FLE_DB_TYPE";
    public const string SqliteFileVariable = "SQLITE_DB_FILE";
    public const string HostVariable = "SKILLS_DB_HOST";
    public const string PortVariable = "SKILLS_DB_PORT";
    public const string NameVariable = "SKILLS_DB_NAME";
    public const string UserVariable = "SKILLS_DB_USER";
    public const string PasswordVariable = "SKILLS_DB_PASSWORD";
    public const string SslModeVariable = "SKILLS_DB_SSLMODE";
    public const string SslRootCertVariable = "SKILLS_DB_SSLROOTCERT";
    public const string TimeoutVariable = "FLE_DB_CONNECT_TIMEOUT";
    public const string MaxStateVariable = "FLE_MAX_STATE_BYTES";

    private static readonly string[] KnownSslModes = ["Disable", "Allow", "Prefer", "Require", "VerifyCA", "VerifyFull"];

    /// <summary>Resolve the settings for the backend named by the sources.</summary>
    public static FleSettings Resolve(FleSettingsOverrides? overrides = null) => Resolve(overrides, forceBackend: null);

    /// <summary>
    /// Resolve settings, forcing the backend (used by <c>Import-FleData -Target Postgres</c>, which reads the
    /// SKILLS_DB_* settings even while FLE_DB_TYPE says sqlite).
    /// </summary>
    public static FleSettings Resolve(FleSettingsOverrides? overrides, FleBackend? forceBackend)
    {
        overrides ??= new FleSettingsOverrides();
        var cwd = overrides.WorkingDirectory ?? Directory.GetCurrentDirectory();
        var (fileValues, envPath) = ReadEnvFile(overrides.EnvFile, cwd);
        var processEnv = overrides.Environment;

        string? Get(string name)
        {
            var fromProcess = processEnv is not null
                ? (processEnv.TryGetValue(name, out var v) ? v : null)
                : System.Environment.GetEnvironmentVariable(name);
            if (!string.IsNullOrEmpty(fromProcess)) return fromProcess;
            return fileValues.TryGetValue(name, out var f) && !string.IsNullOrEmpty(f) ? f : null;
        }

        var source = overrides.EnvFile is not null || envPath is not null
            ? $"parameters, environment, {envPath}"
            : "parameters, environment";

        FleBackend backend;
        string selectedBy;
        if (forceBackend is { } forced) { backend = forced; selectedBy = "as the target"; }
        else if (overrides.Backend is { } b) { backend = b; selectedBy = "explicitly"; }
        else if (!string.IsNullOrEmpty(overrides.ConnectionString)) { backend = FleBackend.Postgres; selectedBy = "by the connection string"; }
        else { backend = ParseBackend(Get(DbTypeVariable)); selectedBy = $"by {DbTypeVariable}=postgres"; }

        var maxState = overrides.MaxStateBytes ?? ParseLong(Get(MaxStateVariable), MaxStateVariable) ?? FleSettings.DefaultMaxStateBytes;
        if (maxState <= 0)
            throw Invalid(MaxStateVariable, "must be a positive number of bytes");
        var timeout = overrides.ConnectTimeoutSeconds ?? ParseInt(Get(TimeoutVariable), TimeoutVariable) ?? FleSettings.DefaultConnectTimeoutSeconds;
        if (timeout is < 1 or > 3600)
            throw Invalid(TimeoutVariable, "must be between 1 and 3600 seconds");

        if (backend == FleBackend.Sqlite)
        {
            var file = overrides.SqlitePath ?? Get(SqliteFileVariable) ?? FleSettings.DefaultSqliteFile;
            if (string.IsNullOrWhiteSpace(file))
                throw Invalid(SqliteFileVariable, "is empty; give a file path such as .fle/data.db");
            string full;
            try { full = Path.GetFullPath(ExpandHome(file), cwd); }
            catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
            {
                throw new FleException(FleErrorIds.ConfigurationInvalid, FleErrorKind.InvalidConfiguration,
                    $"{SqliteFileVariable} '{file}' is not a valid path: {e.Message}", e, file);
            }
            return new FleSettings
            {
                Backend = FleBackend.Sqlite, SqlitePath = full, MaxStateBytes = maxState,
                ConnectTimeoutSeconds = timeout, Source = source,
            };
        }

        var sslRaw = overrides.SslMode ?? Get(SslModeVariable);
        string? ssl = null;
        if (!string.IsNullOrEmpty(sslRaw))
        {
            ssl = KnownSslModes.FirstOrDefault(m => string.Equals(m, sslRaw.Replace("-", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase))
                ?? throw Invalid(SslModeVariable, $"is '{sslRaw}'; valid values are {string.Join(", ", KnownSslModes)}");
        }

        var rootCert = RootCertificate(overrides.SslRootCertificate ?? Get(SslRootCertVariable), cwd);

        if (!string.IsNullOrEmpty(overrides.ConnectionString))
            return FromConnectionString(overrides.ConnectionString, overrides.Password, ssl, rootCert, timeout, maxState, source);

        var host = overrides.Host ?? Get(HostVariable);
        var portText = overrides.Port?.ToString(CultureInfo.InvariantCulture) ?? Get(PortVariable);
        var name = overrides.Database ?? Get(NameVariable);
        var user = overrides.Username ?? Get(UserVariable);
        var password = overrides.Password ?? Get(PasswordVariable);

        var missing = new List<string>();
        if (string.IsNullOrEmpty(host)) missing.Add(HostVariable);
        if (string.IsNullOrEmpty(name)) missing.Add(NameVariable);
        if (string.IsNullOrEmpty(user)) missing.Add(UserVariable);
        if (missing.Count > 0)
        {
            throw new FleException(FleErrorIds.MissingSetting, FleErrorKind.InvalidConfiguration,
                $"PostgreSQL is selected ({selectedBy}) but {string.Join(", ", missing)} " +
                $"{(missing.Count == 1 ? "is" : "are")} not set. Set {string.Join(", ", missing)} in the environment or .env " +
                $"(and {PasswordVariable} unless PGPASSFILE holds it), or give the server, database and user explicitly.",
                target: string.Join(",", missing))
            { RecommendedAction = $"Add the missing variables to .env, or set {DbTypeVariable}=sqlite for the embedded default." };
        }

        int port = FleSettings.DefaultPort;
        if (!string.IsNullOrEmpty(portText))
        {
            if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
                throw Invalid(PortVariable, $"is '{portText}'; it must be a whole number from 1 to 65535");
        }

        return new FleSettings
        {
            Backend = FleBackend.Postgres, Host = host, Port = port, Database = name, Username = user,
            Password = string.IsNullOrEmpty(password) ? null : password, SslMode = ssl, SslRootCertificate = rootCert,
            ConnectTimeoutSeconds = timeout, MaxStateBytes = maxState, Source = source,
        };
    }

    /// <summary>
    /// Settings from a PostgreSQL connection string. A method of its own so that resolving SQLite settings never
    /// compiles code that names Npgsql's types: a session that only uses SQLite does not load Npgsql.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static FleSettings FromConnectionString(string connectionString, string? password, string? ssl, string? rootCert, int timeout, long maxState, string source)
    {
        Npgsql.NpgsqlConnectionStringBuilder csb;
        try { csb = new Npgsql.NpgsqlConnectionStringBuilder(connectionString); }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            // The message of the parser may quote the string: do not pass it on.
            throw new FleException(FleErrorIds.ConfigurationInvalid, FleErrorKind.InvalidConfiguration,
                "The PostgreSQL connection string could not be parsed; use the form 'Host=h;Port=5432;Database=d;Username=u;Password=p'.");
        }
        if (string.IsNullOrEmpty(csb.Host))
            throw new FleException(FleErrorIds.MissingSetting, FleErrorKind.InvalidConfiguration,
                "The PostgreSQL connection string has no Host.");
        return new FleSettings
        {
            Backend = FleBackend.Postgres, ConnectionString = connectionString,
            Host = csb.Host, Port = csb.Port, Database = csb.Database, Username = csb.Username,
            Password = password ?? csb.Password, SslMode = ssl, SslRootCertificate = rootCert ?? csb.RootCertificate,
            ConnectTimeoutSeconds = timeout, MaxStateBytes = maxState, Source = source,
        };
    }

    /// <summary>The root certificate file, resolved and checked: it must exist and hold at least one PEM certificate.</summary>
    private static string? RootCertificate(string? value, string cwd)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        string full;
        try { full = Path.GetFullPath(ExpandHome(value.Trim()), cwd); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw Invalid(SslRootCertVariable, $"'{value}' is not a valid path: {e.Message}");
        }
        if (!File.Exists(full))
            throw new FleException(FleErrorIds.ConfigurationInvalid, FleErrorKind.InvalidConfiguration,
                $"The root certificate file '{full}' ({SslRootCertVariable}) does not exist. Download your server's CA bundle " +
                "(managed services publish it) and give its path.", target: full);
        try
        {
            var certs = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
            certs.ImportFromPemFile(full);
            if (certs.Count == 0) throw new System.Security.Cryptography.CryptographicException("no certificate in it");
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new FleException(FleErrorIds.ConfigurationInvalid, FleErrorKind.InvalidConfiguration,
                $"The root certificate file '{full}' is not a PEM certificate or bundle ({e.Message}). Give the CA certificate(s) in PEM form (-----BEGIN CERTIFICATE-----).",
                e, full);
        }
        return full;
    }

    /// <summary>Parse FLE_DB_TYPE; null or empty means SQLite.</summary>
    public static FleBackend ParseBackend(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return FleBackend.Sqlite;
        var v = value.Trim();
        if (v.Equals("sqlite", StringComparison.OrdinalIgnoreCase) || v.Equals("sqlite3", StringComparison.OrdinalIgnoreCase))
            return FleBackend.Sqlite;
        if (v.Equals("postgres", StringComparison.OrdinalIgnoreCase) || v.Equals("postgresql", StringComparison.OrdinalIgnoreCase))
            return FleBackend.Postgres;
        throw new FleException(FleErrorIds.UnknownDatabaseType, FleErrorKind.InvalidConfiguration,
            $"{DbTypeVariable} is '{value}', which is not a known database type. Valid values are 'sqlite' (the default) and 'postgres'.",
            target: DbTypeVariable);
    }

    /// <summary>
    /// Read a .env file into a dictionary without touching the process environment.
    /// An explicit path that does not exist is an error; the implicit ./.env is optional.
    /// </summary>
    public static (IReadOnlyDictionary<string, string> Values, string? Path) ReadEnvFile(string? explicitPath, string cwd)
    {
        string path;
        if (explicitPath is not null)
        {
            path = System.IO.Path.GetFullPath(ExpandHome(explicitPath), cwd);
            if (!File.Exists(path))
                throw new FleException(FleErrorIds.EnvFileNotFound, FleErrorKind.InvalidConfiguration,
                    $"The .env file '{path}' does not exist.", target: path);
        }
        else
        {
            path = System.IO.Path.Combine(cwd, ".env");
            if (!File.Exists(path)) return (new Dictionary<string, string>(), null);
        }

        var text = ReadUtf8Strict(path);
        ValidateEnvText(text, path);
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            // NoEnvVars: parse only; the process environment is left as it was.
            // NoClobber is irrelevant without setting; interpolation reads from earlier lines of the file.
            foreach (var kv in DotNetEnv.Env.LoadContents(text, DotNetEnv.Env.NoEnvVars()))
                result[kv.Key] = kv.Value;
        }
        catch (Exception e) when (e is not FleException)
        {
            throw new FleException(FleErrorIds.EnvFileInvalid, FleErrorKind.InvalidConfiguration,
                $"The .env file '{path}' could not be parsed ({e.GetType().Name}). Each line must be NAME=value or a # comment.",
                target: path);
        }
        return (result, path);
    }

    /// <summary>
    /// The file as UTF-8; invalid bytes are an error naming the line (a Latin-1 password would otherwise turn into
    /// U+FFFD silently and fail later as a wrong password).
    /// </summary>
    private static string ReadUtf8Strict(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        try
        {
            return FleText.StrictUtf8.GetString(bytes, start, bytes.Length - start);
        }
        catch (DecoderFallbackException)
        {
            var line = 1;
            for (int i = start, lineStart = start; i <= bytes.Length; i++)
            {
                if (i < bytes.Length && bytes[i] != (byte)'\n') continue;
                try { FleText.StrictUtf8.GetString(bytes, lineStart, i - lineStart); }
                catch (DecoderFallbackException) { break; }
                line++;
                lineStart = i + 1;
            }
            throw new FleException(FleErrorIds.EnvFileInvalid, FleErrorKind.InvalidConfiguration,
                $"The .env file '{path}' is not valid UTF-8 (line {line}). Save it as UTF-8.", target: $"{path}:{line}")
            { RecommendedAction = $"Re-save {path} as UTF-8, or fix line {line}." };
        }
    }

    /// <summary>Line-level check before DotNetEnv parses, so the error names the line (never its value).</summary>
    private static void ValidateEnvText(string text, string path)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var inQuote = '\0';
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (inQuote != '\0')
            {
                if (CountUnescaped(line, inQuote) % 2 == 1) inQuote = '\0';
                continue;
            }
            if (line.Length == 0 || line[0] == '#') continue;
            if (line.StartsWith("export ", StringComparison.Ordinal)) line = line[7..].TrimStart();
            var eq = line.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? line : line[..eq].Trim();
            if (eq <= 0 || !IsValidName(name))
            {
                throw new FleException(FleErrorIds.EnvFileInvalid, FleErrorKind.InvalidConfiguration,
                    $"The .env file '{path}' has a malformed line {i + 1}: expected NAME=value (letters, digits and _ in the name) or a # comment.",
                    target: $"{path}:{i + 1}")
                { RecommendedAction = $"Fix or remove line {i + 1} of {path}." };
            }
            var value = line[(eq + 1)..].TrimStart();
            if (value.Length > 0 && (value[0] == '"' || value[0] == '\'') && CountUnescaped(value[1..], value[0]) % 2 == 0)
                inQuote = value[0];
        }
        if (inQuote != '\0')
            throw new FleException(FleErrorIds.EnvFileInvalid, FleErrorKind.InvalidConfiguration,
                $"The .env file '{path}' has a quoted value that is never closed.", target: path);
    }

    private static int CountUnescaped(string s, char q)
    {
        var n = 0;
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && q == '"') { i++; continue; }
            if (s[i] == q) n++;
        }
        return n;
    }

    private static bool IsValidName(string name)
        => name.Length > 0 && !char.IsDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '.');

    private static string ExpandHome(string path)
    {
        if (path == "~") return System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile);
        if (path.StartsWith("~/", StringComparison.Ordinal) || path.StartsWith("~\\", StringComparison.Ordinal))
            return System.IO.Path.Combine(System.Environment.GetFolderPath(System.Environment.SpecialFolder.UserProfile), path[2..]);
        return path;
    }

    private static FleException Invalid(string variable, string problem)
        => new(FleErrorIds.ConfigurationInvalid, FleErrorKind.InvalidConfiguration, $"{variable} {problem}.", target: variable);

    private static int? ParseInt(string? text, string variable)
    {
        if (string.IsNullOrEmpty(text)) return null;
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v : throw Invalid(variable, $"is '{text}'; it must be a whole number");
    }

    private static long? ParseLong(string? text, string variable)
    {
        if (string.IsNullOrEmpty(text)) return null;
        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
            ? v : throw Invalid(variable, $"is '{text}'; it must be a whole number");
    }
}

using System.Management.Automation;
using System.Net;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>get_db_client(): open the Fle database and make it the session's connection.</summary>
[Cmdlet(VerbsCommunications.Connect, "FleDatabase", DefaultParameterSetName = FromSettings)]
[OutputType(typeof(FleConnection))]
public sealed class ConnectFleDatabaseCommand : FleCmdletBase
{
    private const string FromSettings = "Settings";
    private const string FromConnectionString = "ConnectionString";

    /// <summary>A .env file to read instead of ./.env.</summary>
    [Parameter(ParameterSetName = FromSettings)]
    [ValidateNotNullOrEmpty]
    public string? EnvFile { get; set; }

    /// <summary>Sqlite or Postgres; overrides FLE_DB_TYPE.</summary>
    [Parameter(ParameterSetName = FromSettings)]
    public FleBackend? Type { get; set; }

    /// <summary>The SQLite file; overrides SQLITE_DB_FILE.</summary>
    [Parameter(ParameterSetName = FromSettings)]
    [ValidateNotNullOrEmpty]
    [Alias("SqlitePath", "FilePath")]
    public string? Path { get; set; }

    /// <summary>PostgreSQL host; overrides SKILLS_DB_HOST.</summary>
    [Parameter(ParameterSetName = FromSettings)]
    [ValidateNotNullOrEmpty]
    [Alias("Host", "ComputerName")]
    public string? Server { get; set; }

    /// <summary>PostgreSQL port; overrides SKILLS_DB_PORT.</summary>
    [Parameter(ParameterSetName = FromSettings)]
    [ValidateRange(1, 65535)]
    public int? Port { get; set; }

    /// <summary>PostgreSQL database; overrides SKILLS_DB_NAME.</summary>
    [Parameter(ParameterSetName = FromSettings)]
    [ValidateNotNullOrEmpty]
    public string? Database { get; set; }

    /// <summary>PostgreSQL user and password; overrides SKILLS_DB_USER and SKILLS_DB_PASSWORD.</summary>
    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>A full Npgsql connection string (selects PostgreSQL).</summary>
    [Parameter(ParameterSetName = FromConnectionString, Mandatory = true)]
    [ValidateNotNullOrEmpty]
    public string? ConnectionString { get; set; }

    /// <summary>PostgreSQL SSL mode for managed servers.</summary>
    [Parameter]
    [ValidateSet("Disable", "Allow", "Prefer", "Require", "VerifyCA", "VerifyFull")]
    public string? SslMode { get; set; }

    /// <summary>
    /// PEM file (a certificate or a bundle) of the authorities that sign the server's certificate; overrides
    /// SKILLS_DB_SSLROOTCERT. Use it with -SslMode VerifyFull for managed servers.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [Alias("SslRootCert")]
    public string? RootCertificate { get; set; }

    /// <summary>Seconds to wait for the server before failing (default 5).</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int? ConnectTimeout { get; set; }

    /// <summary>Return the connection object (to pass to -Connection).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Open the connection without making it the session's default.</summary>
    [Parameter]
    public SwitchParameter NoDefault { get; set; }

    protected override void EndProcessing()
    {
        var overrides = BuildOverrides(this, CurrentDirectory, EnvFile is null ? null : ResolvePath(EnvFile), Path is null ? null : ResolvePath(Path));
        overrides.Backend = Type;
        overrides.Host = Server;
        overrides.Port = Port;
        overrides.Database = Database;
        overrides.ConnectionString = ConnectionString;
        var settings = Run(_ => Task.FromResult(FleSettingsResolver.Resolve(overrides)));
        WriteVerbose($"Connecting to the {settings.Backend} database {settings.Describe()} (settings from {settings.Source}).");
        var store = Run(ct => FleStore.OpenAsync(settings, ct));
        var conn = new FleConnection(store, implicitlyOpened: false);
        WriteVerbose($"Connected: schema version {store.SchemaVersion}.");
        conn.HandedOut = PassThru || NoDefault;
        if (!NoDefault) FleSession.SetDefault(conn);
        if (conn.HandedOut) WriteObject(conn);
    }

    internal static FleSettingsOverrides BuildOverrides(FleCmdletBase cmdlet, string cwd, string? envFile, string? sqlitePath)
    {
        var o = new FleSettingsOverrides { WorkingDirectory = cwd, EnvFile = envFile, SqlitePath = sqlitePath };
        if (cmdlet.MyInvocation.BoundParameters.TryGetValue(nameof(Credential), out var c) && c is PSCredential cred)
        {
            o.Username = cred.UserName;
            var pw = cred.GetNetworkCredential().Password;
            o.Password = string.IsNullOrEmpty(pw) ? null : pw;
        }
        if (cmdlet.MyInvocation.BoundParameters.TryGetValue(nameof(SslMode), out var ssl)) o.SslMode = ssl as string;
        if (cmdlet.MyInvocation.BoundParameters.TryGetValue(nameof(RootCertificate), out var root) && root is string r)
            o.SslRootCertificate = cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(r);
        if (cmdlet.MyInvocation.BoundParameters.TryGetValue(nameof(ConnectTimeout), out var t)) o.ConnectTimeoutSeconds = (int)t;
        return o;
    }
}

/// <summary>Close the session's connection (or the one given).</summary>
[Cmdlet(VerbsCommunications.Disconnect, "FleDatabase")]
[OutputType(typeof(void))]
public sealed class DisconnectFleDatabaseCommand : FleCmdletBase
{
    /// <summary>The connection to close; default: the session's.</summary>
    [Parameter(ValueFromPipeline = true, Position = 0)]
    [ValidateNotNull]
    public FleConnection? Connection { get; set; }

    protected override void ProcessRecord()
    {
        var session = FleSession.Default;
        var target = Connection ?? session;
        if (target is null)
        {
            WriteVerbose("No Fle connection is open.");
            return;
        }
        WriteVerbose($"Closing {target}.");
        if (ReferenceEquals(target, session)) FleSession.SetDefault(null);
        target.Dispose();
    }
}

using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Runtime.CompilerServices;
using Fle.Core.Configuration;
using Fle.Core.Storage;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell;

/// <summary>An open Fle database: what Connect-FleDatabase -PassThru returns and -Connection takes.</summary>
public sealed class FleConnection : IDisposable
{
    internal FleConnection(FleStore store, bool implicitlyOpened)
    {
        Store = store;
        Implicit = implicitlyOpened;
        ConnectedAt = DateTime.UtcNow;
    }

    internal FleStore Store { get; }

    /// <summary>Sqlite or Postgres.</summary>
    public FleBackend Backend => Store.Backend;

    /// <summary>File path, or user@host:port/database. Never a password.</summary>
    public string Location => Store.Location;

    public int SchemaVersion => Store.SchemaVersion;

    /// <summary>Where the settings came from.</summary>
    public string Source => Store.Settings.Source;

    public DateTime ConnectedAt { get; }

    /// <summary>True when no Connect-FleDatabase was run and a cmdlet opened it from the environment / .env.</summary>
    public bool Implicit { get; }

    public bool IsOpen { get; private set; } = true;

    /// <summary>True once the object was given to the user (-PassThru): replacing the session default then leaves it open.</summary>
    internal bool HandedOut { get; set; }

    public override string ToString() => $"{Backend} {Location}";

    public void Dispose()
    {
        if (!IsOpen) return;
        IsOpen = false;
        Store.Dispose();
    }
}

/// <summary>
/// The session's default connection, one per runspace (never shared between runspaces, so parallel
/// runspaces each have their own).
/// </summary>
internal static class FleSession
{
    private sealed class Holder
    {
        public FleConnection? Connection;
    }

    private static readonly ConditionalWeakTable<Runspace, Holder> ByRunspace = new();

    private static Holder Current => ByRunspace.GetValue(Runspace.DefaultRunspace ?? throw new InvalidOperationException("No runspace."), Watch);

    /// <summary>
    /// A runspace's holder. When the runspace closes (a pwsh tab, a runspace pool, ForEach-Object -Parallel, a host that
    /// disposes its PowerShell) its connection is closed with it: for SQLite that folds the WAL into the file, so the file
    /// alone holds every step the runspace saved. (The process exit closes whatever is left; see SqliteOpenFiles.)
    /// </summary>
    private static Holder Watch(Runspace runspace)
    {
        var holder = new Holder();
        runspace.StateChanged += (_, e) =>
        {
            if (e.RunspaceStateInfo.State is RunspaceState.Closing or RunspaceState.Closed or RunspaceState.Broken) Close(holder);
        };
        return holder;
    }

    private static void Close(Holder holder)
    {
        var c = Interlocked.Exchange(ref holder.Connection, null);
        if (c is not null && !c.HandedOut) c.Dispose();
    }

    /// <summary>Close this runspace's default connection (Remove-Module Fle).</summary>
    public static void CloseCurrent()
    {
        if (Runspace.DefaultRunspace is { } r && ByRunspace.TryGetValue(r, out var holder)) Close(holder);
    }

    public static FleConnection? Default
    {
        get
        {
            var c = Current.Connection;
            return c is { IsOpen: true } ? c : null;
        }
    }

    /// <summary>Replace the default connection; the previous one is closed unless the user holds it (-PassThru).</summary>
    public static void SetDefault(FleConnection? connection)
    {
        var h = Current;
        var old = h.Connection;
        h.Connection = connection;
        if (old is not null && !ReferenceEquals(old, connection) && !old.HandedOut) old.Dispose();
    }
}

/// <summary>Remove-Module Fle: the runspace's default connection is closed (and a SQLite file left self-contained).</summary>
public sealed class ModuleCleanup : IModuleAssemblyCleanup
{
    public void OnRemove(PSModuleInfo psModuleInfo) => FleSession.CloseCurrent();
}

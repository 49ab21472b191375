using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;

namespace Fle.PowerShell.Internal;

/// <summary>
/// Completion of trajectory ids. Cheap: one indexed query of at most 50 ids; honours -TaskId and -Connection
/// already typed; never prompts, and never opens a PostgreSQL server that is not already connected.
/// </summary>
public sealed class TrajectoryIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var prefix = CompletionHelper.Unquote(wordToComplete);
        var store = CompletionHelper.StoreFor(fakeBoundParameters);
        if (store is null) return [];
        var task = fakeBoundParameters.Contains("TaskId") ? fakeBoundParameters["TaskId"] as string : null;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var list = FleStore.ToListAsync(store.QueryTrajectoriesAsync(new FleTrajectoryQuery { IdPrefix = prefix, TaskId = task, First = 50 }, cts.Token))
                .GetAwaiter().GetResult();
            return list.Select(t => new CompletionResult(CompletionHelper.Quote(t.Id), t.Id, CompletionResultType.ParameterValue,
                $"{t.TaskId} · {t.Status} · {t.StepCount} steps · started {t.StartTime:u}"));
        }
        catch (Exception)
        {
            return [];
        }
    }
}

/// <summary>Completion of task ids (distinct, at most 50).</summary>
public sealed class TaskIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var store = CompletionHelper.StoreFor(fakeBoundParameters);
        if (store is null) return [];
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            var list = store.GetTaskIdsAsync(CompletionHelper.Unquote(wordToComplete), 50, cts.Token).GetAwaiter().GetResult();
            return list.Select(t => new CompletionResult(CompletionHelper.Quote(t), t, CompletionResultType.ParameterValue, t));
        }
        catch (Exception)
        {
            return [];
        }
    }
}

internal static class CompletionHelper
{
    public static string Unquote(string word) => word.Trim('\'', '"');

    public static string Quote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>-Connection typed on the command line, else the session's; else the SQLite default (local, cheap).</summary>
    public static FleStore? StoreFor(IDictionary fake)
    {
        if (fake.Contains("Connection") && PSConvertUnwrap(fake["Connection"]) is FleConnection { IsOpen: true } c) return c.Store;
        var session = FleSession.Default;
        if (session is not null) return session.Store;
        try
        {
            // ./.env and a relative SQLITE_DB_FILE resolve against the PowerShell location, as in the cmdlets
            // (not the process's working directory, which Set-Location does not change).
            var settings = FleSettingsResolver.Resolve(new FleSettingsOverrides { WorkingDirectory = PowerShellLocation() });
            if (!FleStore.OpensQuietly(settings)) return null;
            var store = FleStore.OpenAsync(settings).GetAwaiter().GetResult();
            FleSession.SetDefault(new FleConnection(store, implicitlyOpened: true));
            return store;
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static string? PowerShellLocation()
    {
        try
        {
            // A nested command on the pipeline thread (the session state proxy refuses while a pipeline runs).
            using var ps = System.Management.Automation.PowerShell.Create(RunspaceMode.CurrentRunspace);
            ps.AddCommand(@"Microsoft.PowerShell.Management\Get-Location").AddParameter("PSProvider", "FileSystem");
            return ps.Invoke<PathInfo>().FirstOrDefault()?.ProviderPath;
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static object? PSConvertUnwrap(object? o) => o is PSObject p ? p.BaseObject : o;
}

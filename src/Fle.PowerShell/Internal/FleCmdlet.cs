using System.Collections;
using System.Management.Automation;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Storage;

namespace Fle.PowerShell.Internal;

/// <summary>
/// Base of every Fle cmdlet: the session's connection, cancellation on Ctrl+C (StopProcessing cancels the engine's
/// token), and the one error ladder (FleException → ErrorRecord, with the PowerShell wording of <see cref="PowerShellWording"/>).
/// </summary>
public abstract class FleCmdletBase : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private FleConnection? _resolved;

    /// <summary>A connection the user gave (-Connection) instead of the session's.</summary>
    private protected virtual FleConnection? GivenConnection => null;

    protected CancellationToken CancelToken => _cts.Token;

    protected override void StopProcessing() => _cts.Cancel();

    public void Dispose()
    {
        _cts.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// The store: -Connection, else the session's connection, else one opened from the environment / .env
    /// (which then becomes the session's connection, so a loop of cmdlets opens it once).
    /// </summary>
    protected FleStore Store => ResolveConnection().Store;

    protected FleConnection ResolveConnection()
    {
        if (_resolved is not null) return _resolved;
        if (GivenConnection is { } given)
        {
            if (!given.IsOpen)
                ThrowTerminatingError(new ErrorRecord(new InvalidOperationException(
                    $"The connection to {given.Location} is closed. Open a new one with Connect-FleDatabase."),
                    FleErrorIds.NotConnected, ErrorCategory.ResourceUnavailable, given));
            return _resolved = given;
        }
        var session = FleSession.Default;
        if (session is not null) return _resolved = session;

        var settings = Run(_ => Task.FromResult(FleSettingsResolver.Resolve(new FleSettingsOverrides { WorkingDirectory = CurrentDirectory })));
        WriteVerbose($"Opening the {settings.Backend} database {settings.Describe()} from {settings.Source}; it stays open for this session (Disconnect-FleDatabase closes it).");
        var store = Run(ct => FleStore.OpenAsync(settings, ct));
        var conn = new FleConnection(store, implicitlyOpened: true);
        FleSession.SetDefault(conn);
        return _resolved = conn;
    }

    /// <summary>The PowerShell current file-system location (not the process's working directory).</summary>
    protected string CurrentDirectory => SessionState.Path.CurrentFileSystemLocation.ProviderPath;

    /// <summary>
    /// Resolve a user path (~, relative, PSDrive) to a provider path that may not exist yet. A trailing separator (a
    /// folder meant, as in "-Destination backups/") is kept.
    /// </summary>
    protected string ResolvePath(string path)
    {
        var resolved = GetUnresolvedProviderPathFromPSPath(path);
        var folder = path.EndsWith('/') || path.EndsWith('\\');
        return folder && !resolved.EndsWith(System.IO.Path.DirectorySeparatorChar) ? resolved + System.IO.Path.DirectorySeparatorChar : resolved;
    }

    /// <summary>Run engine work synchronously on the pipeline thread, translating errors into terminating errors.</summary>
    protected T Run<T>(Func<CancellationToken, Task<T>> work, object? target = null)
    {
        try
        {
            return work(CancelToken).GetAwaiter().GetResult();
        }
        catch (FleException e)
        {
            ThrowTerminatingError(ToErrorRecord(e, target));
            throw; // unreachable
        }
        catch (OperationCanceledException) when (CancelToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>Run engine work for one pipeline item: a FleException becomes a non-terminating error and null is returned.</summary>
    /// <remarks><paramref name="handled"/> takes the errors the cmdlet reports its own way (true: no error record).</remarks>
    protected bool TryRun<T>(Func<CancellationToken, Task<T>> work, out T result, object? target = null, Func<FleException, bool>? handled = null)
    {
        try
        {
            result = work(CancelToken).GetAwaiter().GetResult();
            return true;
        }
        catch (FleException e) when (!IsFatal(e))
        {
            if (handled?.Invoke(e) != true) WriteError(ToErrorRecord(e, target));
            result = default!;
            return false;
        }
        catch (FleException e)
        {
            ThrowTerminatingError(ToErrorRecord(e, target));
            throw;
        }
        catch (OperationCanceledException) when (CancelToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>Stream an async sequence to the pipeline.</summary>
    protected void WriteAll<T>(IAsyncEnumerable<T> source, Func<T, bool>? each = null, object? target = null)
    {
        try
        {
            var e = source.GetAsyncEnumerator(CancelToken);
            try
            {
                while (e.MoveNextAsync().AsTask().GetAwaiter().GetResult())
                {
                    if (each is null || each(e.Current)) WriteObject(e.Current);
                }
            }
            finally
            {
                e.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        catch (OperationCanceledException) when (CancelToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>Connection problems stop the whole pipeline; item problems do not.</summary>
    protected static bool IsFatal(FleException e) => e.Kind is FleErrorKind.ConnectionError or FleErrorKind.AuthenticationError
        or FleErrorKind.InvalidConfiguration or FleErrorKind.PermissionDenied or FleErrorKind.StorageError;

    /// <summary>
    /// The error record of an engine error: its id, category and target; where PowerShell has its own words for what to
    /// do (<see cref="PowerShellWording"/>), they follow the message and are the recommended action.
    /// </summary>
    internal static ErrorRecord ToErrorRecord(FleException e, object? target = null)
    {
        var record = new ErrorRecord(e, e.ErrorId, Category(e.Kind), target ?? e.Target);
        if (PowerShellWording.ForError(e) is { } advice)
            record.ErrorDetails = new ErrorDetails($"{e.Message} {advice}") { RecommendedAction = advice };
        else if (e.RecommendedAction is not null)
            record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = e.RecommendedAction };
        return record;
    }

    internal static ErrorCategory Category(FleErrorKind kind) => kind switch
    {
        FleErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        FleErrorKind.InvalidConfiguration => ErrorCategory.InvalidArgument,
        FleErrorKind.NotFound => ErrorCategory.ObjectNotFound,
        FleErrorKind.AlreadyExists => ErrorCategory.ResourceExists,
        FleErrorKind.ConnectionError => ErrorCategory.ConnectionError,
        FleErrorKind.AuthenticationError => ErrorCategory.AuthenticationError,
        FleErrorKind.InvalidData => ErrorCategory.InvalidData,
        FleErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        FleErrorKind.NotSupported => ErrorCategory.NotImplemented,
        FleErrorKind.OperationCanceled => ErrorCategory.OperationStopped,
        FleErrorKind.ResourceBusy => ErrorCategory.ResourceBusy,
        FleErrorKind.StorageError => ErrorCategory.WriteError,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>A non-terminating error with a Fle error id.</summary>
    protected void WriteFleError(string errorId, ErrorCategory category, string message, object? target, string? recommendedAction = null)
        => WriteError(FleErrorRecord(errorId, category, message, target, recommendedAction));

    /// <summary>An error record with a Fle error id (for WriteError or ThrowTerminatingError).</summary>
    protected static ErrorRecord FleErrorRecord(string errorId, ErrorCategory category, string message, object? target, string? recommendedAction = null)
    {
        var kind = category switch
        {
            ErrorCategory.ObjectNotFound => FleErrorKind.NotFound,
            ErrorCategory.ResourceExists => FleErrorKind.AlreadyExists,
            ErrorCategory.InvalidData => FleErrorKind.InvalidData,
            ErrorCategory.ConnectionError => FleErrorKind.ConnectionError,
            _ => FleErrorKind.InvalidArgument,
        };
        var record = new ErrorRecord(new FleException(errorId, kind, message, target: target), errorId, category, target);
        if (recommendedAction is not null) record.ErrorDetails = new ErrorDetails(message) { RecommendedAction = recommendedAction };
        return record;
    }

    /// <summary>
    /// ShouldProcess for the one destructive path of a cmdlet whose other paths are of lower impact: it asks as a
    /// cmdlet of ConfirmImpact High would ($ConfirmPreference High, the default, asks; -Confirm:$false does not;
    /// -WhatIf tells).
    /// </summary>
    protected bool ShouldProcessHighImpact(string target, string action)
    {
        if (!ShouldProcess(target, action)) return false; // -WhatIf, or -Confirm (asked there)
        if (MyInvocation.BoundParameters.ContainsKey("Confirm")) return true;
        var declared = GetType().GetCustomAttributes(typeof(CmdletAttribute), false).OfType<CmdletAttribute>().FirstOrDefault()?.ConfirmImpact ?? ConfirmImpact.Medium;
        var preference = LanguagePrimitives.TryConvertTo<ConfirmImpact>(GetVariableValue("ConfirmPreference"), out var p) ? p : ConfirmImpact.High;
        if (preference == ConfirmImpact.None || preference > ConfirmImpact.High || preference <= declared) return true; // no prompt, or ShouldProcess asked
        return ShouldContinue($"Are you sure you want to perform this action?\nPerforming the operation \"{action}\" on target \"{target}\".", "Confirm",
            ref _yesToAll, ref _noToAll);
    }

    private bool _yesToAll;
    private bool _noToAll;

    protected void ThrowFle(FleException e) => ThrowTerminatingError(ToErrorRecord(e));
}

/// <summary>A Fle cmdlet that works on a database: -Connection sends it to a connection other than the session's.</summary>
public abstract class FleCmdlet : FleCmdletBase
{
    /// <summary>The connection to use instead of the session's (from Connect-FleDatabase -PassThru or -NoDefault).</summary>
    [Parameter]
    [ValidateNotNull]
    public FleConnection? Connection { get; set; }

    private protected override FleConnection? GivenConnection => Connection;
}

using System.Collections.Concurrent;
using System.Management.Automation;
using Fle.Core;
using Fle.Core.Import;

namespace Fle.PowerShell.Commands;

/// <summary>Import FLE's own <c>programs</c> table (SQLite file or PostgreSQL database) as trajectories, steps and checkpoints.</summary>
[Cmdlet(VerbsData.Import, "FleProgramTable", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = FromFile)]
[OutputType(typeof(FleProgramImportResult))]
public sealed class ImportFleProgramTableCommand : FleCmdlet
{
    private const string FromFile = "Path";
    private const string FromPostgres = "ConnectionString";
    private const int ActivityId = 7;

    /// <summary>FLE's SQLite database file (FLE's default: .fle/data.db).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = FromFile, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("FilePath", "FullName")]
    public string Path { get; set; } = "";

    /// <summary>An Npgsql connection string to FLE's PostgreSQL database.</summary>
    [Parameter(Mandatory = true, ParameterSetName = FromPostgres)]
    [ValidateNotNullOrEmpty]
    public string ConnectionString { get; set; } = "";

    protected override void ProcessRecord()
    {
        var store = Store; // resolved on the pipeline thread
        _queue = new BlockingCollection<Action>();
        _progress = _shownProgress = null;
        var sqlitePath = ParameterSetName == FromFile ? ResolvePath(Path) : null;
        var options = new FleProgramImportOptions
        {
            SqlitePath = sqlitePath,
            ConnectionString = ParameterSetName == FromPostgres ? ConnectionString : null,
            Decide = run => OnPipeline(() => DecideRun(run)),
            Progress = new Progress(this),
            RowSkipped = row => Post(() => WriteError(SkippedRecord(row))),
            Warning = message => Post(() => WriteWarning(message)),
        };
        WriteVerbose($"Importing FLE's programs table from {(sqlitePath ?? "PostgreSQL")} into the {store.Backend} database {store.Location}.");

        // Stopped early (Ctrl+C, or -ErrorAction Stop on a skipped row): the worker is cancelled and awaited, never left running.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(CancelToken);
        _stop = stop.Token;
        var work = Task.Run(() => FleProgramTableImporter.ImportAsync(store, options, stop.Token));
        var queue = _queue;
        work.ContinueWith(_ => queue.CompleteAdding(), TaskScheduler.Default);
        try
        {
            Pump();
        }
        catch
        {
            stop.Cancel();
            try { work.Wait(); } catch (AggregateException) { /* cancelled or failed: the pipeline's own error wins */ }
            throw;
        }
        WriteProgress(new ProgressRecord(ActivityId, "Importing FLE programs", "Done") { RecordType = ProgressRecordType.Completed });

        FleProgramImportResult result;
        try
        {
            result = work.GetAwaiter().GetResult();
        }
        catch (FleException e)
        {
            ThrowTerminatingError(ToErrorRecord(e, sqlitePath));
            return;
        }
        catch (OperationCanceledException) when (CancelToken.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
        WriteVerbose($"Read {result.Rows} rows in {result.Runs} runs: {result}.");
        WriteObject(result);
    }

    // ------------------------------------------------------------------ running the engine off the pipeline thread

    // The engine runs on a worker thread; everything that talks to the host (errors, warnings, progress,
    // ShouldProcess) is queued here and run on the pipeline thread by Pump().
    private BlockingCollection<Action> _queue = new();
    private CancellationToken _stop;
    private FleProgramImportProgress? _progress;
    private FleProgramImportProgress? _shownProgress;
    private DateTime _progressShownAt = DateTime.MinValue;

    private sealed class Progress(ImportFleProgramTableCommand owner) : IProgress<FleProgramImportProgress>
    {
        public void Report(FleProgramImportProgress value) => Volatile.Write(ref owner._progress, value);
    }

    private void Post(Action action)
    {
        try { _queue.Add(action); }
        catch (InvalidOperationException) { /* completed: the pipeline is gone */ }
    }

    private T OnPipeline<T>(Func<T> func)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            try { done.SetResult(func()); }
            catch (Exception e) { done.SetException(e); }
        });
        done.Task.Wait(_stop);
        return done.Task.GetAwaiter().GetResult();
    }

    private void Pump()
    {
        while (!_queue.IsCompleted)
        {
            if (_queue.TryTake(out var action, 200)) action();
            ShowProgress(force: false);
        }
    }

    private void ShowProgress(bool force)
    {
        var p = Volatile.Read(ref _progress);
        if (p is null || ReferenceEquals(p, _shownProgress)) return;
        if (!force && DateTime.UtcNow - _progressShownAt < TimeSpan.FromMilliseconds(250)) return;
        _shownProgress = p;
        _progressShownAt = DateTime.UtcNow;
        var status = p.Phase == "Scanning"
            ? $"Scanning: {p.RowsRead:N0} of {p.TotalRows:N0} rows"
            : $"{p.RowsRead:N0} of {p.TotalRows:N0} rows; {p.Trajectories:N0} trajectories, {p.Steps:N0} steps";
        var record = new ProgressRecord(ActivityId, "Importing FLE programs", status) { PercentComplete = p.PercentComplete };
        if (p.CurrentTrajectoryId is not null) record.CurrentOperation = $"{p.CurrentTaskId} → {p.CurrentTrajectoryId}";
        WriteProgress(record);
    }

    private FleImportDecision DecideRun(FleProgramRun run)
    {
        var action = !run.Exists ? $"Import {run.NewRows} rows as a new trajectory"
            : run.NewRows > 0 ? $"Import {run.NewRows} new rows into the existing trajectory"
            : "Update the status, end time and metadata of the existing trajectory";
        var numbering = run.PositionFromStep is { } p ? $"{run.StepNumbering}, by position from step {p}" : run.StepNumbering.ToString();
        var description = $"{action}: FLE run version {run.Version ?? "null"}, process {run.ProcessId ?? "null"}, instance {run.Instance ?? "null"} " +
                          $"(task {run.TaskId}, {run.Rows} rows, steps by {numbering}) → trajectory '{run.TrajectoryId}'.";
        if (ShouldProcess(description, $"Import FLE run version {run.Version ?? "null"}, process {run.ProcessId ?? "null"}, instance {run.Instance ?? "null"}?",
                "Import-FleProgramTable", out var reason))
            return FleImportDecision.Import;
        return reason == ShouldProcessReason.WhatIf ? FleImportDecision.DryRun : FleImportDecision.Decline;
    }

    private static ErrorRecord SkippedRecord(FleSkippedProgramRow row)
    {
        var e = new FleException(FleErrorIds.ProgramRowSkipped, FleErrorKind.InvalidData,
            $"programs row {row.RowId} was not imported ({row.Reason}): {row.Message}.", target: row.RowId);
        return new ErrorRecord(e, FleErrorIds.ProgramRowSkipped, ErrorCategory.InvalidData, row);
    }
}

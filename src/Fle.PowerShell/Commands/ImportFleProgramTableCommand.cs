using System.Management.Automation;
using Fle.Core;
using Fle.Core.Import;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>Import FLE's own <c>programs</c> table (SQLite file or PostgreSQL database) as trajectories, steps and checkpoints.</summary>
[Cmdlet(VerbsData.Import, "FleProgramTable", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium, DefaultParameterSetName = FromFile)]
[OutputType(typeof(FleProgramImportResult))]
public sealed class ImportFleProgramTableCommand : FleProgressCmdlet
{
    private const string FromFile = "Path";
    private const string FromPostgres = "ConnectionString";

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
        var sqlitePath = ParameterSetName == FromFile ? ResolvePath(Path) : null;
        WriteVerbose($"Importing FLE's programs table from {(sqlitePath ?? "PostgreSQL")} into the {store.Backend} database {store.Location}.");
        var result = RunOnWorker((ctx, ct) =>
        {
            var options = new FleProgramImportOptions
            {
                SqlitePath = sqlitePath,
                ConnectionString = ParameterSetName == FromPostgres ? ConnectionString : null,
                Decide = run => ctx.OnPipeline(() => DecideRun(run)),
                Progress = new ImportProgress(ctx.Progress),
                RowSkipped = row => ctx.Post(() => WriteError(SkippedRecord(row))),
                Warning = message => ctx.Post(() => WriteWarning(message)),
            };
            return FleProgramTableImporter.ImportAsync(store, options, ct);
        }, sqlitePath);
        WriteVerbose($"Read {result.Rows} rows in {result.Runs} runs: {result}.");
        WriteObject(result);
    }

    /// <summary>The import's own progress, as a line of the progress bar.</summary>
    private sealed class ImportProgress(IProgress<FleProgress> sink) : IProgress<FleProgramImportProgress>
    {
        public void Report(FleProgramImportProgress p) => sink.Report(new FleProgress("Import",
            p.Phase == "Scanning"
                ? $"Scanning: {p.RowsRead:N0} of {p.TotalRows:N0} rows"
                : $"{p.RowsRead:N0} of {p.TotalRows:N0} rows; {p.Trajectories:N0} trajectories, {p.Steps:N0} steps",
            p.PercentComplete, p.CurrentTrajectoryId is null ? null : $"{p.CurrentTaskId} → {p.CurrentTrajectoryId}"));
    }

    private FleImportDecision DecideRun(FleProgramRun run)
    {
        var action = !run.Exists
            ? run.ParentTrajectoryId is { } parent
                ? $"Import {run.NewRows} rows as a new fork of trajectory '{parent}' at step {run.ForkStepNumber}"
                : $"Import {run.NewRows} rows as a new trajectory"
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

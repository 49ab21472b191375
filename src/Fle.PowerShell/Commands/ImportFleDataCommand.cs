using System.Diagnostics;
using System.Management.Automation;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Transfer;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>import_all(): write exported trajectories into a database, each in one transaction.</summary>
[Cmdlet(VerbsData.Import, "FleData", SupportsShouldProcess = true, DefaultParameterSetName = FromPipeline)]
[OutputType(typeof(FleImportSummary))]
public sealed class ImportFleDataCommand : FleProgressCmdlet, IDisposable
{
    private const string FromPipeline = "InputObject";
    private const string FromFile = "Path";
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private FleImportSummary? _summary;
    private FleImportTarget? _target;

    /// <summary>Records from Export-FleData.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = FromPipeline)]
    [ValidateNotNull]
    public FleExportRecord[] InputObject { get; set; } = [];

    /// <summary>A file written by Export-FleData -Path (or a Fle export backup).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = FromFile)]
    [ValidateNotNullOrEmpty]
    [Alias("FilePath")]
    public string Path { get; set; } = "";

    /// <summary>Import into this backend as the environment / .env configure it (SKILLS_DB_* for Postgres even while FLE_DB_TYPE=sqlite).</summary>
    [Parameter]
    public FleBackend? Target { get; set; }

    /// <summary>What to do with a trajectory whose id already exists: Skip (default), Overwrite, Error.</summary>
    [Parameter]
    public FleConflictAction ConflictAction { get; set; } = FleConflictAction.Skip;

    /// <summary>
    /// The target: -Target without -Connection opens the database the environment names, in the background (the source
    /// is read meanwhile; an open that fails is reported at the first record, or at the end); otherwise the connection.
    /// </summary>
    private FleImportTarget ImportTarget
    {
        get
        {
            if (_target is not null) return _target;
            if (Target is { } backend && Connection is null)
            {
                var settings = Run(_ => Task.FromResult(FleSettingsResolver.Resolve(new FleSettingsOverrides { WorkingDirectory = CurrentDirectory }, backend)));
                WriteVerbose($"Import target: the {settings.Backend} database {settings.Describe()} (settings from {settings.Source}).");
                return _target = FleImportTarget.Open(settings, CancelToken);
            }
            var store = Store;
            if (Target is { } b && store.Backend != b)
                ThrowTerminatingError(new ErrorRecord(new ArgumentException($"-Target {b} does not match the -Connection, which is {store.Backend}."),
                    FleErrorIds.InvalidArgument, ErrorCategory.InvalidArgument, Target));
            return _target = FleImportTarget.For(store);
        }
    }

    protected override void BeginProcessing()
    {
        var t = ImportTarget;
        _summary = new FleImportSummary { Target = t.Location, Backend = t.Backend };
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName != FromPipeline) return;
        var target = ImportTarget;
        foreach (var rec in InputObject)
        {
            if (!ShouldProcess($"trajectory '{rec.Id}' ({rec.StepCount} steps) into {target.Location}", "Import")) continue;
            var ok = TryRunWithProgress((p, ct) => target.ImportTrajectoryAsync(rec, ConflictAction, p, ct), out var result, rec.Id);
            if (!ok) { _summary!.Failed++; continue; }
            _summary!.Add(result);
            WriteVerbose($"{result.Outcome} trajectory '{rec.Id}': {result.Steps} steps, {result.States} states.");
            ShowProgress($"{_summary.Trajectories} imported, {_summary.Skipped} skipped, {_summary.Failed} failed", -1, rec.Id);
        }
    }

    protected override void EndProcessing()
    {
        var target = Run(ct => ImportTarget.GetStoreAsync(ct)); // an open that failed is reported here when no record came
        if (ParameterSetName == FromFile)
        {
            var file = ResolvePath(Path);
            if (!File.Exists(file))
                ThrowTerminatingError(new ErrorRecord(new FileNotFoundException($"The export file '{file}' does not exist.", file),
                    FleErrorIds.ImportFileInvalid, ErrorCategory.ObjectNotFound, file));
            if (!ShouldProcess($"{file} into {target.Location}", "Import")) return;
            var errors = new System.Collections.Concurrent.ConcurrentQueue<FleException>();
            _summary = RunWithProgress((p, ct) => target.ImportFileAsync(file, ConflictAction, p, errors.Enqueue, ct), file);
            foreach (var e in errors) WriteError(ToErrorRecord(e));
        }
        else
        {
            Complete();
            _summary!.Duration = _clock.Elapsed;
        }
        WriteObject(_summary);
    }

    void IDisposable.Dispose()
    {
        _target?.Dispose(); // closes a target this cmdlet opened (-Target); a connection's store stays open
        _target = null;
        Dispose();
    }
}

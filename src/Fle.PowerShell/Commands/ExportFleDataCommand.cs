using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>export_all(): trajectories with their steps and game states, to the pipeline or to a portable file.</summary>
[Cmdlet(VerbsData.Export, "FleData", SupportsShouldProcess = true)]
[OutputType(typeof(FleExportRecord), typeof(FleExportFileResult))]
public sealed class ExportFleDataCommand : FleProgressCmdlet
{
    private readonly List<string> _ids = [];

    /// <summary>Only these trajectories (binds from the Id of Get-FleTrajectory's output).</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    public string[]? TrajectoryId { get; set; }

    /// <summary>Only trajectories of this task.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TaskIdCompleter))]
    public string? TaskId { get; set; }

    /// <summary>Only trajectories with this status.</summary>
    [Parameter]
    public FleTrajectoryStatus? Status { get; set; }

    /// <summary>Write a Fle export file (JSON lines; gzip when the name ends in .gz) instead of pipeline records.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>With -Path: replace an existing file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        if (TrajectoryId is not null) _ids.AddRange(TrajectoryId);
    }

    protected override void EndProcessing()
    {
        var query = new FleTrajectoryQuery
        {
            Ids = TrajectoryId is null && _ids.Count == 0 ? null : _ids.Distinct(StringComparer.Ordinal).ToList(),
            TaskId = TaskId, Status = Status,
        };
        var store = Store;
        if (Path is null)
        {
            WriteVerbose($"Exporting from the {store.Backend} database {store.Location} to the pipeline.");
            long n = 0;
            foreach (var chunk in query.Chunks())
            {
                WriteAll(store.ExportAsync(chunk, CancelToken), r =>
                {
                    ShowProgress($"{++n} trajectories", -1, r.Id);
                    return true;
                });
            }
            Complete();
            return;
        }

        var file = ResolvePath(Path);
        if (File.Exists(file) && !Force)
        {
            ThrowTerminatingError(new ErrorRecord(new IOException($"The file '{file}' already exists. Use -Force to replace it."),
                "FleExportFileExists", ErrorCategory.ResourceExists, file));
        }
        if (!ShouldProcess(file, $"Export trajectories from {store.Location}")) return;
        WriteVerbose($"Exporting from the {store.Backend} database {store.Location} to {file}.");
        var result = RunWithProgress((p, ct) => store.ExportToFileAsync(query, file, p, ct), file);
        WriteObject(result);
    }
}

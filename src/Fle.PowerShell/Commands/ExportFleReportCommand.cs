using System.Management.Automation;
using Fle.Core;
using Fle.Core.Report;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>An HTML report of trajectories: summary, a plot per metric (several trajectories overlaid), failed steps, each step's code and feedback.</summary>
[Cmdlet(VerbsData.Export, "FleReport", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class ExportFleReportCommand : FleProgressCmdlet
{
    private readonly List<string> _ids = [];

    /// <summary>The trajectories to report on (binds from the Id of Get-FleTrajectory's output).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string[] TrajectoryId { get; set; } = [];

    /// <summary>The HTML file to write (replaced when it exists; its folder is created).</summary>
    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>The step-metadata keys to plot, in this order (default: every numeric key found).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Metric { get; set; }

    protected override void ProcessRecord() => _ids.AddRange(TrajectoryId);

    protected override void EndProcessing()
    {
        var file = ResolvePath(Path);
        var store = Store;
        var (found, missing) = Run(ct => FleReport.FindAsync(store, _ids, ct));
        foreach (var id in missing)
            WriteFleError(FleErrorIds.TrajectoryNotFound, ErrorCategory.ObjectNotFound, $"Trajectory '{id}' was not found; the report leaves it out.", id,
                "List the trajectories with Get-FleTrajectory.");
        if (found.Count > 0 && !ShouldProcess(file, $"Write a report of {found.Count} trajector{(found.Count == 1 ? "y" : "ies")} from {store.Location}")) return;
        WriteVerbose($"Reading {found.Count} trajectories ({found.Sum(t => t.StepCount):N0} steps) from the {store.Backend} database {store.Location}.");
        var options = new FleReportOptions
        {
            Metrics = Metric, Source = store.Location, Generator = "Fle's Export-FleReport", MetricsName = "-Metric",
            MoreStepsCommand = "Get-FleStep -TrajectoryId {0} -From n -To m",
        };
        var result = RunWithProgress((p, ct) => FleReport.ExportAsync(store, found, file, options, p, ct), file);
        foreach (var m in result.MissingMetrics)
            WriteWarning($"No step of these trajectories has a numeric value for the metric '{m}'; its plot is empty.");
        WriteVerbose($"Wrote {result.Path}: {result.Bytes:N0} bytes, {result.Steps:N0} steps ({result.FailedSteps:N0} failed), metrics {string.Join(", ", result.Metrics)}, in {result.Duration.TotalSeconds:0.0} s.");
        WriteObject(new FileInfo(result.Path));
    }
}

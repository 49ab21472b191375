using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>Resume a crashed or stopped run: mark it running and return its latest checkpoint (with NextStepNumber).</summary>
[Cmdlet(VerbsLifecycle.Resume, "FleTrajectory", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FleCheckpoint))]
public sealed class ResumeFleTrajectoryCommand : FleCmdlet
{
    /// <summary>The trajectory id.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("TrajectoryId")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string Id { get; set; } = "";

    protected override void ProcessRecord()
    {
        if (!ShouldProcess($"trajectory '{Id}'", "Mark running and load the latest checkpoint")) return;
        if (!TryRun(ct => Store.ResumeTrajectoryAsync(Id, ct), out var r, Id)) return;
        if (r.Latest is null)
        {
            WriteWarning($"Trajectory '{Id}' is running again but has no checkpoint: start it from step {(r.Trajectory.LastStepNumber ?? -1) + 1} with a fresh game.");
            return;
        }
        WriteVerbose($"Trajectory '{Id}' resumes after step {r.Latest.StepNumber}; the next step is {r.Latest.NextStepNumber}.");
        WriteObject(r.Latest);
    }
}

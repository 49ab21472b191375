using System.Management.Automation;
using Fle.Core;
using Fle.Core.Storage;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>
/// Resume a crashed or stopped run: mark it running and return its latest checkpoint (with NextStepNumber); or resume
/// from an earlier step: as a fork that keeps the history (-Fork), or by discarding the later steps (-DiscardLaterSteps).
/// </summary>
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

    /// <summary>Resume from this step instead of the latest checkpoint (it must have a game state).</summary>
    [Parameter(Position = 1, ValueFromPipelineByPropertyName = true)]
    [ValidateRange(0, long.MaxValue)]
    public long? StepNumber { get; set; }

    /// <summary>With -StepNumber: fork the trajectory at that step and resume the fork; the trajectory's later steps stay.</summary>
    [Parameter]
    public SwitchParameter Fork { get; set; }

    /// <summary>With -StepNumber: delete the trajectory's steps after it (one transaction) and resume it. Asks first (-Confirm:$false does not).</summary>
    [Parameter]
    public SwitchParameter DiscardLaterSteps { get; set; }

    protected override void ProcessRecord()
    {
        if (StepNumber is not { } n)
        {
            if (Fork || DiscardLaterSteps)
            {
                WriteFleError(FleErrorIds.InvalidArgument, ErrorCategory.InvalidArgument,
                    $"-{(Fork ? "Fork" : "DiscardLaterSteps")} resumes from an earlier step: give it with -StepNumber.", Id, "Add -StepNumber <n>.");
                return;
            }
            ResumeLatest();
            return;
        }
        if (Fork && DiscardLaterSteps)
        {
            WriteFleError(FleErrorIds.InvalidArgument, ErrorCategory.InvalidArgument,
                "-Fork keeps the later steps and -DiscardLaterSteps deletes them: use one of them.", Id, "Use -Fork to keep the history, or -DiscardLaterSteps to delete it.");
            return;
        }
        var mode = Fork ? FleResumeMode.Fork : DiscardLaterSteps ? FleResumeMode.DiscardLaterSteps : FleResumeMode.Strict;
        var asked = mode switch
        {
            FleResumeMode.Fork => ShouldProcess($"trajectory '{Id}' at step {n}", "Fork and resume the fork"),
            FleResumeMode.DiscardLaterSteps => ShouldProcessHighImpact($"trajectory '{Id}': its steps after step {n}", "Delete and resume"),
            _ => ShouldProcess($"trajectory '{Id}'", $"Mark running and load the checkpoint of step {n}"),
        };
        if (!asked || !TryRun(ct => Store.ResumeFromStepAsync(Id, n, mode, ct), out var r, $"{Id}#{n}")) return;
        WriteVerbose(mode == FleResumeMode.Fork
            ? $"Fork '{r.Trajectory.Id}' of '{Id}' at step {n} resumes; its next step is {r.Checkpoint.NextStepNumber}."
            : $"Trajectory '{Id}' resumes after step {n}; the next step is {r.Checkpoint.NextStepNumber}.");
        WriteObject(r.Checkpoint);
    }

    private void ResumeLatest()
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

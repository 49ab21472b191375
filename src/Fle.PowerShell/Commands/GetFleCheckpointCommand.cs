using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>get_checkpoint / get_latest_checkpoint: a step with its game state.</summary>
[Cmdlet(VerbsCommon.Get, "FleCheckpoint", DefaultParameterSetName = LatestSet)]
[OutputType(typeof(FleCheckpoint))]
public sealed class GetFleCheckpointCommand : FleCmdlet
{
    private const string LatestSet = "Latest";
    private const string StepSet = "Step";

    /// <summary>The trajectory id (binds from a trajectory's Id too).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string TrajectoryId { get; set; } = "";

    /// <summary>The step whose checkpoint to read.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = StepSet)]
    [ValidateRange(0, long.MaxValue)]
    public long StepNumber { get; set; }

    /// <summary>The checkpoint with the highest step number (the default).</summary>
    [Parameter(ParameterSetName = LatestSet)]
    public SwitchParameter Latest { get; set; }

    protected override void ProcessRecord()
    {
        var latest = ParameterSetName == LatestSet;
        if (!TryRun(ct => latest ? Store.GetLatestCheckpointAsync(TrajectoryId, ct) : Store.GetCheckpointAsync(TrajectoryId, StepNumber, ct),
                out var cp, TrajectoryId)) return;
        if (cp is null)
        {
            WriteFleError(FleErrorIds.CheckpointNotFound, ErrorCategory.ObjectNotFound,
                latest ? $"Trajectory '{TrajectoryId}' has no checkpoint yet." : $"Trajectory '{TrajectoryId}' has no checkpoint at step {StepNumber}.",
                TrajectoryId, "List the steps that have game states with: Get-FleStep -TrajectoryId <id> | Where-Object HasGameState");
            return;
        }
        WriteObject(cp);
    }
}

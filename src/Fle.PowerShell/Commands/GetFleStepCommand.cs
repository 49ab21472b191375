using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>get_trajectory_steps: the steps of a trajectory in order.</summary>
[Cmdlet(VerbsCommon.Get, "FleStep", DefaultParameterSetName = RangeSet)]
[OutputType(typeof(FleStep), typeof(FleCheckpoint))]
public sealed class GetFleStepCommand : FleCmdlet
{
    private const string RangeSet = "Range";
    private const string NumberSet = "Number";

    /// <summary>The trajectory id (binds from a trajectory's Id too).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string TrajectoryId { get; set; } = "";

    /// <summary>Only these step numbers.</summary>
    [Parameter(Mandatory = true, Position = 1, ParameterSetName = NumberSet)]
    [ValidateRange(0, long.MaxValue)]
    public long[] StepNumber { get; set; } = [];

    /// <summary>First step number (inclusive).</summary>
    [Parameter(ParameterSetName = RangeSet)]
    [ValidateRange(0, long.MaxValue)]
    public long? From { get; set; }

    /// <summary>Last step number (inclusive).</summary>
    [Parameter(ParameterSetName = RangeSet)]
    [ValidateRange(0, long.MaxValue)]
    public long? To { get; set; }

    /// <summary>Also read and decode each step's game state (GameState, GameStateText).</summary>
    [Parameter]
    public SwitchParameter IncludeGameState { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            if (ParameterSetName == NumberSet)
            {
                foreach (var n in StepNumber)
                {
                    var found = false;
                    WriteAll(Store.GetStepsAsync(TrajectoryId, FleStepRange.Single(n), IncludeGameState, CancelToken), _ => found = true);
                    if (!found)
                        WriteFleError(FleErrorIds.StepNotFound, ErrorCategory.ObjectNotFound, $"Trajectory '{TrajectoryId}' has no step {n}.", $"{TrajectoryId}#{n}");
                }
                return;
            }
            WriteAll(Store.GetStepsAsync(TrajectoryId, new FleStepRange(From, To), IncludeGameState, CancelToken));
        }
        catch (FleException e) when (!IsFatal(e))
        {
            WriteError(ToErrorRecord(e, TrajectoryId));
        }
        catch (FleException e)
        {
            ThrowTerminatingError(ToErrorRecord(e, TrajectoryId)); // a lost server stops the pipeline
        }
    }
}

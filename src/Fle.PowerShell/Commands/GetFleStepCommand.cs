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
    private const string TopSet = "Top";

    /// <summary>The trajectory id (binds from a trajectory's Id too). A fork's steps include those it inherits.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = RangeSet)]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = NumberSet)]
    [Parameter(ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = TopSet)]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string TrajectoryId { get; set; } = "";

    /// <summary>With -Top: rank the steps of every trajectory of this task (with -TrajectoryId too: of that trajectory, if it is of the task).</summary>
    [Parameter(ParameterSetName = TopSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TaskIdCompleter))]
    public string? TaskId { get; set; }

    /// <summary>Return the best this many steps, ranked by -SortBy in the database (beam search's heads).</summary>
    [Parameter(Mandatory = true, ParameterSetName = TopSet)]
    [ValidateRange(1, int.MaxValue)]
    public int Top { get; set; }

    /// <summary>With -Top: the step metadata key to rank by (a number; a step without it, or with a non-number, ranks last).</summary>
    [Parameter(Mandatory = true, ParameterSetName = TopSet)]
    [ValidateNotNullOrEmpty]
    public string SortBy { get; set; } = "";

    /// <summary>With -Top: highest value first (default: lowest first). Ties go to the earlier step either way.</summary>
    [Parameter(ParameterSetName = TopSet)]
    public SwitchParameter Descending { get; set; }

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

    protected override void BeginProcessing()
    {
        if (ParameterSetName == TopSet && TaskId is null && !MyInvocation.BoundParameters.ContainsKey(nameof(TrajectoryId)) && !MyInvocation.ExpectingInput)
            ThrowTerminatingError(FleErrorRecord(FleErrorIds.InvalidArgument, ErrorCategory.InvalidArgument,
                "-Top ranks the steps of a task or of a trajectory: give -TaskId, -TrajectoryId, or both.", null, "Add -TaskId <task> or -TrajectoryId <id>."));
    }

    protected override void ProcessRecord()
    {
        try
        {
            if (ParameterSetName == TopSet)
            {
                WriteAll(Store.GetTopStepsAsync(TaskId, TrajectoryId.Length == 0 ? null : TrajectoryId, Top, SortBy, Descending, IncludeGameState, CancelToken));
                return;
            }
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
            WriteError(ToErrorRecord(e, TrajectoryId.Length == 0 ? TaskId : TrajectoryId));
        }
        catch (FleException e)
        {
            ThrowTerminatingError(ToErrorRecord(e, TrajectoryId.Length == 0 ? TaskId : TrajectoryId)); // a lost server stops the pipeline
        }
    }
}

using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>get_trajectory / get_all_trajectories / get_task_trajectories: list trajectories, newest first.</summary>
[Cmdlet(VerbsCommon.Get, "FleTrajectory")]
[OutputType(typeof(FleTrajectory))]
public sealed class GetFleTrajectoryCommand : FleCmdlet
{
    /// <summary>Trajectory ids; a trailing * matches a prefix.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("TrajectoryId")]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string[]? Id { get; set; }

    /// <summary>Only trajectories of this task.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TaskIdCompleter))]
    public string? TaskId { get; set; }

    /// <summary>Only trajectories with this status.</summary>
    [Parameter]
    public FleTrajectoryStatus? Status { get; set; }

    /// <summary>Only trajectories started at or after this time.</summary>
    [Parameter]
    public DateTime? After { get; set; }

    /// <summary>Only trajectories started before this time.</summary>
    [Parameter]
    public DateTime? Before { get; set; }

    /// <summary>At most this many (the newest).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? First { get; set; }

    /// <summary>Only the forks of this trajectory (with -Recurse: its whole subtree, forks of forks too).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string? ParentId { get; set; }

    /// <summary>With -ParentId: the forks of the forks too, to any depth.</summary>
    [Parameter]
    public SwitchParameter Recurse { get; set; }

    /// <summary>With -Id: each trajectory's chain of ancestors up to its root, root first, the trajectory last.</summary>
    [Parameter]
    public SwitchParameter IncludeAncestors { get; set; }

    protected override void BeginProcessing()
    {
        if (Recurse && ParentId is null)
            ThrowTerminatingError(Usage("-Recurse lists a subtree: give its root with -ParentId.", "Add -ParentId <id>."));
        if (IncludeAncestors && !MyInvocation.BoundParameters.ContainsKey(nameof(Id)) && !MyInvocation.ExpectingInput)
            ThrowTerminatingError(Usage("-IncludeAncestors lists the ancestors of given trajectories: give them with -Id (or from the pipeline).", "Add -Id <id>."));
    }

    private static ErrorRecord Usage(string message, string action) => FleErrorRecord(FleErrorIds.InvalidArgument, ErrorCategory.InvalidArgument, message, null, action);

    protected override void ProcessRecord()
    {
        if (IncludeAncestors && Id is not null)
        {
            foreach (var id in Id)
                if (TryRun(ct => Store.GetAncestryAsync(id, ct), out var chain, id))
                    WriteObject(chain, enumerateCollection: true);
            return;
        }
        if (Id is null)
        {
            WriteAll(Store.QueryTrajectoriesAsync(Query(null, null), CancelToken));
            return;
        }
        foreach (var id in Id)
        {
            if (id.EndsWith('*'))
            {
                WriteAll(Store.QueryTrajectoriesAsync(Query(null, id.TrimEnd('*')), CancelToken));
                continue;
            }
            var found = false;
            WriteAll(Store.QueryTrajectoriesAsync(Query([id], null), CancelToken), _ => found = true);
            if (!found)
                WriteFleError(FleErrorIds.TrajectoryNotFound, ErrorCategory.ObjectNotFound,
                    $"Trajectory '{id}' was not found{(Filtered ? " (or does not match the filters)" : "")} in {Store.Location}.", id,
                    "List the trajectories with Get-FleTrajectory.");
        }
    }

    private bool Filtered => TaskId is not null || Status is not null || After is not null || Before is not null || ParentId is not null;

    private FleTrajectoryQuery Query(string[]? ids, string? prefix) => new()
    {
        Ids = ids, IdPrefix = prefix, TaskId = TaskId, Status = Status, After = After, Before = Before, First = First,
        ParentId = ParentId, Recursive = Recurse,
    };
}

using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>delete_trajectory: remove trajectories with their steps and game states; or clean up old ones.</summary>
[Cmdlet(VerbsCommon.Remove, "FleTrajectory", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = ById)]
[OutputType(typeof(string))]
public sealed class RemoveFleTrajectoryCommand : FleCmdlet
{
    private const string ById = "Id";
    private const string ByAge = "Cleanup";

    /// <summary>The trajectory ids (from the pipeline too).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = ById)]
    [ValidateNotNullOrEmpty]
    [Alias("TrajectoryId")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string[] Id { get; set; } = [];

    /// <summary>Remove finished trajectories that ended longer ago than this (e.g. (New-TimeSpan -Days 30) or '30.00:00:00').</summary>
    [Parameter(Mandatory = true, ParameterSetName = ByAge)]
    public TimeSpan OlderThan { get; set; }

    /// <summary>With -OlderThan: only trajectories with this status (Completed or Failed).</summary>
    [Parameter(ParameterSetName = ByAge)]
    [ValidateSet("Completed", "Failed")]
    public string? Status { get; set; }

    /// <summary>Remove a trajectory with forks together with its whole subtree (without it, such a trajectory is FleTrajectoryHasForks).</summary>
    [Parameter(ParameterSetName = ById)]
    public SwitchParameter Recurse { get; set; }

    /// <summary>Return nothing (default) or the removed trajectories' ids (with -Recurse: the trajectory's, then every fork removed with it).</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == ByAge)
        {
            var cutoff = DateTime.UtcNow - OlderThan;
            FleTrajectoryStatus? status = Status is null ? null : Enum.Parse<FleTrajectoryStatus>(Status, true);
            var query = new FleTrajectoryQuery { EndedBefore = cutoff, Status = status };
            var old = Run(ct => Fle.Core.Storage.FleStore.ToListAsync(Store.QueryTrajectoriesAsync(query, ct)));
            WriteVerbose($"{old.Count} finished trajectories ended before {cutoff:u}.");
            // Forks first, so an old tree goes leaf by leaf; a trajectory whose forks are kept (newer, or running) stays.
            foreach (var t in Fle.Core.Storage.FleStore.ForksFirst(old))
                Remove(t.Id, $"trajectory '{t.Id}' (task {t.TaskId}, {t.Status}, ended {t.EndTime:u}, {t.StepCount} steps)", false, keepWithForks: true);
            return;
        }
        foreach (var id in Id)
            Remove(id, Recurse ? $"trajectory '{id}' and every fork under it, with all their steps and game states" : $"trajectory '{id}' and all its steps and game states",
                Recurse);
    }

    private void Remove(string id, string description, bool recurse, bool keepWithForks = false)
    {
        if (!ShouldProcess(description, "Remove")) return;
        bool Kept(FleException e)
        {
            if (!keepWithForks || e.ErrorId != FleErrorIds.TrajectoryHasForks) return false;
            WriteWarning($"Kept trajectory '{id}': forks that are not being removed read steps through it.");
            return true;
        }
        if (!TryRun(ct => Store.DeleteTrajectoriesAsync(id, recurse, ct), out var removed, id, Kept)) return;
        if (removed.Count == 0)
        {
            WriteFleError(FleErrorIds.TrajectoryNotFound, ErrorCategory.ObjectNotFound, $"Trajectory '{id}' was not found in {Store.Location}.", id);
            return;
        }
        WriteVerbose(removed.Count == 1 ? $"Removed trajectory '{id}'." : $"Removed trajectory '{id}' and {removed.Count - 1} fork(s) under it.");
        if (PassThru) foreach (var gone in removed) WriteObject(gone);
    }
}

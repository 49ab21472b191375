namespace Fle.Core.Storage;

// Engine primitive added for Import-FleProgramTable (issue 7). To reconcile with the bulk import
// path of issue 4: an importer needs to finish a trajectory with the end time of the source data,
// not the time of the import (CompleteTrajectoryAsync always uses "now").
public abstract partial class FleStore
{
    /// <summary>
    /// Set a trajectory's status and end time as recorded elsewhere (an import): Completed or Failed with the
    /// given end time, or Running with none.
    /// </summary>
    public Task<FleTrajectory> SetTrajectoryEndAsync(string id, FleTrajectoryStatus status, DateTime? endTime,
        CancellationToken cancellationToken = default)
    {
        if (status == FleTrajectoryStatus.Running && endTime is not null)
            throw FleException.InvalidArgument("A running trajectory has no end time.");
        if (status != FleTrajectoryStatus.Running && endTime is null)
            throw FleException.InvalidArgument("A completed or failed trajectory needs an end time.");
        return SetStatusAsync(id, status, endTime is { } e ? FleClock.Truncate(e) : null, cancellationToken);
    }
}

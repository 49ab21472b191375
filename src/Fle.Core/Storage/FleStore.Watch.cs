using System.Data;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Dapper;

namespace Fle.Core.Storage;

/// <summary>Following a running trajectory: the steps other writers save, as they are saved.</summary>
public sealed partial class FleStore
{
    /// <summary>The longest single wait for a change (a watch without a timeout waits in slices of this).</summary>
    private static readonly TimeSpan WatchSlice = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The steps saved to a running trajectory from now on, by any writer (another process, another store), in step
    /// order, each soon after it is saved: the provider notices a change cheaply (SQLite: PRAGMA data_version polled
    /// every 100 ms; PostgreSQL: LISTEN/NOTIFY) and only then are the steps after the last one seen read. The sequence
    /// ends when the trajectory is completed or failed (after the steps saved before that), when
    /// <paramref name="timeout"/> has passed, or when <paramref name="cancellationToken"/> is cancelled
    /// (OperationCanceledException). Steps saved before the watch started are not returned (<see cref="GetStepsAsync"/>
    /// reads the history), nor is a step saved later under a number at or below the highest one seen (saved again, or
    /// out of order). A trajectory that does not exist, or is deleted while watched, is TrajectoryNotFound.
    /// <paramref name="progress"/> hears of every step and of the wait before the first one.
    /// </summary>
    public async IAsyncEnumerable<FleStep> WatchStepsAsync(string trajectoryId, bool includeGameState = false, TimeSpan? timeout = null,
        IProgress<FleProgress>? progress = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        FleIds.Validate(trajectoryId);
        if (timeout is { } limit && limit <= TimeSpan.Zero)
            throw FleException.InvalidArgument($"The timeout is {limit}; give a positive time span, or none to watch until the trajectory ends.");
        var clock = Stopwatch.StartNew();
        // The watch opens before the first read: a step saved between the two is then a change, never missed.
        var watch = await RunAsync(ct => Provider.WatchAsync(trajectoryId, ct), trajectoryId, null, cancellationToken).ConfigureAwait(false);
        await using (watch.ConfigureAwait(false))
        {
            var (running, last) = await ReadWatchedAsync(trajectoryId, false, cancellationToken).ConfigureAwait(false);
            progress?.Report(new FleProgress("Watch", last < 0
                ? $"Waiting for the first step of trajectory '{trajectoryId}'"
                : $"Waiting for the next step of trajectory '{trajectoryId}' (step {last} is the last saved)"));
            long seen = 0;
            while (running)
            {
                var wait = timeout is { } t ? t - clock.Elapsed : WatchSlice;
                if (wait <= TimeSpan.Zero) yield break;
                if (!await RunAsync(ct => watch.WaitAsync(wait < WatchSlice ? wait : WatchSlice, ct), trajectoryId, null, cancellationToken, retryTransient: false)
                        .ConfigureAwait(false))
                    continue;
                (running, var newest) = await ReadWatchedAsync(trajectoryId, true, cancellationToken).ConfigureAwait(false);
                if (newest <= last) continue; // a commit of another trajectory, or a status change
                await foreach (var step in StreamAsync(includeGameState ? Sql.SelectStepsWithState : Sql.SelectSteps,
                    [("@t", trajectoryId), ("@from", last + 1), ("@to", long.MaxValue)], CommandBehavior.SequentialAccess, trajectoryId,
                    r => ReadStep(r, includeGameState, trajectoryId), cancellationToken).ConfigureAwait(false))
                {
                    last = step.StepNumber;
                    seen++;
                    progress?.Report(new FleProgress("Watch",
                        $"{seen} new step{(seen == 1 ? "" : "s")}; the last: step {last}, saved {step.Timestamp.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC",
                        -1, $"trajectory '{trajectoryId}'"));
                    yield return step;
                }
            }
        }
    }

    /// <summary>
    /// Whether the trajectory is running, and its highest step number (a fork without steps of its own: its fork step;
    /// -1: none) — one small indexed read. A fork's new steps are its own rows.
    /// </summary>
    private async Task<(bool Running, long Last)> ReadWatchedAsync(string trajectoryId, bool watching, CancellationToken cancellationToken)
    {
        var row = await DbAsync((conn, ct) => conn.QuerySingleOrDefaultAsync<(string Status, long? Last)?>(Cmd(
            "SELECT t.status, COALESCE((SELECT MAX(s.step_number) FROM steps s WHERE s.trajectory_id = t.id), t.fork_step_number) FROM trajectories t WHERE t.id = @t",
            new { t = trajectoryId }, ct)), trajectoryId, cancellationToken).ConfigureAwait(false);
        if (row is not { } r)
        {
            throw watching
                ? new FleException(FleErrorIds.TrajectoryNotFound, FleErrorKind.NotFound, $"Trajectory '{trajectoryId}' was deleted while it was watched.", target: trajectoryId)
                : FleException.TrajectoryNotFound(trajectoryId);
        }
        return (ParseStatus(r.Status) == FleTrajectoryStatus.Running, r.Last ?? -1);
    }
}

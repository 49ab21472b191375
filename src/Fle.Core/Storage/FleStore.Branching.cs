using System.Collections.Concurrent;
using System.Data;
using System.Runtime.CompilerServices;
using Dapper;

namespace Fle.Core.Storage;

/// <summary>A trajectory in its tree: its id, its parent and the step it was forked at (null for a root).</summary>
internal sealed record LineageNode(string Id, string? ParentId, long? ForkStepNumber);

/// <summary>Steps <see cref="From"/>..<see cref="To"/> of a trajectory's view are those stored in <see cref="TrajectoryId"/>.</summary>
internal readonly record struct StepSource(string TrajectoryId, long From, long To);

/// <summary>How Resume goes back to an earlier step.</summary>
public enum FleResumeMode
{
    /// <summary>Only when no later step exists (else FleLaterStepsExist).</summary>
    Strict,

    /// <summary>Fork at the step: the history stays, the fork continues from it.</summary>
    Fork,

    /// <summary>Delete the later steps of the trajectory, in one transaction.</summary>
    DiscardLaterSteps,
}

/// <summary>
/// Trajectories that branch. A fork is a row: its steps 0..fork_step_number are read through its parent (and its
/// parent's ancestors), stored once; its own steps follow. A trajectory's lineage (itself and its ancestors) never
/// changes once it exists, so it is read once per store and kept.
/// </summary>
public sealed partial class FleStore
{
    private readonly ConcurrentDictionary<string, LineageNode[]> _lineage = new(StringComparer.Ordinal);

    private const string LineageSql =
        "WITH RECURSIVE chain(id, parent_id, fork_step_number, depth) AS (" +
        "SELECT id, parent_id, fork_step_number, CAST(0 AS BIGINT) FROM trajectories WHERE id = @id " +
        "UNION ALL SELECT t.id, t.parent_id, t.fork_step_number, c.depth + 1 FROM trajectories t JOIN chain c ON t.id = c.parent_id WHERE c.depth < 100000) " +
        "SELECT id, parent_id, fork_step_number, depth FROM chain";

    /// <summary>The subtree under a trajectory (its forks, theirs, ...), as SQL of ids (@parent).</summary>
    private const string SubtreeSql =
        "WITH RECURSIVE sub(id, depth) AS (SELECT id, CAST(1 AS BIGINT) FROM trajectories WHERE parent_id = @parent " +
        "UNION ALL SELECT t.id, s.depth + 1 FROM trajectories t JOIN sub s ON t.parent_id = s.id WHERE s.depth < 100000) SELECT id FROM sub ORDER BY depth";

    /// <summary>A trajectory and its ancestors, root first; null when it does not exist.</summary>
    internal async Task<LineageNode[]?> GetLineageAsync(string id, CancellationToken cancellationToken)
    {
        if (_lineage.TryGetValue(id, out var known)) return known;
        var rows = (await DbAsync((conn, ct) => conn.QueryAsync<(string Id, string? ParentId, long? ForkStepNumber, long Depth)>(Cmd(LineageSql, new { id }, ct)),
            id, cancellationToken).ConfigureAwait(false)).ToList();
        if (rows.Count == 0) return null;
        var chain = rows.OrderByDescending(r => r.Depth).Select(r => new LineageNode(r.Id, r.ParentId, r.ForkStepNumber)).ToArray();
        _lineage[id] = chain;
        return chain;
    }

    private async Task<LineageNode[]> RequireLineageAsync(string id, CancellationToken ct)
        => await GetLineageAsync(id, ct).ConfigureAwait(false) ?? throw FleException.TrajectoryNotFound(id);

    /// <summary>
    /// Where each step of a trajectory's view is stored, in step order: from the leaf up, a trajectory holds the steps
    /// after its own fork point up to the fork point of the child below it (a fork at a step its parent itself inherits
    /// reads that step from further up).
    /// </summary>
    internal static List<StepSource> Sources(IReadOnlyList<LineageNode> chain)
    {
        var list = new List<StepSource>();
        var limit = long.MaxValue;
        for (var i = chain.Count - 1; i >= 0; i--)
        {
            var node = chain[i];
            var from = node.ForkStepNumber is { } f ? f + 1 : 0;
            if (from <= limit) list.Add(new StepSource(node.Id, from, limit));
            if (node.ForkStepNumber is { } fork) limit = Math.Min(limit, fork);
        }
        list.Reverse();
        return list;
    }

    /// <summary>The source that holds step <paramref name="n"/> of a view, or null when no source covers it.</summary>
    private static StepSource? SourceOf(List<StepSource> sources, long n)
    {
        foreach (var s in sources)
            if (n >= s.From && n <= s.To) return s;
        return null;
    }

    /// <summary>Forget every cache of what the database holds (it was restored or replaced underneath).</summary>
    private void ForgetEverything()
    {
        Codec.Reset();
        ForgetLineage();
    }

    /// <summary>Forget what is known of trajectories (deleted, or the database replaced).</summary>
    private void ForgetLineage(IEnumerable<string>? ids = null)
    {
        if (ids is null) _lineage.Clear();
        else foreach (var id in ids) _lineage.TryRemove(id, out _);
    }

    // ------------------------------------------------------------------ forks

    /// <summary>
    /// A fork of <paramref name="parentId"/> at <paramref name="forkStepNumber"/>: a new running trajectory whose steps
    /// 0..forkStepNumber are its parent's (read through it, stored once). The task and metadata default to the parent's.
    /// A step the parent does not have is FleStepNotFound.
    /// </summary>
    public async Task<FleTrajectory> CreateForkAsync(string parentId, long forkStepNumber, string? taskId = null, string? metadataJson = null,
        string? id = null, DateTime? startTime = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        FleIds.Validate(parentId);
        if (id is not null) FleIds.Validate(id);
        if (taskId is not null) FleIds.Validate(taskId, "task id");
        if (forkStepNumber < 0)
            throw FleException.InvalidArgument($"Step number {forkStepNumber} is negative; step numbers start at 0.", forkStepNumber, FleErrorIds.InvalidStepNumber);
        var parentChain = await RequireLineageAsync(parentId, cancellationToken).ConfigureAwait(false);
        var parent = await GetTrajectoryAsync(parentId, cancellationToken).ConfigureAwait(false) ?? throw FleException.TrajectoryNotFound(parentId);
        if (!await ViewHasStepAsync(parentChain, forkStepNumber, cancellationToken).ConfigureAwait(false))
            throw FleException.StepNotFound(parentId, forkStepNumber, "forked at");
        var meta = metadataJson is null ? parent.MetadataJson : FleJson.NormalizeObject(metadataJson);
        var fork = await InsertTrajectoryAsync(taskId ?? parent.TaskId, meta, id, startTime, parentId, forkStepNumber, cancellationToken).ConfigureAwait(false);
        _lineage[fork.Id] = [.. parentChain, new LineageNode(fork.Id, parentId, forkStepNumber)];
        return fork;
    }

    private async Task<bool> ViewHasStepAsync(LineageNode[] chain, long n, CancellationToken ct)
    {
        if (SourceOf(Sources(chain), n) is not { } src) return false;
        return await DbAsync((conn, c) => conn.ExecuteScalarAsync<long?>(Cmd("SELECT 1 FROM steps WHERE trajectory_id = @t AND step_number = @n",
            new { t = src.TrajectoryId, n }, c)), src.TrajectoryId, ct).ConfigureAwait(false) is not null;
    }

    /// <summary>A fork's steps up to its fork point are its parent's: saving one of them into the fork is refused.</summary>
    private async Task CheckNotInheritedAsync(string trajectoryId, long stepNumber, CancellationToken ct)
    {
        if (await GetLineageAsync(trajectoryId, ct).ConfigureAwait(false) is not { } chain) return; // the write reports it missing
        if (chain[^1].ForkStepNumber is { } fork && stepNumber <= fork)
            throw new FleException(FleErrorIds.StepInherited, FleErrorKind.InvalidArgument,
                $"Step {stepNumber} of trajectory '{trajectoryId}' is inherited: the trajectory is a fork of '{chain[^1].ParentId}' at step {fork}, so its steps " +
                $"0 to {fork} are its parent's. Save step {fork + 1} or later.", target: $"{trajectoryId}#{stepNumber}");
    }

    // ------------------------------------------------------------------ resuming from an earlier step

    /// <summary>
    /// Resume from step <paramref name="stepNumber"/>: with <see cref="FleResumeMode.Fork"/> a fork at that step (the
    /// history stays), its checkpoint there returned; with <see cref="FleResumeMode.DiscardLaterSteps"/> the later steps
    /// are deleted in one transaction; <see cref="FleResumeMode.Strict"/> when no later step exists (else
    /// FleLaterStepsExist). The trajectory resumed is marked running.
    /// </summary>
    public async Task<(FleTrajectory Trajectory, FleCheckpoint Checkpoint)> ResumeFromStepAsync(string id, long stepNumber, FleResumeMode mode,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        FleIds.Validate(id);
        var chain = await RequireLineageAsync(id, cancellationToken).ConfigureAwait(false);
        // The state to resume from, read before anything changes.
        var checkpoint = await ReadCheckpointAsync(id, stepNumber, cancellationToken).ConfigureAwait(false)
            ?? throw (await ViewHasStepAsync(chain, stepNumber, cancellationToken).ConfigureAwait(false)
                ? new FleException(FleErrorIds.CheckpointNotFound, FleErrorKind.NotFound,
                    $"Step {stepNumber} of trajectory '{id}' has no game state to resume from. Resume from a step saved with its game state.", target: $"{id}#{stepNumber}")
                : FleException.StepNotFound(id, stepNumber, "resumed from"));
        if (mode == FleResumeMode.Fork)
        {
            var fork = await CreateForkAsync(id, stepNumber, cancellationToken: cancellationToken).ConfigureAwait(false);
            return (fork, checkpoint.AsStepOf(fork.Id));
        }
        var later = await CountViewStepsAsync(Sources(chain), stepNumber + 1, long.MaxValue, cancellationToken).ConfigureAwait(false);
        if (later.Count > 0)
        {
            if (mode == FleResumeMode.Strict)
                throw new FleException(FleErrorIds.LaterStepsExist, FleErrorKind.InvalidArgument,
                    $"Trajectory '{id}' has {later.Count} step(s) after step {stepNumber} (up to {later.Last}). Resuming from step {stepNumber} would leave them in its history: " +
                    "fork at that step to keep them, or discard them on purpose.", target: $"{id}#{stepNumber}");
            await DiscardLaterStepsAsync(chain, stepNumber, cancellationToken).ConfigureAwait(false);
        }
        var t = await SetStatusAsync(id, FleTrajectoryStatus.Running, null, cancellationToken).ConfigureAwait(false);
        return (t, checkpoint); // the steps after it went, not it
    }

    /// <summary>Delete a trajectory's own steps after <paramref name="stepNumber"/> (states with them), in one transaction.</summary>
    private async Task DiscardLaterStepsAsync(LineageNode[] chain, long stepNumber, CancellationToken cancellationToken)
    {
        var self = chain[^1];
        if (self.ForkStepNumber is { } fork && stepNumber < fork)
            throw new FleException(FleErrorIds.StepInherited, FleErrorKind.InvalidArgument,
                $"Steps {stepNumber + 1} to {fork} of trajectory '{self.Id}' are inherited from '{self.ParentId}' and cannot be discarded. Fork at step {stepNumber} instead.",
                target: $"{self.Id}#{stepNumber}");
        await DbAsync(async (conn, ct) =>
        {
            await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
            var child = await conn.ExecuteScalarAsync<string?>(Cmd("SELECT id FROM trajectories WHERE parent_id = @t AND fork_step_number > @n ORDER BY id LIMIT 1",
                new { t = self.Id, n = stepNumber }, ct, tx)).ConfigureAwait(false);
            if (child is not null)
                throw HasForks(self.Id, $"its fork '{child}' reads steps after {stepNumber} through it. Fork at step {stepNumber} instead, or remove the fork first");
            await conn.ExecuteAsync(Cmd("DELETE FROM steps WHERE trajectory_id = @t AND step_number > @n", new { t = self.Id, n = stepNumber }, ct, tx)).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return 0;
        }, self.Id, cancellationToken).ConfigureAwait(false);
        Codec.Forget(self.Id);
    }

    internal static FleException HasForks(string id, string why) => new(FleErrorIds.TrajectoryHasForks, FleErrorKind.InvalidArgument,
        $"Trajectory '{id}' has forks: {why}.", target: id) { RecommendedAction = "Remove its subtree with it, or remove the forks first." };

    // ------------------------------------------------------------------ the tree

    /// <summary>A trajectory and its ancestors, root first.</summary>
    public async Task<List<FleTrajectory>> GetAncestryAsync(string id, CancellationToken cancellationToken = default)
    {
        FleIds.Validate(id);
        var chain = await RequireLineageAsync(id, cancellationToken).ConfigureAwait(false);
        var found = (await ListTrajectoriesAsync(new FleTrajectoryQuery { Ids = chain.Select(n => n.Id).ToList() }, cancellationToken).ConfigureAwait(false))
            .ToDictionary(t => t.Id, StringComparer.Ordinal);
        return chain.Where(n => found.ContainsKey(n.Id)).Select(n => found[n.Id]).ToList();
    }

    /// <summary>
    /// Trajectories in an order that can be deleted one by one: a fork before the trajectory it was forked from (when
    /// both are in the list); otherwise in the given order.
    /// </summary>
    public static List<FleTrajectory> ForksFirst(IEnumerable<FleTrajectory> trajectories)
    {
        var list = trajectories.ToList();
        var parentOf = list.GroupBy(t => t.Id, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First().ParentId, StringComparer.Ordinal);
        int Depth(FleTrajectory t)
        {
            var d = 0;
            for (var p = t.ParentId; p is not null && parentOf.TryGetValue(p, out var up) && d < list.Count; p = up) d++;
            return d;
        }
        return [.. list.Select((t, i) => (t, i, d: Depth(t))).OrderByDescending(x => x.d).ThenBy(x => x.i).Select(x => x.t)];
    }

    /// <summary>The ids of a trajectory's subtree (its forks, theirs, ...), deepest last.</summary>
    private Task<List<string>> SubtreeAsync(string id, CancellationToken cancellationToken)
        => DbAsync(async (conn, ct) => (await conn.QueryAsync<string>(Cmd(SubtreeSql, new { parent = id }, ct)).ConfigureAwait(false)).ToList(),
            id, cancellationToken);

    // ------------------------------------------------------------------ best nodes (beam search)

    /// <summary>
    /// The <paramref name="top"/> steps with the highest (or, without <paramref name="descending"/>, lowest) number at the
    /// step-metadata key <paramref name="sortBy"/>, of a task's trajectories and/or of one trajectory's view (a fork with
    /// what it inherits), evaluated in the database. A missing or non-numeric value sorts last; ties go to the earlier step.
    /// </summary>
    public async IAsyncEnumerable<FleStep> GetTopStepsAsync(string? taskId, string? trajectoryId, int top, string sortBy, bool descending = true,
        bool includeGameState = false, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (taskId is null && trajectoryId is null) throw FleException.InvalidArgument("Give a task id, a trajectory id, or both, to rank the steps of.");
        if (top < 1) throw FleException.InvalidArgument($"The number of steps to return must be at least 1 (it is {top}).");
        if (string.IsNullOrEmpty(sortBy)) throw FleException.InvalidArgument("Give the metadata key to rank the steps by.");
        if (taskId is not null) FleIds.Validate(taskId, "task id");
        var where = new List<string>();
        var ps = new List<(string, object?)> { ("@key", Provider.Dialect.JsonKey(sortBy)), ("@top", (long)top) };
        if (taskId is not null)
        {
            where.Add("s.trajectory_id IN (SELECT id FROM trajectories WHERE task_id = @task)");
            ps.Add(("@task", taskId));
        }
        if (trajectoryId is not null)
        {
            FleIds.Validate(trajectoryId);
            var sources = Sources(await RequireLineageAsync(trajectoryId, cancellationToken).ConfigureAwait(false));
            where.Add("(" + string.Join(" OR ", sources.Select((src, i) => $"(s.trajectory_id = @t{i} AND s.step_number >= @f{i} AND s.step_number <= @l{i})")) + ")");
            for (var i = 0; i < sources.Count; i++) ps.AddRange([($"@t{i}", sources[i].TrajectoryId), ($"@f{i}", sources[i].From), ($"@l{i}", sources[i].To)]);
        }
        var value = Provider.Dialect.JsonNumber("s.metadata", "@key");
        var sql = $"SELECT {Sql.StepColumns}{(includeGameState ? Sql.StateColumns : "")} FROM steps s LEFT JOIN game_states g ON g.step_id = s.id " +
                  $"WHERE {string.Join(" AND ", where)} ORDER BY ({value} IS NULL), {value} {(descending ? "DESC" : "ASC")}, s.\"timestamp\", s.id LIMIT @top";
        await foreach (var step in StreamAsync(sql, ps, CommandBehavior.SequentialAccess, trajectoryId, r => ReadStep(r, includeGameState, trajectoryId), cancellationToken)
            .ConfigureAwait(false))
            yield return step;
    }

    // ------------------------------------------------------------------ counting a view

    /// <summary>How many steps of a view lie in from..to, and the highest.</summary>
    private async Task<(long Count, long? Last)> CountViewStepsAsync(IEnumerable<StepSource> sources, long from, long to, CancellationToken cancellationToken)
    {
        // One statement over every source in range (an index range each), not one query per ancestor: listing many forks
        // calls this once per fork.
        var ranges = sources.Select(s => (s.TrajectoryId, Lo: Math.Max(from, s.From), Hi: Math.Min(to, s.To))).Where(r => r.Lo <= r.Hi).ToList();
        if (ranges.Count == 0) return (0, null);
        var ps = new Dictionary<string, object>();
        var where = new List<string>(ranges.Count);
        for (var i = 0; i < ranges.Count; i++)
        {
            where.Add($"(trajectory_id = @t{i} AND step_number >= @lo{i} AND step_number <= @hi{i})");
            ps[$"t{i}"] = ranges[i].TrajectoryId;
            ps[$"lo{i}"] = ranges[i].Lo;
            ps[$"hi{i}"] = ranges[i].Hi;
        }
        return await DbAsync((conn, ct) => conn.QuerySingleAsync<(long, long?)>(Cmd(
            $"SELECT COUNT(*), MAX(step_number) FROM steps WHERE {string.Join(" OR ", where)}", new DynamicParameters(ps), ct)), ranges[^1].TrajectoryId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A fork as listed: its own step count and last step, plus what it inherits.</summary>
    private async Task<FleTrajectory> WithInheritedAsync(FleTrajectory t, CancellationToken ct)
    {
        if (t.ParentId is null || await GetLineageAsync(t.Id, ct).ConfigureAwait(false) is not { } chain) return t;
        var inherited = await CountViewStepsAsync(Sources(chain).Where(s => s.TrajectoryId != t.Id), 0, long.MaxValue, ct).ConfigureAwait(false);
        return t.WithSteps(t.StepCount + inherited.Count, t.LastStepNumber ?? inherited.Last);
    }
}

namespace Fle.Core.Import;

/// <summary>A row of a chain: its id, its planned step number, its created_at.</summary>
internal readonly record struct ChainRow(long Id, long Step, DateTime CreatedAt);

/// <summary>
/// One trajectory as the rows of FLE's table alone plan it: a root, or a fork of another chain after one of its rows,
/// with its rows and their step numbers. Its id is <see cref="FleProgramTableImporter.TrajectoryId"/> of its run and
/// first row, so it depends on its own rows only.
/// </summary>
internal sealed class ProgramChain
{
    private bool _byPosition;

    public ProgramChain(ProgramRunPlan run, ScannedRow first, ProgramChain? parent = null, long? parentRowId = null, long parentStep = 0)
    {
        Run = run;
        FirstRowId = first.Id;
        StartTime = first.CreatedAt;
        Parent = parent;
        ParentRowId = parentRowId;
        ParentStep = parentStep;
        if (parent is null)
        {
            // A root: its first row chooses the scheme.
            if (FleProgramTableImporter.StepFromDepth(first.DepthValue, FleStepNumbering.Depth) is not null) Numbering = FleStepNumbering.Depth;
            else if (FleProgramTableImporter.StepFromDepth(first.DepthValue, FleStepNumbering.HalvedDepth) is not null) Numbering = FleStepNumbering.HalvedDepth;
            else Numbering = FleStepNumbering.Position;
        }
        else
        {
            // A fork takes its parent's scheme, by position already when the parent was by position at the fork step.
            Numbering = parent.Numbering;
            _byPosition = parent.PositionFromStep is { } p && p <= parentStep;
        }
    }

    public ProgramRunPlan Run { get; }
    public long FirstRowId { get; }
    public DateTime StartTime { get; }

    /// <summary>For a fork: the chain and row it branches from, and that row's planned step (its fork step).</summary>
    public ProgramChain? Parent { get; }
    public long? ParentRowId { get; }
    public long ParentStep { get; }

    public FleStepNumbering Numbering { get; }

    /// <summary>The first of the chain's own steps numbered by position while the scheme is a depth scheme, or null.</summary>
    public long? PositionFromStep { get; private set; }

    public List<ChainRow> Rows { get; } = [];

    /// <summary>The last row so far: the only one a row of the same run can continue the chain after.</summary>
    public long TailRowId => Rows[^1].Id;

    public string TrajectoryId => FleProgramTableImporter.TrajectoryId(Run.Key, FirstRowId, StartTime);

    /// <summary>
    /// The step number of the next row after a row numbered <paramref name="previous"/> (none: the first row of a root):
    /// its depth's number under the scheme while that is whole and higher than the previous number (for a fork's first
    /// row: exactly the fork step + 1); from the first row where it is not, by position (previous + 1) for good.
    /// </summary>
    public long Add(ScannedRow row, long? previous)
    {
        long step;
        if (previous is not { } prev)
        {
            step = Numbering == FleStepNumbering.Position ? 1 : FleProgramTableImporter.StepFromDepth(row.DepthValue, Numbering)!.Value;
        }
        else if (Numbering != FleStepNumbering.Position && !_byPosition && FleProgramTableImporter.StepFromDepth(row.DepthValue, Numbering) is { } s && s > prev
                 && (Rows.Count > 0 || Parent is null || s == prev + 1))
        {
            step = s;
        }
        else
        {
            step = prev + 1;
            _byPosition = true;
            if (Numbering != FleStepNumbering.Position) PositionFromStep ??= step;
        }
        Rows.Add(new ChainRow(row.Id, step, row.CreatedAt));
        return step;
    }

    public override string ToString() => $"chain {TrajectoryId} ({Rows.Count} rows{(Parent is null ? "" : $", fork after program {ParentRowId}")})";
}

/// <summary>
/// FLE's search trees as trajectories, planned from the rows of FLE's table alone. The rows of all runs are taken in
/// created_at, id order (each run's own order kept). A row's predecessor is the row its parent_id names, when that row
/// is a dated row of the table that came before it; otherwise (no parent_id, a parent deleted from the table, a row
/// without created_at or a meta that is not JSON, a parent_id naming the row itself or a later row, as in a cycle) it
/// is the previous row of its run when the run has a process_id (FLE's trajectory runner), else none (a root of FLE's
/// search: <see cref="ProgramRunPlan.FollowsPreviousRow"/>). A row continues its predecessor's chain when the
/// predecessor is that chain's last row so far and of the same run; otherwise it starts a chain of its own: a fork of the
/// predecessor's chain at the predecessor's step (the first child of a program continues it, every later one branches),
/// or a root. Every decision looks only at rows before the row, so rows FLE adds later change nothing planned before.
/// </summary>
internal static class ProgramTree
{
    public static (List<ProgramChain> Chains, Dictionary<long, (ProgramChain Chain, long Step)> Rows) Plan(IReadOnlyList<ProgramRunPlan> runs)
    {
        var chains = new List<ProgramChain>();
        var placed = new Dictionary<long, (ProgramChain Chain, long Step)>();
        var queue = new PriorityQueue<(int Run, int Position), (DateTime, long)>();
        for (var i = 0; i < runs.Count; i++)
            if (runs[i].Dated.Count > 0) queue.Enqueue((i, 0), (runs[i].Dated[0].CreatedAt, runs[i].Dated[0].Id));
        while (queue.TryDequeue(out var at, out _))
        {
            var run = runs[at.Run];
            var row = run.Dated[at.Position];
            long? predecessor = null;
            if (row.ParentId is { } p && p != row.Id && placed.ContainsKey(p)) predecessor = p;
            else if (run.FollowsPreviousRow && at.Position > 0) predecessor = run.Dated[at.Position - 1].Id;

            ProgramChain chain;
            long step;
            if (predecessor is not { } pred)
            {
                chain = new ProgramChain(run, row);
                chains.Add(chain);
                step = chain.Add(row, null);
            }
            else
            {
                var (parentChain, parentStep) = placed[pred];
                if (ReferenceEquals(parentChain.Run, run) && parentChain.TailRowId == pred)
                {
                    chain = parentChain;
                }
                else
                {
                    chain = new ProgramChain(run, row, parentChain, pred, parentStep);
                    chains.Add(chain);
                }
                step = chain.Add(row, parentStep);
            }
            placed[row.Id] = (chain, step);
            if (at.Position + 1 < run.Dated.Count)
            {
                var next = run.Dated[at.Position + 1];
                queue.Enqueue((at.Run, at.Position + 1), (next.CreatedAt, next.Id));
            }
        }
        return (chains, placed);
    }
}

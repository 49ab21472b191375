using Fle.Core.Storage;

namespace Fle.Core.Import;

/// <summary>A trajectory that an earlier Import-FleProgramTable created, with what it holds.</summary>
internal sealed class ExistingTrajectory(ProgramImportRecord record, string key, ExistingSteps steps)
{
    public ProgramImportRecord Record { get; } = record;
    public string Key { get; } = key;
    public ExistingSteps Steps { get; } = steps;

    /// <summary>Its work in this import, once a row of the table was found in it or given to it.</summary>
    public ProgramTrajectoryWork? Work { get; set; }
}

/// <summary>What became of a trajectory's work in this import, for the forks that read through it.</summary>
internal enum WorkState
{
    Pending,

    /// <summary>It exists (it existed, was written, or with -WhatIf would be).</summary>
    Exists,

    /// <summary>The user declined it (-Confirm): its forks are declined with it.</summary>
    Declined,

    /// <summary>Not written: none of its rows could be imported (its forks cannot be either).</summary>
    Missing,
}

/// <summary>
/// One trajectory this import writes or brings up to date: an existing one (new rows appended, or its record refreshed),
/// or a new one (a root, or a fork of another trajectory of this work list at a step), with its new rows and their step
/// numbers. Written in list order, so a fork's parent always comes first.
/// </summary>
internal sealed class ProgramTrajectoryWork
{
    private ProgramTrajectoryWork(string id, ProgramChain owner)
    {
        Id = id;
        Owner = owner;
    }

    public string Id { get; }

    /// <summary>The chain whose metadata the trajectory carries (the chain of the first row found in it or given to it).</summary>
    public ProgramChain Owner { get; }

    public ExistingTrajectory? Existing { get; private init; }

    /// <summary>For a new fork: the trajectory it reads steps 0..<see cref="ForkStep"/> through.</summary>
    public ProgramTrajectoryWork? Parent { get; private init; }
    public long? ForkStep { get; private init; }

    /// <summary>A new trajectory's start time: its first row's created_at.</summary>
    public DateTime StartTime { get; private init; }

    /// <summary>The rows to write, with their step numbers, in created_at, id order.</summary>
    public List<PlannedRow> Fresh { get; } = [];

    /// <summary>Rows whose step number is taken (by a stored step or an earlier row of this list): reported StepConflict.</summary>
    public Dictionary<long, string> Conflicts { get; } = [];

    /// <summary>Rows of the table found in it already.</summary>
    public long Held { get; set; }

    /// <summary>
    /// imported_from.rows: the rows of the table in it (found or given, skipped ones too), and the run's rows without
    /// created_at when it holds the run's first dated row.
    /// </summary>
    public long Rows { get; private set; }

    /// <summary>imported_from.first_program_id: its first row of the table (created_at, id order).</summary>
    public long FirstRowId { get; private set; }
    private (DateTime, long)? _first;

    /// <summary>A row of the table is in it (found, or given).</summary>
    public void Count(ChainRow row, ProgramRunPlan run)
    {
        Rows += row.Id == run.FirstRowId ? 1 + run.Undated.Count : 1;
        if (_first is { } f && f.CompareTo((row.CreatedAt, row.Id)) <= 0) return;
        _first = (row.CreatedAt, row.Id);
        FirstRowId = row.Id;
    }

    public WorkState State { get; set; }

    /// <summary>Step numbers given to rows in this import (stored ones are in <see cref="ExistingTrajectory.Steps"/>).</summary>
    private readonly Dictionary<long, (long Row, ProgramChain Chain)> _given = [];

    /// <summary>The chain of the table's row at each step (stored and given), built when first asked: <see cref="HasOthersAfter"/>.</summary>
    private SortedList<long, ProgramChain>? _chains;

    public bool IsFork => Parent is not null;

    public static ProgramTrajectoryWork ForExisting(ExistingTrajectory e, ProgramChain owner) => new(e.Record.Id, owner) { Existing = e, State = WorkState.Exists };

    public static ProgramTrajectoryWork New(string id, ProgramChain owner, DateTime start, ProgramTrajectoryWork? parent, long? forkStep)
        => new(id, owner) { StartTime = start, Parent = parent, ForkStep = forkStep };

    /// <summary>
    /// A step after <paramref name="step"/> holds a row of the table of another chain: a row of <paramref name="chain"/>
    /// after <paramref name="step"/> cannot go here. <paramref name="chainOf"/> gives the chain of a stored row.
    /// </summary>
    public bool HasOthersAfter(long step, ProgramChain chain, Func<string, ImportedStep, ProgramChain?> chainOf)
    {
        if (_chains is null)
        {
            _chains = [];
            if (Existing is { } e)
                foreach (var s in e.Steps.Programs.Values)
                    if (chainOf(e.Key, s) is { } c) _chains[s.StepNumber] = c;
            foreach (var (n, g) in _given) _chains[n] = g.Chain;
        }
        for (var i = _chains.Count - 1; i >= 0 && _chains.Keys[i] > step; i--)
            if (!ReferenceEquals(_chains.Values[i], chain)) return true;
        return false;
    }

    /// <summary>Give a row its step number here (or, when the number is taken, note the conflict).</summary>
    public void Give(ChainRow row, long step, ProgramChain chain)
    {
        Fresh.Add(new PlannedRow(row.Id, step));
        Count(row, chain.Run);
        long? holder = null;
        if (Existing?.Steps.Taken.TryGetValue(step, out holder) == true || _given.TryGetValue(step, out var given) && (holder = given.Row) is not null)
        {
            Conflicts[row.Id] = $"step {step} of trajectory '{Id}' already holds {(holder is { } h ? $"program {h}" : "a step that was not imported")}";
            return;
        }
        _given[step] = (row.Id, chain);
        _chains?.Add(step, chain);
    }

    public override string ToString() => $"{Id} ({Fresh.Count} new rows{(Parent is null ? "" : $", fork of {Parent.Id} at step {ForkStep}")})";
}

/// <summary>
/// Places the planned chains (<see cref="ProgramTree"/>) into the target: finds the rows earlier imports wrote (by program
/// id and created_at, among trajectories of the same run), and gives every other row a trajectory and a step number.
/// <para>
/// A chain's rows go where its rows already are. A row after one found in a trajectory keeps its distance to it (its
/// number moves by as much as that row's stored number differs from its planned one: zero when this release imported
/// it), in the same trajectory, unless that trajectory holds rows of another chain of the table after it (a
/// trajectory an earlier release imported whole, or a row between them deleted from the table): then the row starts a
/// new trajectory forked from it there. Rows before the first one found go to that row's trajectory at their planned
/// numbers. A chain nothing of which was imported is a new trajectory: a root, or a fork of the trajectory its parent
/// row is in (or goes to), at that row's step there. An import of a table whose earlier rows this release imported
/// therefore places every row exactly as a fresh import of the whole table does.
/// </para>
/// </summary>
internal static class ProgramPlacement
{
    public static (List<ProgramTrajectoryWork> Works, Dictionary<long, (ProgramTrajectoryWork Work, long Step)> Placed, long Held) Place(
        List<ProgramChain> chains, IReadOnlyCollection<ExistingTrajectory> existing)
    {
        // The rows earlier imports wrote, by run, program id and created_at (program ids repeat across FLE databases).
        var held = new Dictionary<(string Key, long Program, DateTime At), (ExistingTrajectory T, long Step)>();
        var byId = new Dictionary<string, ExistingTrajectory>(StringComparer.Ordinal);
        foreach (var e in existing)
        {
            byId.TryAdd(e.Record.Id, e);
            foreach (var s in e.Steps.Programs.Values) held.TryAdd((e.Key, s.ProgramId!.Value, s.Timestamp), (e, s.StepNumber));
        }
        (ExistingTrajectory T, long Step)? Held(ProgramChain c, ChainRow row)
            => held.TryGetValue((c.Run.Key, row.Id, FleClock.Truncate(row.CreatedAt)), out var h) ? h : null;

        // The chain of each row of the table, so that a row is not appended after another chain's rows.
        var chainOf = new Dictionary<(string Key, long Program), (ProgramChain Chain, DateTime At)>();
        foreach (var c in chains)
            foreach (var r in c.Rows)
                chainOf[(c.Run.Key, r.Id)] = (c, FleClock.Truncate(r.CreatedAt));
        ProgramChain? ChainOfStored(string key, ImportedStep s)
            => chainOf.TryGetValue((key, s.ProgramId!.Value), out var of) && of.At == s.Timestamp ? of.Chain : null;

        var works = new List<ProgramTrajectoryWork>();
        var placed = new Dictionary<long, (ProgramTrajectoryWork Work, long Step)>();
        long heldCount = 0;
        ProgramTrajectoryWork WorkOf(ExistingTrajectory e, ProgramChain c)
        {
            if (e.Work is { } w) return w;
            e.Work = w = ProgramTrajectoryWork.ForExisting(e, c);
            works.Add(w);
            return w;
        }
        ProgramTrajectoryWork NewWork(string id, ProgramChain c, DateTime start, ProgramTrajectoryWork? parent, long? forkStep)
        {
            var w = ProgramTrajectoryWork.New(id, c, start, parent, forkStep);
            works.Add(w);
            return w;
        }

        foreach (var c in chains)
        {
            var heldRows = c.Rows.Select(r => Held(c, r)).ToList();
            var firstHeld = heldRows.FindIndex(h => h is not null);
            (ProgramTrajectoryWork Work, long Step, long Planned)? anchor = null;
            for (var i = 0; i < c.Rows.Count; i++)
            {
                var row = c.Rows[i];
                if (heldRows[i] is { } h)
                {
                    var w = WorkOf(h.T, c);
                    w.Held++;
                    w.Count(row, c.Run);
                    heldCount++;
                    placed[row.Id] = (w, h.Step);
                    anchor = (w, h.Step, row.Step);
                    continue;
                }
                ProgramTrajectoryWork target;
                long step;
                if (anchor is not { } a)
                {
                    var e = byId.TryGetValue(c.TrajectoryId, out var own) && own.Key == c.Run.Key ? own : firstHeld >= 0 ? heldRows[firstHeld]!.Value.T : null;
                    if (e is not null)
                    {
                        target = WorkOf(e, c);
                        step = row.Step;
                    }
                    else if (c.Parent is null)
                    {
                        target = NewWork(c.TrajectoryId, c, c.StartTime, null, null);
                        step = row.Step;
                    }
                    else
                    {
                        var (parentWork, parentStep) = placed[c.ParentRowId!.Value];
                        target = NewWork(c.TrajectoryId, c, c.StartTime, parentWork, parentStep);
                        step = row.Step + (parentStep - c.ParentStep);
                    }
                }
                else
                {
                    step = row.Step + (a.Step - a.Planned);
                    // A trajectory continued in Fle takes the rows (they are reported: it is left as it is).
                    target = a.Work.Existing is { Steps.HasOtherSteps: true } || !a.Work.HasOthersAfter(a.Step, c, ChainOfStored)
                        ? a.Work
                        : NewWork(FleProgramTableImporter.TrajectoryId(c.Run.Key, row.Id, row.CreatedAt), c, row.CreatedAt, a.Work, a.Step);
                }
                target.Give(row, step, c);
                placed[row.Id] = (target, step);
                anchor = (target, step, row.Step);
            }
        }
        return (works, placed, heldCount);
    }
}

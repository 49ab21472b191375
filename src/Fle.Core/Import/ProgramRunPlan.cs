using System.Globalization;

namespace Fle.Core.Import;

/// <summary>A row of a run that has a created_at: its id and the step number it gets.</summary>
internal readonly record struct PlannedRow(long Id, long Step);

/// <summary>
/// One FLE run (a version, meta.process_id, instance group of <c>programs</c> rows) as the first pass found it: its
/// identity, the description of its first row, and every dated row in order with its step number. A few numbers per row;
/// the rows themselves are read in the second pass.
/// <para>
/// Step numbers (the rule is "prefix-stable": a row's number depends only on the rows before it in created_at, id order,
/// so rows FLE adds later never renumber earlier ones, and an incremental import numbers exactly as a fresh one):
/// the first dated row chooses the scheme: Depth when its depth is a conversation depth (1, 3, 5: step = ((depth − 1) /
/// 2) + 1), HalvedDepth when it is FLE's stored, halved depth (0.5, 1.5, 2.5: step = depth + 0.5), else Position
/// (step 1). Each next row takes its depth's number under that scheme while that number is whole and greater than the
/// previous row's; from the first row where it is not (a trimmed conversation repeats depths, say), the run continues
/// by position: previous number + 1, for that row and every later one (<see cref="PositionFromStep"/>). Every dated row
/// takes a number, also one that is later skipped (its number stays free); a row without created_at takes none.
/// </para>
/// </summary>
internal sealed class ProgramRunPlan(string key, object? version, object? processId, object? instance)
{
    public string Key { get; } = key;
    public object? Version { get; } = version;
    public object? ProcessId { get; } = processId;
    public object? Instance { get; } = instance;

    /// <summary>Rows of the run in the source, with or without created_at.</summary>
    public long Rows { get; private set; }

    /// <summary>The dated rows, in created_at, id order, with their step numbers.</summary>
    public List<PlannedRow> Dated { get; } = [];

    /// <summary>Ids of the rows without created_at (skipped: InvalidTimestamp).</summary>
    public List<long> Undated { get; } = [];

    /// <summary>The first dated row: it names the run (<see cref="TrajectoryId"/>) and its created_at is the start time.</summary>
    public long FirstRowId { get; private set; }
    public DateTime StartTime { get; private set; }

    /// <summary>version_description, the model column and meta (standard JSON) of the first dated row.</summary>
    public string? VersionDescription { get; private set; }
    public string? ModelColumn { get; private set; }
    public string? FirstMetaJson { get; private set; }

    public FleStepNumbering Numbering { get; private set; } = FleStepNumbering.Position;

    /// <summary>The first step numbered by position after the depth scheme stopped giving numbers, or null.</summary>
    public long? PositionFromStep { get; private set; }

    /// <summary>The id a new trajectory of this run gets (<see cref="FleProgramTableImporter.TrajectoryId"/>).</summary>
    public string TrajectoryId => FleProgramTableImporter.TrajectoryId(Key, FirstRowId, StartTime);

    public string TaskId => ProgramValues.TaskOf(VersionDescription);

    private long _last;

    public void AddUndated(long id)
    {
        Rows++;
        Undated.Add(id);
    }

    public void AddDated(long id, DateTime createdAt, double? depth, string? description, string? model, string? metaJson)
    {
        Rows++;
        long step;
        if (Dated.Count == 0)
        {
            FirstRowId = id;
            StartTime = createdAt;
            VersionDescription = description;
            ModelColumn = model;
            FirstMetaJson = metaJson;
            if (FleProgramTableImporter.StepFromDepth(depth, FleStepNumbering.Depth) is { } d) (Numbering, step) = (FleStepNumbering.Depth, d);
            else if (FleProgramTableImporter.StepFromDepth(depth, FleStepNumbering.HalvedDepth) is { } h) (Numbering, step) = (FleStepNumbering.HalvedDepth, h);
            else (Numbering, step) = (FleStepNumbering.Position, 1);
        }
        else if (Numbering != FleStepNumbering.Position && PositionFromStep is null
                 && FleProgramTableImporter.StepFromDepth(depth, Numbering) is { } s && s > _last)
        {
            step = s;
        }
        else
        {
            step = _last + 1;
            if (Numbering != FleStepNumbering.Position) PositionFromStep ??= step;
        }
        _last = step;
        Dated.Add(new PlannedRow(id, step));
    }

    public override string ToString() => $"run {Key} ({Rows.ToString(CultureInfo.InvariantCulture)} rows)";
}

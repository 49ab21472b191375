using System.Globalization;

namespace Fle.Core.Import;

/// <summary>A row of a run and the step number it gets (in the trajectory it is planned into).</summary>
internal readonly record struct PlannedRow(long Id, long Step);

/// <summary>
/// A dated row of a run as the first pass read it: its id, created_at, depth and parent_id (32 bytes; NaN for no depth,
/// <see cref="NoParent"/> for no parent_id).
/// </summary>
internal readonly record struct ScannedRow(long Id, DateTime CreatedAt, double Depth, long Parent)
{
    public const long NoParent = long.MinValue;

    public double? DepthValue => double.IsNaN(Depth) ? null : Depth;

    public long? ParentId => Parent == NoParent ? null : Parent;
}

/// <summary>
/// One FLE run (a version, meta.process_id, instance group of <c>programs</c> rows) as the first pass found it: the
/// description of its first row and every dated row in order (created_at, id) with the small columns that place it: its
/// depth and parent_id. A few numbers per row; the rows themselves are read in the second pass. Which trajectory each row
/// goes to and its step number are decided by <see cref="ProgramTree"/>.
/// </summary>
internal sealed class ProgramRunPlan(string key, object? version, object? processId, object? instance)
{
    public string Key { get; } = key;
    public object? Version { get; } = version;
    public object? ProcessId { get; } = processId;
    public object? Instance { get; } = instance;

    /// <summary>
    /// A row without a parent_id follows the previous row of its run: true for FLE's trajectory runner, which writes
    /// meta.process_id on every row and never a parent_id. A run without a process_id comes from FLE's search algorithms
    /// (MCTS, beam search), which name every program's parent: there a row without one is the root of a tree.
    /// </summary>
    public bool FollowsPreviousRow => ProcessId is not null;

    /// <summary>Rows of the run in the source, with or without created_at.</summary>
    public long Rows { get; private set; }

    /// <summary>The dated rows, in created_at, id order.</summary>
    public List<ScannedRow> Dated { get; } = [];

    /// <summary>Ids of the rows without created_at (skipped: InvalidTimestamp).</summary>
    public List<long> Undated { get; } = [];

    /// <summary>The first dated row: its created_at is the start time of the run's first trajectory.</summary>
    public long FirstRowId { get; private set; }
    public DateTime StartTime { get; private set; }

    /// <summary>version_description, the model column and meta (standard JSON) of the first dated row.</summary>
    public string? VersionDescription { get; private set; }
    public string? ModelColumn { get; private set; }
    public string? FirstMetaJson { get; private set; }

    public string TaskId => ProgramValues.TaskOf(VersionDescription);

    public void AddUndated(long id)
    {
        Rows++;
        Undated.Add(id);
    }

    public void AddDated(long id, DateTime createdAt, double? depth, long? parentId, string? description, string? model, string? metaJson)
    {
        Rows++;
        if (Dated.Count == 0)
        {
            FirstRowId = id;
            StartTime = createdAt;
            VersionDescription = description;
            ModelColumn = model;
            FirstMetaJson = metaJson;
        }
        Dated.Add(new ScannedRow(id, createdAt, depth ?? double.NaN, parentId ?? ScannedRow.NoParent));
    }

    public override string ToString() => $"run {Key} ({Rows.ToString(CultureInfo.InvariantCulture)} rows)";
}

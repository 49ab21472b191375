namespace Fle.Core;

/// <summary>Why a row of FLE's <c>programs</c> table was not imported.</summary>
public enum FleProgramSkipReason
{
    /// <summary><c>meta</c> is not valid JSON, or not a JSON object: the row's run (process id) is unknown.</summary>
    InvalidMeta,

    /// <summary><c>code</c> is null (possible only in tables not created by FLE's own DDL).</summary>
    NullCode,

    /// <summary><c>created_at</c> is null or not a date and time.</summary>
    InvalidTimestamp,

    /// <summary>The step number derived for the row is already taken in the trajectory by another row or step, or the trajectory was continued in Fle after its import (it is left as it is).</summary>
    StepConflict,

    /// <summary>The target database refuses the step (for example a NUL character in the code or a \u0000 escape in meta, or a state over FLE_MAX_STATE_BYTES): found by the write path's own checks, with and without -WhatIf.</summary>
    Rejected,

    /// <summary>The row's trajectory is a fork of a trajectory this import could not create (none of its rows could be imported), so it cannot be created either.</summary>
    ParentNotImported,
}

/// <summary>How the step numbers of one imported run were derived (the scheme its first row chooses).</summary>
public enum FleStepNumbering
{
    /// <summary>From <c>depth</c> as the conversation depth (1, 3, 5, ...): step = ((depth - 1) / 2) + 1.</summary>
    Depth,

    /// <summary>From <c>depth</c> as FLE's create_program stores it, halved (0.5, 1.5, 2.5, ...): step = ((2 * depth - 1) / 2) + 1 = depth + 0.5.</summary>
    HalvedDepth,

    /// <summary>
    /// By position: 1, 2, 3, ... in created_at, id order (when the run's first row's depth gives no whole number under
    /// either depth reading). A run numbered by depth continues by position from the first row whose depth gives no whole
    /// number higher than the previous one (<see cref="FleProgramRun.PositionFromStep"/>).
    /// </summary>
    Position,
}

/// <summary>What to do with one run before its first write (the PowerShell layer answers through ShouldProcess).</summary>
public enum FleImportDecision
{
    Import,

    /// <summary>Read and count everything, write nothing (-WhatIf).</summary>
    DryRun,

    /// <summary>Leave this run out (the user said no to -Confirm).</summary>
    Decline,
}

/// <summary>One row the import skipped, with its <c>programs.id</c> and the reason.</summary>
public sealed record FleSkippedProgramRow(long RowId, FleProgramSkipReason Reason, string Message, string? TrajectoryId)
{
    public override string ToString() => $"row {RowId}: {Reason}: {Message}";
}

/// <summary>
/// One trajectory about to be written: an FLE run (a version, process_id, instance group of <c>programs</c> rows), or a
/// branch of an FLE search tree in it (a root, or a fork of another trajectory).
/// </summary>
public sealed class FleProgramRun
{
    public required string TrajectoryId { get; init; }
    public required string TaskId { get; init; }
    public object? Version { get; init; }
    public object? ProcessId { get; init; }
    public object? Instance { get; init; }

    /// <summary>Rows of the trajectory in the source (including rows that are skipped; imported_from.rows).</summary>
    public long Rows { get; init; }

    /// <summary>Rows that the trajectory does not hold yet (0: only its status, end time or metadata change).</summary>
    public long NewRows { get; init; }

    /// <summary>The scheme of the trajectory's step numbers (see <see cref="PositionFromStep"/>).</summary>
    public FleStepNumbering StepNumbering { get; init; }

    /// <summary>The first step numbered by position after the depth scheme stopped giving numbers (a trimmed conversation), or null.</summary>
    public long? PositionFromStep { get; init; }

    /// <summary>True when an earlier import created the trajectory (this run only adds the rows it lacks and updates its record).</summary>
    public bool Exists { get; init; }

    /// <summary>For a new fork (a branch of FLE's search tree): the trajectory whose steps 0..<see cref="ForkStepNumber"/> it reads through.</summary>
    public string? ParentTrajectoryId { get; init; }

    /// <summary>For a new fork: the step of its parent it branches after (the step of its first row's parent program).</summary>
    public long? ForkStepNumber { get; init; }

    public override string ToString() =>
        $"trajectory '{TrajectoryId}' (task {TaskId}, version {Version ?? "null"}, process {ProcessId ?? "null"}, instance {Instance ?? "null"}, {Rows} rows, {NewRows} new" +
        (ParentTrajectoryId is null ? ")" : $", a fork of '{ParentTrajectoryId}' at step {ForkStepNumber})");
}

/// <summary>Progress of an import, reported per row.</summary>
public sealed class FleProgramImportProgress
{
    /// <summary>"Scanning" (first pass: groups and step numbering) or "Importing" (second pass: writing).</summary>
    public required string Phase { get; init; }
    public long RowsRead { get; init; }

    /// <summary>Rows to read in this pass (known after the first pass; during the first pass, the table's row count).</summary>
    public long TotalRows { get; init; }
    public int Trajectories { get; init; }
    public long Steps { get; init; }
    public string? CurrentTrajectoryId { get; init; }
    public string? CurrentTaskId { get; init; }

    public int PercentComplete => TotalRows <= 0 ? 0 : (int)Math.Min(100, RowsRead * 100 / TotalRows);
}

/// <summary>What Import-FleProgramTable did (or, with -WhatIf, would do).</summary>
public sealed class FleProgramImportResult
{
    /// <summary>The source: a SQLite file path or user@host:port/database (never a password).</summary>
    public required string Source { get; init; }

    /// <summary>The Fle database written to.</summary>
    public required string Target { get; init; }

    /// <summary>True when nothing was written (-WhatIf): the counts say what would have been imported.</summary>
    public bool WhatIf { get; init; }

    /// <summary>Rows read from <c>programs</c> (up to the largest id seen when the import started).</summary>
    public long Rows { get; init; }

    /// <summary>Runs (version, process_id, instance groups) found.</summary>
    public int Runs { get; init; }

    /// <summary>Trajectories created.</summary>
    public int Trajectories { get; init; }

    /// <summary>Of the trajectories created, those that are forks (branches of FLE's search trees: a program whose parent is a step of another trajectory).</summary>
    public int Forks { get; init; }

    /// <summary>Trajectories that existed (an earlier import) and received new steps, or whose status, end time or metadata were brought up to date.</summary>
    public int TrajectoriesUpdated { get; init; }

    /// <summary>Steps written (with or without a game state); with -WhatIf, the steps the import would write (the same rows pass the same checks).</summary>
    public long Steps { get; init; }

    /// <summary>Steps written with a game state.</summary>
    public long Checkpoints { get; init; }

    /// <summary>Game-state bytes written (as in state_json, before compression).</summary>
    public long Bytes { get; init; }

    /// <summary>Rows skipped because an earlier import already wrote them.</summary>
    public long AlreadyImported { get; init; }

    /// <summary>Rows of runs the user declined (-Confirm).</summary>
    public long DeclinedRows { get; init; }

    /// <summary>Rows that could not be imported, with the reason (at most the first 10,000; <see cref="SkippedCount"/> counts all).</summary>
    public IReadOnlyList<FleSkippedProgramRow> SkippedRows { get; init; } = [];

    /// <summary>Number of rows that could not be imported.</summary>
    public long SkippedCount { get; init; }

    /// <summary>Ids of the trajectories created or updated.</summary>
    public IReadOnlyList<string> TrajectoryIds { get; init; } = [];

    public TimeSpan Duration { get; init; }

    public override string ToString() =>
        $"{Trajectories} trajectories, {Steps} steps ({Checkpoints} checkpoints), {SkippedCount} rows skipped, {AlreadyImported} already imported";
}

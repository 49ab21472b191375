using Fle.Core.Configuration;

namespace Fle.Core;

/// <summary>One step as exported: every field of the step and the exact bytes of its game state.</summary>
public sealed class FleExportStep
{
    /// <summary>The step's id in the source database (informational; the target allocates its own).</summary>
    public long SourceId { get; init; }
    public long StepNumber { get; init; }
    public string AgentCode { get; init; } = "";
    public string EnvironmentFeedback { get; init; } = "";
    public DateTime Timestamp { get; init; }
    public string MetadataJson { get; init; } = "{}";

    /// <summary>The game state's raw bytes, or null when the step has none.</summary>
    public byte[]? GameState { get; init; }

    /// <summary>When the game state was captured (null without a state).</summary>
    public DateTime? StateTimestamp { get; init; }

    public bool HasGameState => GameState is not null;

    public override string ToString() => $"#{StepNumber}";
}

/// <summary>
/// One trajectory as exported (Export-FleData without -Path writes one per trajectory): the trajectory's
/// fields and its steps with their game states. The steps are streamed from the source when enumerated
/// (so a record stays small however long the trajectory is); enumerate them while the source is open.
/// </summary>
public sealed class FleExportRecord
{
    private readonly Func<CancellationToken, IAsyncEnumerable<FleExportStep>> _steps;

    public FleExportRecord(Func<CancellationToken, IAsyncEnumerable<FleExportStep>> steps)
    {
        _steps = steps ?? throw new ArgumentNullException(nameof(steps));
    }

    /// <summary>Build a record over steps already in memory.</summary>
    public static FleExportRecord FromSteps(FleTrajectory t, IReadOnlyList<FleExportStep> steps, string? source = null) => new(_ => ToAsync(steps))
    {
        Id = t.Id, TaskId = t.TaskId, Status = t.Status, StartTime = t.StartTime, EndTime = t.EndTime,
        MetadataJson = t.MetadataJson, StepCount = steps.Count, Source = source ?? t.Source, ParentId = t.ParentId, ForkStepNumber = t.ForkStepNumber,
    };

    /// <summary>The trajectory id (binds to -TrajectoryId / -Id of other cmdlets).</summary>
    public required string Id { get; init; }
    public required string TaskId { get; init; }
    public FleTrajectoryStatus Status { get; init; }
    public DateTime StartTime { get; init; }
    public DateTime? EndTime { get; init; }
    public string MetadataJson { get; init; } = "{}";
    public IDictionary<string, object?> Metadata => FleJson.ToDictionary(MetadataJson);

    /// <summary>Number of steps when the record was read (a fork's own steps: it inherits the rest from its ancestors' records).</summary>
    public long StepCount { get; init; }

    /// <summary>The trajectory this one is a fork of (its record comes first in an export), or null.</summary>
    public string? ParentId { get; init; }

    /// <summary>A fork's last inherited step, or null.</summary>
    public long? ForkStepNumber { get; init; }

    /// <summary>Where the record comes from (a database location or an export file).</summary>
    public string? Source { get; init; }

    /// <summary>The steps with their game states, streamed.</summary>
    public IAsyncEnumerable<FleExportStep> GetStepsAsync(CancellationToken cancellationToken = default) => _steps(cancellationToken);

    /// <summary>
    /// Set when the record comes from a Fle store: the trajectory's rows in stored form, which an import copies verbatim
    /// (renumbering keyframe dictionary ids) instead of decoding and re-encoding every state. Null for records read from
    /// an export file or built in memory: those are encoded by the target.
    /// </summary>
    internal Transfer.StoredTrajectorySource? StoredSource { get; init; }

    /// <summary>The steps with their game states (read from the source now; for scripts).</summary>
    public IEnumerable<FleExportStep> Steps
    {
        get
        {
            var e = _steps(CancellationToken.None).GetAsyncEnumerator();
            try
            {
                while (e.MoveNextAsync().AsTask().GetAwaiter().GetResult()) yield return e.Current;
            }
            finally
            {
                e.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
    }

    public override string ToString() => Id;

    private static async IAsyncEnumerable<FleExportStep> ToAsync(IReadOnlyList<FleExportStep> steps)
    {
        foreach (var s in steps) yield return s;
        await Task.CompletedTask.ConfigureAwait(false);
    }
}

/// <summary>What Import-FleData does with a trajectory whose id already exists in the target.</summary>
public enum FleConflictAction
{
    /// <summary>Leave the existing trajectory alone (the default: re-running an import is safe).</summary>
    Skip,

    /// <summary>Replace the existing trajectory whole (its steps and states too).</summary>
    Overwrite,

    /// <summary>Fail for that trajectory (FleImportConflict).</summary>
    Error,
}

/// <summary>What happened to one trajectory of an import.</summary>
public enum FleImportOutcome
{
    Imported,
    Replaced,
    Skipped,
}

/// <summary>The result of importing one trajectory.</summary>
public sealed record FleImportItemResult(string TrajectoryId, FleImportOutcome Outcome, long Steps, long States, long Bytes);

/// <summary>The summary Import-FleData returns.</summary>
public sealed class FleImportSummary
{
    /// <summary>Where the data went (no password).</summary>
    public string Target { get; set; } = "";
    public FleBackend Backend { get; set; }

    /// <summary>Trajectories written (new or replaced).</summary>
    public long Trajectories { get; set; }

    /// <summary>Of those, how many replaced an existing trajectory (-ConflictAction Overwrite).</summary>
    public long Replaced { get; set; }

    /// <summary>Trajectories left alone because they already existed (-ConflictAction Skip).</summary>
    public long Skipped { get; set; }

    /// <summary>Trajectories that failed (conflict with -ConflictAction Error, or a bad record); nothing of them was written.</summary>
    public long Failed { get; set; }
    public long Steps { get; set; }
    public long States { get; set; }

    /// <summary>Raw game-state bytes written.</summary>
    public long Bytes { get; set; }
    public TimeSpan Duration { get; set; }

    public void Add(FleImportItemResult r)
    {
        switch (r.Outcome)
        {
            case FleImportOutcome.Skipped: Skipped++; return;
            case FleImportOutcome.Replaced: Replaced++; break;
        }
        Trajectories++;
        Steps += r.Steps;
        States += r.States;
        Bytes += r.Bytes;
    }

    public override string ToString() => $"{Trajectories} trajectories, {Steps} steps, {States} states imported; {Skipped} skipped, {Failed} failed";
}

/// <summary>Progress of a long operation, reported by the engine (the cmdlets turn it into Write-Progress).</summary>
public sealed record FleProgress(string Activity, string Status, int PercentComplete = -1, string? CurrentOperation = null);

/// <summary>What Export-FleData -Path returns.</summary>
public sealed class FleExportFileResult
{
    public string Path { get; init; } = "";
    public long Trajectories { get; init; }
    public long Steps { get; init; }
    public long States { get; init; }

    /// <summary>Raw game-state bytes exported.</summary>
    public long Bytes { get; init; }

    /// <summary>Size of the file on disk.</summary>
    public long Size { get; init; }
    public string Sha256 { get; init; } = "";
    public TimeSpan Duration { get; init; }
    public string? Source { get; init; }
    public override string ToString() => Path;
}


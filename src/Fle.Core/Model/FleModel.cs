using System.Text;

namespace Fle.Core;

/// <summary>Lifecycle of a trajectory.</summary>
public enum FleTrajectoryStatus
{
    Running,
    Completed,
    Failed,
}

/// <summary>One agent run on one task.</summary>
public sealed class FleTrajectory
{
    public required string Id { get; init; }
    public required string TaskId { get; init; }
    public FleTrajectoryStatus Status { get; init; }
    public DateTime StartTime { get; init; }
    public DateTime? EndTime { get; init; }

    /// <summary>Metadata as a case-insensitive dictionary (model, version, sweep id, ...).</summary>
    public IDictionary<string, object?> Metadata { get; init; } = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The metadata exactly as a JSON document.</summary>
    public string MetadataJson { get; init; } = "{}";

    /// <summary>Number of steps saved (a fork's count includes the steps it inherits).</summary>
    public long StepCount { get; init; }

    /// <summary>The steps the trajectory stores itself (for a root, <see cref="StepCount"/>).</summary>
    internal long OwnStepCount { get; init; }

    /// <summary>Highest step number saved, or null when there is none.</summary>
    public long? LastStepNumber { get; init; }

    /// <summary>The trajectory this one was forked from, or null for a root.</summary>
    public string? ParentId { get; init; }

    /// <summary>A fork's last inherited step: its steps 0..ForkStepNumber are its parent's; null for a root.</summary>
    public long? ForkStepNumber { get; init; }

    /// <summary>Time from start to end (or to now while running).</summary>
    public TimeSpan Duration => (EndTime ?? DateTime.UtcNow) - StartTime;

    /// <summary>The backend location this object was read from (no password).</summary>
    public string? Source { get; init; }

    /// <summary>The same trajectory with other step figures (a fork's, counting what it inherits).</summary>
    internal FleTrajectory WithSteps(long count, long? last) => new()
    {
        Id = Id, TaskId = TaskId, Status = Status, StartTime = StartTime, EndTime = EndTime, Metadata = Metadata, MetadataJson = MetadataJson,
        StepCount = count, OwnStepCount = OwnStepCount, LastStepNumber = last, ParentId = ParentId, ForkStepNumber = ForkStepNumber, Source = Source,
    };

    public override string ToString() => Id;
}

/// <summary>One agent step: the program the agent wrote and what the environment answered.</summary>
public class FleStep
{
    private readonly string? _storedIn;

    public long Id { get; init; }

    /// <summary>The trajectory read: for a fork, also the steps it inherits from its ancestors.</summary>
    public required string TrajectoryId { get; init; }

    /// <summary>The trajectory that stored the step: an ancestor for a step a fork inherits, else <see cref="TrajectoryId"/>.</summary>
    public string StoredIn { get => _storedIn ?? TrajectoryId; init => _storedIn = value; }
    public long StepNumber { get; init; }
    public string AgentCode { get; init; } = "";
    public string EnvironmentFeedback { get; init; } = "";
    public DateTime Timestamp { get; init; }
    public IDictionary<string, object?> Metadata { get; init; } = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
    public string MetadataJson { get; init; } = "{}";

    /// <summary>True when a game state was saved with this step (the step is a checkpoint).</summary>
    public bool HasGameState { get; init; }

    /// <summary>Size of the game state in bytes as given (not as stored), or null.</summary>
    public long? GameStateSize { get; init; }

    /// <summary>The game state bytes, when they were read (see <c>-IncludeGameState</c>).</summary>
    public byte[]? GameState { get; init; }

    /// <summary>The game state decoded as UTF-8 text (FLE states are JSON), or null.</summary>
    public string? GameStateText => GameState is null ? null : Encoding.UTF8.GetString(GameState);

    public override string ToString() => $"{TrajectoryId}#{StepNumber}";
}

/// <summary>A step together with its game state: what a resumed run loads.</summary>
public sealed class FleCheckpoint : FleStep
{
    /// <summary>Id of the game_states row.</summary>
    public long StateId { get; init; }

    /// <summary>When the state was captured.</summary>
    public DateTime StateTimestamp { get; init; }

    /// <summary>Bytes the state takes in the database after compression.</summary>
    public long StoredSize { get; init; }

    /// <summary>How the state is stored (raw, zstd, zstd-dict, keyframe).</summary>
    public string Codec { get; init; } = "raw";

    /// <summary>The step number a resumed run writes next.</summary>
    public long NextStepNumber => StepNumber + 1;

    /// <summary>The same checkpoint read as a step of <paramref name="trajectoryId"/> (a fork made at it): nothing is read or decoded again.</summary>
    internal FleCheckpoint AsStepOf(string trajectoryId) => new()
    {
        Id = Id, TrajectoryId = trajectoryId, StoredIn = StoredIn, StepNumber = StepNumber, AgentCode = AgentCode, EnvironmentFeedback = EnvironmentFeedback,
        Timestamp = Timestamp, Metadata = Metadata, MetadataJson = MetadataJson, HasGameState = HasGameState, GameStateSize = GameStateSize,
        GameState = GameState, StateId = StateId, StateTimestamp = StateTimestamp, StoredSize = StoredSize, Codec = Codec,
    };
}

/// <summary>What to save for one step.</summary>
public sealed class FleStepInput
{
    public required string TrajectoryId { get; init; }
    public long StepNumber { get; init; }
    public string AgentCode { get; init; } = "";
    public string EnvironmentFeedback { get; init; } = "";

    /// <summary>Metadata as a JSON object text; null means {}.</summary>
    public string? MetadataJson { get; init; }

    /// <summary>Game state bytes; null for a plain step.</summary>
    public byte[]? GameState { get; init; }

    /// <summary>When it happened; default: now (UTC, microsecond precision).</summary>
    public DateTime? Timestamp { get; init; }

    /// <summary>Replace an existing step with the same number instead of failing.</summary>
    public bool Overwrite { get; init; }
}

/// <summary>Filter for listing trajectories. Every field is optional.</summary>
public sealed class FleTrajectoryQuery
{
    public IReadOnlyList<string>? Ids { get; init; }
    public string? TaskId { get; init; }
    public FleTrajectoryStatus? Status { get; init; }

    /// <summary>Started at or after.</summary>
    public DateTime? After { get; init; }

    /// <summary>Started before.</summary>
    public DateTime? Before { get; init; }

    /// <summary>Ended before (only finished trajectories); used by cleanup.</summary>
    public DateTime? EndedBefore { get; init; }

    /// <summary>At most this many, newest first when set.</summary>
    public int? First { get; init; }

    /// <summary>Only ids beginning with this text (tab completion).</summary>
    public string? IdPrefix { get; init; }

    /// <summary>Only the forks of this trajectory (with <see cref="Recursive"/>: its whole subtree).</summary>
    public string? ParentId { get; init; }

    /// <summary>With <see cref="ParentId"/>: the forks of the forks too, to any depth.</summary>
    public bool Recursive { get; init; }

    /// <summary>This query, in parts of at most <paramref name="size"/> ids each (statements have a parameter limit); itself when it has fewer.</summary>
    public IEnumerable<FleTrajectoryQuery> Chunks(int size = 500)
    {
        if (Ids is not { } ids || ids.Count <= size) { yield return this; yield break; }
        foreach (var c in ids.Distinct(StringComparer.Ordinal).Chunk(size))
            yield return new FleTrajectoryQuery
            {
                Ids = c, TaskId = TaskId, Status = Status, After = After, Before = Before, EndedBefore = EndedBefore, IdPrefix = IdPrefix, First = First,
                ParentId = ParentId, Recursive = Recursive,
            };
    }
}

/// <summary>A range of step numbers (inclusive); null ends are open.</summary>
public readonly record struct FleStepRange(long? From = null, long? To = null)
{
    public static FleStepRange All => default;
    public static FleStepRange Single(long n) => new(n, n);
}

/// <summary>Engine-wide limits and helpers for time and ids.</summary>
public static class FleClock
{
    /// <summary>Now in UTC, truncated to microseconds (what both backends store exactly).</summary>
    public static DateTime UtcNow() => Truncate(DateTime.UtcNow);

    /// <summary>Truncate to whole microseconds, as UTC.</summary>
    public static DateTime Truncate(DateTime t)
    {
        var utc = t.Kind switch
        {
            DateTimeKind.Local => t.ToUniversalTime(),
            DateTimeKind.Unspecified => DateTime.SpecifyKind(t, DateTimeKind.Utc),
            _ => t,
        };
        return new DateTime(utc.Ticks - (utc.Ticks % 10), DateTimeKind.Utc);
    }
}

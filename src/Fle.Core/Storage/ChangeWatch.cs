namespace Fle.Core.Storage;

/// <summary>
/// A provider's way of noticing, cheaply, that a trajectory may have changed (a step saved, its status changed) while
/// <see cref="FleStore.WatchStepsAsync"/> follows it: the engine reads only when this says so. Opened before the engine's
/// first read, so a change between the two is reported, never missed. A false alarm costs one small read; a missed change
/// would cost a step, so a provider that cannot be sure reports a change.
/// </summary>
internal abstract class ChangeWatch : IAsyncDisposable
{
    /// <summary>
    /// Wait until the database may have changed for the watched trajectory since the last call (true), or until
    /// <paramref name="maxWait"/> has passed (false).
    /// </summary>
    public abstract Task<bool> WaitAsync(TimeSpan maxWait, CancellationToken ct);

    public abstract ValueTask DisposeAsync();

    /// <summary>Milliseconds from now until a deadline <paramref name="wait"/> away, at least 0 (TickCount64 time).</summary>
    protected static long Deadline(TimeSpan wait) => Environment.TickCount64 + (long)Math.Max(0, Math.Min(wait.TotalMilliseconds, int.MaxValue));
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Management.Automation;
using Fle.Core;

namespace Fle.PowerShell.Internal;

/// <summary>
/// A cmdlet whose engine work runs on a worker thread while the pipeline thread shows its progress and does what only
/// the pipeline thread may do (write errors and warnings, ask ShouldProcess): the one pump of the module. Each
/// <see cref="FleProgress"/> becomes a Write-Progress record (throttled, the latest wins) under the cmdlet's own name,
/// with a final Completed record; errors are translated as in <see cref="FleCmdlet"/>.
/// </summary>
public abstract class FleProgressCmdlet : FleCmdlet
{
    private static int _nextActivityId = 100;
    private readonly int _activityId = Interlocked.Increment(ref _nextActivityId);
    private bool _shown;

    /// <summary>Run engine work with progress; errors are translated like <see cref="FleCmdlet"/>.Run.</summary>
    protected T RunWithProgress<T>(Func<IProgress<FleProgress>, CancellationToken, Task<T>> work, object? target = null)
        => Pump((ctx, ct) => work(ctx.Progress, ct), target, terminating: true, out _)!;

    /// <summary>Like RunWithProgress, but a FleException becomes a non-terminating error (and false).</summary>
    protected bool TryRunWithProgress<T>(Func<IProgress<FleProgress>, CancellationToken, Task<T>> work, out T result, object? target = null)
    {
        result = Pump((ctx, ct) => work(ctx.Progress, ct), target, terminating: false, out var ok)!;
        return ok;
    }

    /// <summary>
    /// Write what the engine produces to the pipeline as it comes, with the engine's progress: the engine enumerates on the
    /// worker thread and each item is written here, on the pipeline thread, when it arrives. A FleException becomes a
    /// non-terminating error (and false), a fatal one a terminating error, as in TryRunWithProgress. <paramref name="each"/>
    /// sees each item on the pipeline thread before it is written.
    /// </summary>
    protected bool TryWriteAllWithProgress<T>(Func<IProgress<FleProgress>, CancellationToken, IAsyncEnumerable<T>> source, object? target = null,
        Action<T>? each = null)
    {
        Pump(async (ctx, ct) =>
        {
            await foreach (var item in source(ctx.Progress, ct).WithCancellation(ct).ConfigureAwait(false))
            {
                ctx.Post(() =>
                {
                    each?.Invoke(item);
                    WriteObject(item);
                });
            }
            return true;
        }, target, terminating: false, out var ok);
        return ok;
    }

    /// <summary>Run engine work that also calls back into the pipeline (errors, warnings, ShouldProcess) through the context.</summary>
    private protected T RunOnWorker<T>(Func<WorkContext, CancellationToken, Task<T>> work, object? target = null)
        => Pump(work, target, terminating: true, out _)!;

    private T? Pump<T>(Func<WorkContext, CancellationToken, Task<T>> work, object? target, bool terminating, out bool ok)
    {
        using var queue = new BlockingCollection<Action>();
        // Stopped early (Ctrl+C, or -ErrorAction Stop in a callback): the worker is cancelled and awaited, never left running.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(CancelToken);
        var ctx = new WorkContext(queue, stop.Token);
        var task = Task.Run(() => work(ctx, stop.Token), stop.Token);
        _ = task.ContinueWith(_ => { try { queue.CompleteAdding(); } catch (ObjectDisposedException) { } }, TaskScheduler.Default);
        var clock = Stopwatch.StartNew();
        var shownAt = TimeSpan.FromSeconds(-1);
        FleProgress? shown = null;
        try
        {
            while (!queue.IsCompleted)
            {
                if (queue.TryTake(out var action, 100)) action();
                if (ctx.Latest is { } p && !ReferenceEquals(p, shown) && clock.Elapsed - shownAt > TimeSpan.FromMilliseconds(200))
                {
                    Show(shown = p);
                    shownAt = clock.Elapsed;
                }
            }
        }
        catch
        {
            stop.Cancel();
            try { task.Wait(); } catch (AggregateException) { /* cancelled or failed: the pipeline's own error wins */ }
            throw;
        }
        if (ctx.Latest is { } last && !ReferenceEquals(last, shown)) Show(last);
        Complete();
        if (terminating)
        {
            ok = true;
            return Run(_ => task, target);
        }
        ok = TryRun(_ => task, out var result, target);
        return result;
    }

    private void Show(FleProgress p)
    {
        _shown = true;
        var record = new ProgressRecord(_activityId, MyInvocation.MyCommand.Name, string.IsNullOrEmpty(p.Status) ? "..." : p.Status)
        {
            PercentComplete = Math.Clamp(p.PercentComplete, -1, 100),
            CurrentOperation = p.CurrentOperation,
        };
        WriteProgress(record);
    }

    /// <summary>Write a progress record from the pipeline thread.</summary>
    protected void ShowProgress(string status, int percent = -1, string? operation = null) => Show(new FleProgress(MyInvocation.MyCommand.Name, status, percent, operation));

    /// <summary>The final Completed record.</summary>
    protected void Complete()
    {
        if (!_shown) return;
        WriteProgress(new ProgressRecord(_activityId, MyInvocation.MyCommand.Name, "Done") { RecordType = ProgressRecordType.Completed, PercentComplete = 100 });
        _shown = false;
    }

    /// <summary>What the worker can ask of the pipeline thread while it runs.</summary>
    private protected sealed class WorkContext(BlockingCollection<Action> queue, CancellationToken stop)
    {
        private FleProgress? _latest;

        /// <summary>The newest progress report (the pump shows it).</summary>
        public FleProgress? Latest => Volatile.Read(ref _latest);

        public IProgress<FleProgress> Progress => new Sink(this);

        /// <summary>Run an action on the pipeline thread later (write an error or a warning).</summary>
        public void Post(Action action)
        {
            try { queue.Add(action); }
            catch (InvalidOperationException) { /* completed: the pipeline is gone */ }
        }

        /// <summary>Run a function on the pipeline thread and wait for its answer (ShouldProcess).</summary>
        public T OnPipeline<T>(Func<T> func)
        {
            var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
            Post(() =>
            {
                try { done.SetResult(func()); }
                catch (Exception e) { done.SetException(e); }
            });
            done.Task.Wait(stop);
            return done.Task.GetAwaiter().GetResult();
        }

        private sealed class Sink(WorkContext owner) : IProgress<FleProgress>
        {
            public void Report(FleProgress value) => Volatile.Write(ref owner._latest, value);
        }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Management.Automation;
using Fle.Core;

namespace Fle.PowerShell.Commands;

/// <summary>
/// A cmdlet whose engine work reports progress: the work runs on a worker thread, the pipeline thread turns each
/// FleProgress into Write-Progress (throttled) and writes a final Completed record.
/// </summary>
public abstract class FleProgressCmdlet : FleCmdlet
{
    private static int _nextActivityId = 100;
    private readonly int _activityId = Interlocked.Increment(ref _nextActivityId);
    private FleProgress? _last;

    /// <summary>Run engine work with progress; errors are translated like <see cref="FleCmdlet"/>.Run.</summary>
    protected T RunWithProgress<T>(Func<IProgress<FleProgress>, CancellationToken, Task<T>> work, object? target = null)
        => Pump(work, target, terminating: true, out _)!;

    /// <summary>Like RunWithProgress, but a FleException becomes a non-terminating error (and false).</summary>
    protected bool TryRunWithProgress<T>(Func<IProgress<FleProgress>, CancellationToken, Task<T>> work, out T result, object? target = null)
    {
        result = Pump(work, target, terminating: false, out var ok)!;
        return ok;
    }

    private T? Pump<T>(Func<IProgress<FleProgress>, CancellationToken, Task<T>> work, object? target, bool terminating, out bool ok)
    {
        using var queue = new BlockingCollection<FleProgress>();
        var sink = new QueueProgress(queue);
        var token = CancelToken;
        var task = Task.Run(() => work(sink, token), token);
        _ = task.ContinueWith(_ => { try { queue.CompleteAdding(); } catch (ObjectDisposedException) { } }, TaskScheduler.Default);
        var clock = Stopwatch.StartNew();
        var lastWrite = TimeSpan.FromSeconds(-1);
        FleProgress? pending = null;
        while (!queue.IsCompleted)
        {
            if (queue.TryTake(out var p, 100)) pending = p;
            if (pending is not null && clock.Elapsed - lastWrite > TimeSpan.FromMilliseconds(200))
            {
                Show(pending);
                pending = null;
                lastWrite = clock.Elapsed;
            }
        }
        if (pending is not null) Show(pending);
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
        _last = p;
        var record = new ProgressRecord(_activityId, p.Activity, string.IsNullOrEmpty(p.Status) ? "..." : p.Status)
        {
            PercentComplete = Math.Clamp(p.PercentComplete, -1, 100),
            CurrentOperation = p.CurrentOperation,
        };
        WriteProgress(record);
    }

    /// <summary>Write a progress record from the pipeline thread.</summary>
    protected void ShowProgress(string activity, string status, int percent = -1, string? operation = null)
        => Show(new FleProgress(activity, status, percent, operation));

    /// <summary>The final Completed record.</summary>
    protected void Complete()
    {
        if (_last is null) return;
        WriteProgress(new ProgressRecord(_activityId, _last.Activity, "Done") { RecordType = ProgressRecordType.Completed, PercentComplete = 100 });
        _last = null;
    }

    private sealed class QueueProgress(BlockingCollection<FleProgress> queue) : IProgress<FleProgress>
    {
        public void Report(FleProgress value)
        {
            try { queue.Add(value); }
            catch (InvalidOperationException) { } // also ObjectDisposedException: the work finished
        }
    }
}

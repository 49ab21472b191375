using System.Diagnostics;
using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>Follow a running trajectory: each step another process saves, written as it is saved, until the trajectory ends.</summary>
[Cmdlet(VerbsCommon.Watch, "FleTrajectory")]
[OutputType(typeof(FleStep), typeof(FleCheckpoint))]
public sealed class WatchFleTrajectoryCommand : FleProgressCmdlet
{
    /// <summary>The trajectory to watch (binds from a trajectory's Id, or a step's TrajectoryId).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("TrajectoryId")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string Id { get; set; } = "";

    /// <summary>Stop watching after this long, a TimeSpan or seconds (default: until the trajectory is completed or failed, or Ctrl+C).</summary>
    [Parameter]
    [SecondsTransformation]
    public TimeSpan? Timeout { get; set; }

    /// <summary>Also read and decode each step's game state (GameState, GameStateText).</summary>
    [Parameter]
    public SwitchParameter IncludeGameState { get; set; }

    protected override void ProcessRecord()
    {
        var store = Store;
        WriteVerbose($"Watching trajectory '{Id}' in the {store.Backend} database {store.Location}" +
            (Timeout is { } t ? $" for up to {t}" : "") + ": the steps saved from now on, until it is completed or failed.");
        var clock = Stopwatch.StartNew();
        long steps = 0;
        if (!TryWriteAllWithProgress((progress, ct) => store.WatchStepsAsync(Id, IncludeGameState, Timeout, progress, ct), Id, _ => steps++))
            return;
        var why = Timeout is { } limit && clock.Elapsed >= limit ? $"-Timeout {limit} has passed" : "the trajectory is no longer running";
        WriteVerbose($"Stopped watching trajectory '{Id}' after {steps} new step{(steps == 1 ? "" : "s")}: {why}.");
    }
}

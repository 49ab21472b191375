using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>create_trajectory(task_id, metadata): start a new trajectory (status running), or a fork of one at a step.</summary>
[Cmdlet(VerbsCommon.New, "FleTrajectory", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = NewSet)]
[OutputType(typeof(FleTrajectory))]
public sealed class NewFleTrajectoryCommand : FleCmdlet
{
    private const string NewSet = "New";
    private const string ForkSet = "Fork";

    /// <summary>The task the agent works on, e.g. iron_plate_throughput. For a fork: default the parent's.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = NewSet)]
    [Parameter(ParameterSetName = ForkSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TaskIdCompleter))]
    public string? TaskId { get; set; }

    /// <summary>The trajectory to fork: the new trajectory's steps 0..ForkStepNumber are read through it (stored once).</summary>
    [Parameter(Mandatory = true, ParameterSetName = ForkSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string? ParentId { get; set; }

    /// <summary>The parent's step to fork at: the fork's own steps start at ForkStepNumber + 1.</summary>
    [Parameter(Mandatory = true, ParameterSetName = ForkSet)]
    [ValidateRange(0, long.MaxValue)]
    public long ForkStepNumber { get; set; }

    /// <summary>Metadata: a hashtable (model, version, process id, sweep id, ...) or a JSON object string. For a fork: default the parent's.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = NewSet)]
    [Parameter(ParameterSetName = ForkSet)]
    public object? Metadata { get; set; }

    /// <summary>The id to use; default: a new time-ordered UUIDv7.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = NewSet)]
    [Parameter(ParameterSetName = ForkSet)]
    [ValidateNotNullOrEmpty]
    [Alias("TrajectoryId")]
    public string? Id { get; set; }

    /// <summary>The start time; default: now.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true, ParameterSetName = NewSet)]
    [Parameter(ParameterSetName = ForkSet)]
    public DateTime? StartTime { get; set; }

    protected override void ProcessRecord()
    {
        string? meta;
        try { meta = PSConvert.MetadataJson(Metadata); }
        catch (FleException e) { WriteError(ToErrorRecord(e, Metadata)); return; }
        if (ParameterSetName != ForkSet)
        {
            if (!ShouldProcess(Id is null ? $"task '{TaskId}'" : $"trajectory '{Id}' of task '{TaskId}'", "Create trajectory")) return;
            if (TryRun(ct => Store.CreateTrajectoryAsync(TaskId!, meta, Id, StartTime, ct), out var t, Id ?? TaskId))
                WriteObject(t);
            return;
        }
        if (!ShouldProcess($"trajectory '{ParentId}' at step {ForkStepNumber}", "Fork")) return;
        if (TryRun(ct => Store.CreateForkAsync(ParentId!, ForkStepNumber, TaskId, meta, Id, StartTime, ct), out var fork, $"{ParentId}#{ForkStepNumber}"))
            WriteObject(fork);
    }
}

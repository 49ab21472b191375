using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>create_trajectory(task_id, metadata): start a new trajectory (status running).</summary>
[Cmdlet(VerbsCommon.New, "FleTrajectory", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(FleTrajectory))]
public sealed class NewFleTrajectoryCommand : FleCmdlet
{
    /// <summary>The task the agent works on, e.g. iron_plate_throughput.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TaskIdCompleter))]
    public string TaskId { get; set; } = "";

    /// <summary>Metadata: a hashtable (model, version, process id, sweep id, ...) or a JSON object string.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public object? Metadata { get; set; }

    /// <summary>The id to use; default: a new time-ordered UUIDv7.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("TrajectoryId")]
    public string? Id { get; set; }

    /// <summary>The start time; default: now.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    public DateTime? StartTime { get; set; }

    protected override void ProcessRecord()
    {
        string? meta;
        try { meta = PSConvert.MetadataJson(Metadata); }
        catch (FleException e) { WriteError(ToErrorRecord(e, Metadata)); return; }
        if (!ShouldProcess(Id is null ? $"task '{TaskId}'" : $"trajectory '{Id}' of task '{TaskId}'", "Create trajectory")) return;
        if (TryRun(ct => Store.CreateTrajectoryAsync(TaskId, meta, Id, StartTime, ct), out var t, Id ?? TaskId))
            WriteObject(t);
    }
}

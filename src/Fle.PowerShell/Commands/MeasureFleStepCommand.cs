using System.Management.Automation;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>The result of Measure-FleStep.</summary>
public sealed class FleStepCount
{
    public required string TrajectoryId { get; init; }
    public long Count { get; init; }
    public override string ToString() => Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>count_steps: how many steps a trajectory has.</summary>
[Cmdlet(VerbsDiagnostic.Measure, "FleStep")]
[OutputType(typeof(FleStepCount))]
public sealed class MeasureFleStepCommand : FleCmdlet
{
    /// <summary>The trajectory id.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [Alias("Id")]
    [ArgumentCompleter(typeof(TrajectoryIdCompleter))]
    [TrajectoryIdTransformation]
    public string TrajectoryId { get; set; } = "";

    protected override void ProcessRecord()
    {
        if (TryRun(ct => Store.CountStepsAsync(TrajectoryId, ct), out var n, TrajectoryId))
            WriteObject(new FleStepCount { TrajectoryId = TrajectoryId, Count = n });
    }
}

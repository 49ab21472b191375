using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Commands;

namespace Fle.PowerShell.Internal;

/// <summary>
/// Lets a trajectory id parameter take the objects Fle returns: a <see cref="FleTrajectory"/> means its
/// <c>Id</c>; a <see cref="FleStep"/>/<see cref="FleCheckpoint"/> or <see cref="FleStepCount"/> means its
/// <c>TrajectoryId</c> (not the step's own row <c>Id</c>, and not its ToString() "id#step"). Anything else is
/// left for the normal binding. So <c>Get-FleCheckpoint ... | Resume-FleTrajectory</c> and
/// <c>Get-FleStep ... | Remove-FleTrajectory</c> act on the right trajectory.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
internal sealed class TrajectoryIdTransformationAttribute : ArgumentTransformationAttribute
{
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData) => Map(inputData);

    private static object? Map(object? input)
    {
        var value = input is PSObject pso ? pso.BaseObject : input;
        return value switch
        {
            FleTrajectory t => t.Id,
            FleStep s => s.TrajectoryId,
            FleStepCount c => c.TrajectoryId,
            object[] many when many.Any(IsFleObject) => many.Select(Map).ToArray(),
            _ => input,
        };
    }

    private static bool IsFleObject(object? o) => (o is PSObject p ? p.BaseObject : o) is FleTrajectory or FleStep or FleStepCount;
}

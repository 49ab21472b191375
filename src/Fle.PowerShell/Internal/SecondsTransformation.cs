using System.Globalization;
using System.Management.Automation;

namespace Fle.PowerShell.Internal;

/// <summary>
/// Lets a TimeSpan parameter take a number of seconds, as Wait-Job -Timeout does: PowerShell would otherwise read
/// <c>-Timeout 30</c> as 30 ticks (3 microseconds). A TimeSpan, or a string ('00:10:00'), is left to the normal binding.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
internal sealed class SecondsTransformationAttribute : ArgumentTransformationAttribute
{
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        return value switch
        {
            byte or sbyte or short or ushort or int or uint or long or ulong or float or double or decimal
                when Convert.ToDouble(value, CultureInfo.InvariantCulture) is var seconds && Math.Abs(seconds) < TimeSpan.MaxValue.TotalSeconds
                => TimeSpan.FromSeconds(seconds),
            _ => inputData,
        };
    }
}

using System.Management.Automation;
using Fle.Core;
using Fle.PowerShell.Internal;

namespace Fle.PowerShell.Commands;

/// <summary>What the database holds and how big it is.</summary>
[Cmdlet(VerbsCommon.Get, "FleDatabase")]
[OutputType(typeof(FleDatabaseInfo))]
public sealed class GetFleDatabaseCommand : FleCmdlet
{
    protected override void EndProcessing()
    {
        var store = Store;
        var info = Run(ct => store.GetInfoAsync(ct));
        info.ModuleVersion = MyInvocation.MyCommand.Module?.Version?.ToString() ?? typeof(FleCmdlet).Assembly.GetName().Version?.ToString(3);
        WriteObject(info);
    }
}

# Fle's root module. It loads the cmdlets (and the engine, Npgsql, Microsoft.Data.Sqlite, ...) into
# Fle's own AssemblyLoadContext, so a session that already loaded other versions of those libraries
# (another module) can still import Fle, and then imports the cmdlets from that assembly.
$importModule = Get-Command -Name Import-Module -Module Microsoft.PowerShell.Core
if (-not ('Fle.Loader.FleLoadContext' -as [type])) {
    Add-Type -Path ([System.IO.Path]::Combine($PSScriptRoot, 'Fle.Loader.dll'))
}
$cmdlets = [Fle.Loader.FleLoadContext]::Initialize()
& $importModule -Assembly $cmdlets -Force -Verbose:$false

# Types in Fle's load context are not found by name from scripts; type accelerators make
# [FleTrajectory], [FleStep], [FleCheckpoint], ... work (e.g. $x -is [FleCheckpoint]).
$accelerators = [psobject].Assembly.GetType('System.Management.Automation.TypeAccelerators')
$engine = $cmdlets.GetReferencedAssemblies() | Where-Object Name -EQ 'Fle.Core' |
    ForEach-Object { [System.Runtime.Loader.AssemblyLoadContext]::GetLoadContext($cmdlets).LoadFromAssemblyName($_) }
$script:FleTypes = @(
    $engine.GetTypes() + $cmdlets.GetTypes() | Where-Object {
        $_.IsPublic -and $_.Name -like 'Fle*' -and -not $_.IsSubclassOf([System.Management.Automation.Cmdlet]) -and
        $_.Namespace -in 'Fle.Core', 'Fle.PowerShell', 'Fle.PowerShell.Commands', 'Fle.Core.Configuration'
    }
)
foreach ($t in $script:FleTypes) {
    if (-not $accelerators::Get.ContainsKey($t.Name)) { $accelerators::Add($t.Name, $t) }
}
$ExecutionContext.SessionState.Module.OnRemove = {
    foreach ($t in $script:FleTypes) { [void]$accelerators::Remove($t.Name) }
}

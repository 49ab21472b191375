# Fle's root module. It loads the cmdlets (and the engine, Npgsql, Microsoft.Data.Sqlite, ...) into
# Fle's own AssemblyLoadContext, so a session that already loaded other versions of those libraries
# (another module) can still import Fle, and then imports the cmdlets from that assembly.
$importModule = Get-Command -Name Import-Module -Module Microsoft.PowerShell.Core
if (-not ('Fle.Loader.FleLoadContext' -as [type])) {
    Add-Type -Path ([System.IO.Path]::Combine($PSScriptRoot, 'Fle.Loader.dll'))
}
# The folder is passed: when another copy of the module was imported earlier in this session (its
# Fle.Loader.dll is the one loaded), this copy's cmdlets and dependencies still come from this folder.
$cmdlets = [Fle.Loader.FleLoadContext]::Initialize($PSScriptRoot)
$innerModule = & $importModule -Assembly $cmdlets -Force -PassThru -Verbose:$false
if ($innerModule) {
    # Import-Module -Assembly of an assembly imported before (Import-Module Fle -Force, or Remove-Module
    # then Import-Module) returns a cached module whose cmdlets are not exported to this module again,
    # leaving Fle with no commands (PowerShell/PowerShell#20710). Export them explicitly.
    $addExportedCmdlet = [System.Management.Automation.PSModuleInfo].GetMethod('AddExportedCmdlet', [System.Reflection.BindingFlags]'Instance, NonPublic')
    foreach ($cmd in $innerModule.ExportedCmdlets.Values) {
        $addExportedCmdlet.Invoke($ExecutionContext.SessionState.Module, @(, $cmd))
    }
}

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
# The accelerator table is one plain Dictionary for the whole process: runspaces importing Fle at the same time
# (ForEach-Object -Parallel, runspace pools) must not change it at once, so every change holds a process-wide lock
# (the TypeAccelerators type object itself).
[System.Threading.Monitor]::Enter($accelerators)
try {
    foreach ($t in $script:FleTypes) {
        # Replace an accelerator of another copy's types (after Remove-Module of that copy, or a stale one).
        if ($accelerators::Get.ContainsKey($t.Name)) { [void]$accelerators::Remove($t.Name) }
        $accelerators::Add($t.Name, $t)
    }
} finally { [System.Threading.Monitor]::Exit($accelerators) }
$ExecutionContext.SessionState.Module.OnRemove = {
    [System.Threading.Monitor]::Enter($accelerators)
    try {
        foreach ($t in $script:FleTypes) {
            # Only remove what still points at this copy's types.
            if ($accelerators::Get[$t.Name] -eq $t) { [void]$accelerators::Remove($t.Name) }
        }
    } finally { [System.Threading.Monitor]::Exit($accelerators) }
}

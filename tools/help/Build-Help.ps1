#Requires -Version 7.4
<#
.SYNOPSIS
    Builds the MAML command help and the about topics of a binary module from Markdown.

.DESCRIPTION
    A small replacement for platyPS (which this project cannot install); the work is done by the
    FleHelp module beside this script (FleHelp.psm1: Markdown read with Markdig, the parser
    PowerShell ships). It imports the built module, reads every exported cmdlet's metadata
    (parameter sets, types, positions, pipeline input, aliases, wildcards, ValidateSet/enum
    values, [OutputType]) and merges it with the prose in docs/en-US/<Verb-Noun>.md. The result
    is one MAML file per cmdlet assembly, <OutputPath>/<Assembly>.dll-Help.xml (for Fle:
    en-US/Fle.PowerShell.dll-Help.xml), plus every docs/en-US/about_*.help.md converted to a
    plain-text about_*.help.txt.

    The build fails (throws; `pwsh -File` exits 1) listing every problem at once when:
      - an exported cmdlet has no Markdown file (a Markdown file for a cmdlet the module does
        not export is only a warning, so help can land before its cmdlet), or a file's title
        differs from its file name, or it has no title;
      - a file has no synopsis or no description, or fewer than 2 examples, or an example
        without a ```powershell block, or text before its first example, or a leftover platyPS
        placeholder ({{ ... }});
      - a non-common parameter of the cmdlet has no `### -Name` section (or an empty one),
        a `### -Name` section names a parameter the cmdlet does not have or spells it in
        another case, appears twice, or a parameter heading does not look like `### -Name`;
      - a `##` section is unknown or appears twice; text under `## INPUTS`/`## OUTPUTS`
        precedes its first `### TypeName`; a front matter or ```yaml line is not `Key: value`;
      - the module's about topic (about_<ModuleName>.help.md) is missing, or an about topic
        does not start with `# about_<Name>` or has no `## Short description`.
    The Markdown format is described in docs/README.md.

    Run it in a fresh pwsh: a binary module cannot be imported twice from two folders in one
    session.

.EXAMPLE
    dotnet pwsh -NoProfile -NonInteractive -File tools/help/Build-Help.ps1 -ModulePath out/Fle

    Writes out/Fle/en-US/Fle.PowerShell.dll-Help.xml and out/Fle/en-US/about_Fle.help.txt.

.EXAMPLE
    ./tools/help/Build-Help.ps1 -ModulePath out/Fle -CheckOnly

    Reports problems without writing anything.
#>
[CmdletBinding()]
param(
    # Folder that holds <ModuleName>.psd1 (the built module).
    [Parameter(Mandatory)]
    [string] $ModulePath,

    # Folder of the Markdown sources.
    [string] $DocsPath = (Join-Path $PSScriptRoot '..' '..' 'docs' 'en-US'),

    # Where to write the MAML and about topics; default <ModulePath>/en-US.
    [string] $OutputPath,

    # Name of the module manifest (without .psd1).
    [string] $ModuleName = 'Fle',

    # Only validate; write nothing.
    [switch] $CheckOnly,

    # Also return the { Model; Doc; HelpFile } of every cmdlet (for tests of the builder).
    [switch] $PassThru
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

if (-not (Test-Path -LiteralPath $ModulePath -PathType Container)) { throw "The module folder '$ModulePath' does not exist." }
if (-not (Test-Path -LiteralPath $DocsPath -PathType Container)) { throw "The Markdown folder '$DocsPath' does not exist." }
$ModulePath = (Resolve-Path -LiteralPath $ModulePath).ProviderPath
$DocsPath = (Resolve-Path -LiteralPath $DocsPath).ProviderPath
$manifest = Join-Path $ModulePath "$ModuleName.psd1"
if (-not (Test-Path -LiteralPath $manifest)) { throw "No $ModuleName.psd1 in '$ModulePath'." }
if (-not $OutputPath) { $OutputPath = Join-Path $ModulePath 'en-US' }

$loaded = @(Get-Module -Name $ModuleName)
if ($loaded | Where-Object { $_.ModuleBase -ne $ModulePath }) { throw "Module $ModuleName is already loaded from '$($loaded[0].ModuleBase)'; run Build-Help.ps1 in a fresh pwsh." }
# No -Force: a forced re-import of a module that imports its cmdlets with Import-Module -Assembly
# can leave it with no cmdlets at all.
$module = if ($loaded) { $loaded[0] } else { Import-Module -Name $manifest -PassThru -ErrorAction Stop -Verbose:$false | Select-Object -First 1 }
$commands = @(Get-Command -Module $module.Name -CommandType Cmdlet)
Write-Verbose "Module $($module.Name) $($module.Version) from $($module.ModuleBase): $($commands.Count) cmdlet(s)"

Import-Module (Join-Path $PSScriptRoot 'FleHelp.psm1') -Force -Verbose:$false
try {
    Invoke-FleHelpBuild -Command $commands -DocsPath $DocsPath -OutputPath $OutputPath -ModuleName $ModuleName -CheckOnly:$CheckOnly -PassThru:$PassThru
} catch {
    if ($_.Exception.Data.Contains('Problems')) {
        # One line each on stderr (an error record's view would fold the list into one
        # paragraph), then the terminating error, which carries the list too.
        $problems = @($_.Exception.Data['Problems'])
        [Console]::Error.WriteLine("Help build failed with $($problems.Count) problem(s):")
        foreach ($p in $problems) { [Console]::Error.WriteLine("  - $p") }
    }
    throw
}

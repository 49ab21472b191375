#Requires -Version 7.4
<#
FleHelp: builds a binary module's MAML command help and about topics from Markdown, and fails
when the help and the cmdlets disagree. tools/help/Build-Help.ps1 is its command line;
docs/README.md describes the Markdown format and the checks.

  Read-HelpMarkdown.ps1     docs/en-US/<Verb-Noun>.md → HelpDocument   (on Markdown.ps1: Markdig)
  Get-CmdletModel.ps1       the compiled cmdlet → CmdletModel
  Test-CmdletHelp (below)   HelpDocument against CmdletModel → problems
  Write-Maml.ps1            CmdletModel + HelpDocument → <Assembly>.dll-Help.xml
  ConvertTo-AboutText.ps1   about_*.help.md → about_*.help.txt
  Invoke-FleHelpBuild       all of it for one docs folder
#>

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# Markdig is the Markdown parser PowerShell ships (behind ConvertFrom-Markdown), in $PSHOME.
if (-not ('Markdig.Markdown' -as [type])) {
    try { Add-Type -AssemblyName Markdig.Signed } catch { Add-Type -LiteralPath (Join-Path $PSHOME 'Markdig.Signed.dll') }
}

# ---- The model ---------------------------------------------------------------------------

class HelpBlock {
    # One piece of Markdown body as help shows it; Kind: para, item, code, pre or table.
    [string] $Kind
    [string] $Text
    [string] $Language
    [object[]] $Rows
}

class HelpExample {
    [string] $Title      # 'Example N: ...'
    [string] $Code       # the powershell blocks, joined by a blank line
    [string[]] $Remarks  # everything else under the example, one MAML paragraph each
}

class HelpParameter {
    [string] $Name
    [string[]] $Description
    [string] $DefaultValue # from the ```yaml block, overrides the code's
    [string] $Globbing     # likewise ('Accept wildcard characters')
}

class HelpType {
    [string] $Type
    [string[]] $Description
}

class HelpLink {
    [string] $Text
    [string] $Uri
}

class HelpDocument {
    # The prose of one cmdlet's help, as read from its Markdown.
    [string] $Path
    [string] $File
    [string] $Name
    [System.Collections.Specialized.OrderedDictionary] $Meta = [ordered]@{}
    [string[]] $Synopsis = @()
    [string[]] $Description = @()
    [System.Collections.Generic.List[HelpExample]] $Examples = [System.Collections.Generic.List[HelpExample]]::new()
    [System.Collections.Specialized.OrderedDictionary] $Parameters = [ordered]@{}  # name → HelpParameter
    [HelpType[]] $Inputs   # $null: no '## INPUTS' (then derived from the cmdlet)
    [HelpType[]] $Outputs  # $null: no '## OUTPUTS' (then [OutputType])
    [string[]] $Notes = @()
    [System.Collections.Generic.List[HelpLink]] $Links = [System.Collections.Generic.List[HelpLink]]::new()
    [System.Collections.Generic.List[string]] $Problems = [System.Collections.Generic.List[string]]::new()
}

class CmdletParameterModel {
    [string] $Name
    [type] $Type
    [string] $ShortType
    [string] $FullType
    [bool] $IsSwitch
    [string[]] $Aliases
    [bool] $Globbing
    [string[]] $Values   # ValidateSet or enum names
    [string] $Default
    [System.Collections.Specialized.OrderedDictionary] $Sets  # set name → ParameterSetMetadata
    [bool] $Common       # -WhatIf/-Confirm
}

class CmdletModel {
    [string] $Name
    [string] $Verb
    [string] $Noun
    [string] $HelpFile
    [System.Collections.Specialized.OrderedDictionary] $Parameters  # name → CmdletParameterModel
    [object[]] $Syntax    # per parameter set: Name, IsDefault, Parameters (in syntax order)
    [string[]] $Outputs   # [OutputType] names
}

. (Join-Path $PSScriptRoot 'Markdown.ps1')
. (Join-Path $PSScriptRoot 'Read-HelpMarkdown.ps1')
. (Join-Path $PSScriptRoot 'Get-CmdletModel.ps1')
. (Join-Path $PSScriptRoot 'Write-Maml.ps1')
. (Join-Path $PSScriptRoot 'ConvertTo-AboutText.ps1')

# ---- Checks ------------------------------------------------------------------------------

function Test-CmdletHelp {
    # What the cmdlet's help must have: returns the problems (each fails the build); writes
    # warnings for what only might be wrong.
    param([Parameter(Mandatory)] [HelpDocument] $Doc, [Parameter(Mandatory)] [CmdletModel] $Model)
    $file = $Doc.File
    $has = { param($paras) @($paras | Where-Object { $_ -and $_.Trim() }).Count -gt 0 }
    if (-not (& $has $Doc.Synopsis)) { "${file}: '## SYNOPSIS' is missing or empty" }
    if (-not (& $has $Doc.Description)) { "${file}: '## DESCRIPTION' is missing or empty" }
    if ($Doc.Examples.Count -lt 2) { "${file}: has $($Doc.Examples.Count) example(s); at least 2 are required" }
    foreach ($p in $Model.Parameters.Values) {
        if ($p.Common) { continue }
        if (-not $Doc.Parameters.Contains($p.Name)) { "${file}: parameter -$($p.Name) has no '### -$($p.Name)' section" }
        elseif (-not (& $has $Doc.Parameters[$p.Name].Description)) { "${file}: '### -$($p.Name)' has no description" }
    }
    foreach ($n in $Doc.Parameters.Keys) {
        if (-not $Model.Parameters.Contains($n)) { "${file}: '### -$n' documents a parameter that $($Model.Name) does not have" }
        elseif ($Model.Parameters[$n].Name -cne $n) { "${file}: '### -$n' should be spelled '-$($Model.Parameters[$n].Name)'" }
    }
    if ($null -ne $Doc.Outputs -and $Model.Outputs.Count -gt 0) {
        $documented = @($Doc.Outputs | ForEach-Object Type)
        foreach ($o in $Model.Outputs) {
            if ($documented -notcontains $o) { Write-Warning "${file}: [OutputType] declares $o but '## OUTPUTS' does not list it" }
        }
    }
    foreach ($l in $Doc.Links) {
        if ($l.Text -match '^[A-Z][a-z]+-[A-Za-z]+$' -and -not $l.Uri -and -not (Get-Command -Name $l.Text -ErrorAction Ignore)) {
            Write-Warning "${file}: related link '$($l.Text)' names no known command"
        }
    }
}

# ---- The build ---------------------------------------------------------------------------

function Invoke-FleHelpBuild {
    <#
    .SYNOPSIS
    Checks the Markdown in $DocsPath against $Command (the module's cmdlets) and writes the MAML
    and about topics to $OutputPath. Throws one error (FleHelpBuildFailed) listing every problem
    before writing anything; its exception's Data['Problems'] holds the list.
    #>
    param(
        [Parameter(Mandatory)] [AllowEmptyCollection()] [System.Management.Automation.CmdletInfo[]] $Command,
        [Parameter(Mandatory)] [string] $DocsPath,
        [string] $OutputPath,
        [string] $ModuleName = 'Fle',
        [switch] $CheckOnly,
        [switch] $PassThru
    )
    $commands = @($Command | Sort-Object Name)
    $problems = [System.Collections.Generic.List[string]]::new()
    $docs = @{}
    foreach ($f in (Get-ChildItem -LiteralPath $DocsPath -Filter '*.md' -File | Sort-Object Name)) {
        if ($f.Name -like 'about_*') { continue }
        $d = Read-HelpMarkdown -Path $f.FullName
        $problems.AddRange($d.Problems)
        if ($d.Name -and $d.Name -ne $f.BaseName) { $problems.Add("$($f.Name): title '# $($d.Name)' does not match the file name") }
        $docs[$f.BaseName] = $d
    }

    $pairs = @()
    foreach ($c in $commands) {
        if (-not $docs.ContainsKey($c.Name)) { $problems.Add("$($c.Name): no Markdown help (expected $(Join-Path $DocsPath "$($c.Name).md"))"); continue }
        $model = Get-CmdletModel -Command $c
        foreach ($p in @(Test-CmdletHelp -Doc $docs[$c.Name] -Model $model)) { $problems.Add($p) }
        $helpFile = if ($model.HelpFile) { $model.HelpFile } else { "$($c.ImplementingType.Assembly.GetName().Name).dll-Help.xml" }
        $pairs += [pscustomobject]@{ Model = $model; Doc = $docs[$c.Name]; HelpFile = $helpFile }
    }
    foreach ($name in ($docs.Keys | Sort-Object)) {
        # A warning, not a failure: help for a cmdlet on its way (another branch) can land first.
        # A renamed cmdlet shows up here too, and as a missing file for the new name.
        if (-not ($commands | Where-Object Name -EQ $name)) { Write-Warning "$($docs[$name].File): module $ModuleName exports no cmdlet named '$name'; this file is not compiled" }
    }

    $aboutFiles = @(Get-ChildItem -LiteralPath $DocsPath -Filter 'about_*.help.md' -File)
    if (-not ($aboutFiles | Where-Object Name -EQ "about_$ModuleName.help.md")) { $problems.Add("about_$ModuleName.help.md: missing from $DocsPath") }
    $aboutTexts = @{}
    foreach ($a in $aboutFiles) {
        $about = ConvertTo-AboutText -Path $a.FullName
        $problems.AddRange([string[]]$about.Problems)
        $aboutTexts[$a.Name -replace '\.md$', '.txt'] = $about.Text
    }

    if ($problems.Count -gt 0) {
        $exception = [System.InvalidOperationException]::new(
            "Help build failed with $($problems.Count) problem(s):`n" + (($problems | ForEach-Object { "  - $_" }) -join "`n"))
        $exception.Data['Problems'] = $problems.ToArray()
        throw [System.Management.Automation.ErrorRecord]::new($exception, 'FleHelpBuildFailed',
            [System.Management.Automation.ErrorCategory]::InvalidData, $DocsPath)
    }

    if (-not $CheckOnly) {
        $null = New-Item -ItemType Directory -Force -Path $OutputPath
        foreach ($group in ($pairs | Group-Object HelpFile)) {
            $target = Join-Path $OutputPath $group.Name
            Write-Maml -Path $target -Pairs @($group.Group)
            Write-Verbose "Wrote $target ($($group.Count) cmdlet(s))"
        }
        foreach ($kv in $aboutTexts.GetEnumerator()) {
            $target = Join-Path $OutputPath $kv.Key
            [System.IO.File]::WriteAllText($target, $kv.Value, [System.Text.UTF8Encoding]::new($false))
            Write-Verbose "Wrote $target"
        }
        Write-Host "Help: $($pairs.Count) cmdlet(s), $($aboutTexts.Count) about topic(s) -> $OutputPath"
    }
    if ($PassThru) { $pairs }
}

Export-ModuleMember -Function Invoke-FleHelpBuild, Read-HelpMarkdown, Get-CmdletModel, Test-CmdletHelp, Write-Maml, ConvertTo-AboutText

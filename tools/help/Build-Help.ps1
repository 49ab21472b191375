#Requires -Version 7.4
<#
.SYNOPSIS
    Builds the MAML command help and the about topics of a binary module from Markdown.

.DESCRIPTION
    A small replacement for platyPS (which this project cannot install). It imports the built
    module, reads every exported cmdlet's metadata (parameter sets, types, positions, pipeline
    input, aliases, wildcards, ValidateSet/enum values, [OutputType]) and merges it with the
    prose in docs/en-US/<Verb-Noun>.md. The result is one MAML file per cmdlet assembly,
    <OutputPath>/<Assembly>.dll-Help.xml (for Fle: en-US/Fle.PowerShell.dll-Help.xml), plus
    every docs/en-US/about_*.help.md converted to a plain-text about_*.help.txt.

    The build fails (throws; `pwsh -File` exits 1) listing every problem at once when:
      - an exported cmdlet has no Markdown file (a Markdown file for a cmdlet the module does
        not export is only a warning, so help can land before its cmdlet);
      - a file has no synopsis or no description, or fewer than 2 examples, or an example
        without a ```powershell block, or a leftover platyPS placeholder ({{ ... }});
      - a non-common parameter of the cmdlet has no `### -Name` section (or an empty one),
        or a `### -Name` section names a parameter the cmdlet does not have;
      - the module's about topic (about_<ModuleName>.help.md) is missing.
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

    # Also return the parsed documents (for tests of this script).
    [switch] $PassThru
)

Set-StrictMode -Version 3.0
$ErrorActionPreference = 'Stop'

# ---------------------------------------------------------------------------------------------
# Markdown reading
# ---------------------------------------------------------------------------------------------

$script:CodeLanguages = @('powershell', 'pwsh', 'ps', 'ps1', 'posh', '')

function Get-FenceInfo([string] $Line) {
    # Returns $null, or @{ Marker; Language } for an opening/closing fence line.
    if ($Line -match '^\s{0,3}(?<m>`{3,}|~{3,})\s*(?<lang>[^\s`]*)') {
        return @{ Marker = $Matches.m; Language = $Matches.lang.ToLowerInvariant() }
    }
    return $null
}

function Split-MarkdownSection {
    # Splits lines into sections at headings of exactly $Level '#' characters, ignoring
    # headings inside fenced code blocks. Returns [ordered list of @{ Heading; Lines }]; lines
    # before the first heading come back with Heading = $null.
    param([string[]] $Lines, [int] $Level)
    $prefix = ('#' * $Level) + ' '
    $sections = [System.Collections.Generic.List[object]]::new()
    $current = @{ Heading = $null; Lines = [System.Collections.Generic.List[string]]::new() }
    $fence = $null
    foreach ($line in $Lines) {
        $f = Get-FenceInfo $line
        if ($null -ne $fence) {
            if ($null -ne $f -and $f.Marker.StartsWith($fence) -and $line.Trim() -eq $f.Marker) { $fence = $null }
            $current.Lines.Add($line); continue
        }
        if ($null -ne $f) { $fence = $f.Marker; $current.Lines.Add($line); continue }
        if ($line.StartsWith($prefix) -or $line.TrimEnd() -eq $prefix.Trim()) {
            $sections.Add($current)
            $current = @{ Heading = $line.Substring([Math]::Min($prefix.Length, $line.Length)).Trim().TrimEnd('#').Trim(); Lines = [System.Collections.Generic.List[string]]::new() }
            continue
        }
        $current.Lines.Add($line)
    }
    $sections.Add($current)
    return , $sections
}

function ConvertFrom-InlineMarkdown([string] $Text) {
    # Plain text for console help: links become "text (url)", emphasis and code marks go.
    $t = $Text
    $t = [regex]::Replace($t, '<!--.*?-->', '')
    $t = [regex]::Replace($t, '!\[([^\]]*)\]\(([^)\s]+)[^)]*\)', '$1')
    $t = [regex]::Replace($t, '\[([^\]]+)\]\((https?://[^)\s]+)[^)]*\)', '$1 ($2)')
    $t = [regex]::Replace($t, '\[([^\]]+)\]\(([^)]*)\)', '$1')
    $t = [regex]::Replace($t, '(`+)(.+?)\1', '$2')
    $t = [regex]::Replace($t, '(\*\*|__)(?=\S)(.+?)(?<=\S)\1', '$2')
    $t = [regex]::Replace($t, '(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])', '$1')
    $t = [regex]::Replace($t, '\\([\\`*_{}\[\]()#+\-.!|<>])', '$1')
    return $t
}

function ConvertTo-Block {
    # Turns Markdown body lines into a list of blocks: @{ Kind = 'para'|'pre'|'item'|'code'; Text }.
    # Paragraph lines are joined with spaces; fenced code and tables keep their line breaks;
    # each list item is its own block. Fences in one of $CodeLanguages come back as Kind 'code'.
    param([string[]] $Lines, [string[]] $CodeLanguages = @())
    $blocks = [System.Collections.Generic.List[object]]::new()
    $para = [System.Collections.Generic.List[string]]::new()
    $kind = 'para'
    $flush = {
        if ($para.Count -gt 0) {
            if ($kind -eq 'pre') { $text = ($para -join "`n") }
            else { $text = ConvertFrom-InlineMarkdown (($para | ForEach-Object { $_.Trim() }) -join ' ') }
            if ($text.Trim()) { $blocks.Add(@{ Kind = $kind; Text = $text; Language = $null }) }
            $para.Clear()
        }
        $kind = 'para'
    }
    $i = 0
    $inComment = $false
    while ($i -lt $Lines.Count) {
        $line = $Lines[$i]
        if ($inComment) { if ($line -match '-->') { $inComment = $false }; $i++; continue }
        if ($line -match '^\s*<!--' -and $line -notmatch '-->') { . $flush; $inComment = $true; $i++; continue }
        $f = Get-FenceInfo $line
        if ($null -ne $f) {
            . $flush
            $code = [System.Collections.Generic.List[string]]::new()
            $i++
            while ($i -lt $Lines.Count) {
                $g = Get-FenceInfo $Lines[$i]
                if ($null -ne $g -and $g.Marker.StartsWith($f.Marker) -and $Lines[$i].Trim() -eq $g.Marker) { break }
                $code.Add($Lines[$i]); $i++
            }
            $i++ # closing fence
            $text = ($code -join "`n").TrimEnd()
            if ($CodeLanguages -contains $f.Language) {
                $blocks.Add(@{ Kind = 'code'; Text = $text; Language = $f.Language })
            } elseif ($text) {
                $blocks.Add(@{ Kind = 'pre'; Text = $text; Language = $f.Language })
            }
            continue
        }
        if (-not $line.Trim()) { . $flush; $i++; continue }
        if ($line -match '^\s*\|') {
            if ($kind -ne 'pre') { . $flush; $kind = 'pre' }
            $para.Add($line.Trim()); $i++; continue
        }
        if ($line -match '^\s{0,3}([-*+]|\d{1,3}[.)])\s+(?<rest>.*)$') {
            $bullet = $Matches[1]; $rest = $Matches.rest
            . $flush
            $marker = if ($bullet -match '^\d') { $bullet } else { '-' }
            $para.Add("$marker $rest")
            $kind = 'item'
            $i++
            # continuation lines of the item: indented, non-blank, not a new item
            while ($i -lt $Lines.Count -and $Lines[$i].Trim() -and $Lines[$i] -match '^\s{2,}\S' -and
                   $Lines[$i] -notmatch '^\s*([-*+]|\d{1,3}[.)])\s+') {
                $para.Add($Lines[$i]); $i++
            }
            . $flush
            continue
        }
        if ($kind -eq 'pre') { . $flush }
        $para.Add($line); $i++
    }
    . $flush
    return , $blocks
}

function Get-PlainBlock([object[]] $Blocks) {
    # Blocks as the paragraph strings MAML wants (one maml:para each).
    foreach ($b in $Blocks) {
        if ($b.Kind -eq 'pre' -or $b.Kind -eq 'code') {
            # Get-Help trims the start of a paragraph but keeps the indentation of the lines
            # after it: take away the indentation all lines share, so the first line keeps its
            # place relative to the others.
            $lines = @($b.Text -split "`n")
            $common = @($lines | Where-Object { $_.Trim() } | ForEach-Object { $_.Length - $_.TrimStart(' ').Length } | Measure-Object -Minimum).Minimum
            if ($common -gt 0) { ($lines | ForEach-Object { if ($_.Length -ge $common) { $_.Substring($common) } else { $_.TrimStart(' ') } }) -join "`n" }
            else { $b.Text }
        } else { $b.Text }
    }
}

function Read-FrontMatter([string[]] $Lines) {
    $meta = [ordered]@{}
    if ($Lines.Count -gt 0 -and $Lines[0].Trim() -eq '---') {
        $end = -1
        for ($i = 1; $i -lt $Lines.Count; $i++) { if ($Lines[$i].Trim() -eq '---') { $end = $i; break } }
        if ($end -gt 0) {
            for ($i = 1; $i -lt $end; $i++) {
                if ($Lines[$i] -match '^\s*(?<k>[^:#][^:]*):\s*(?<v>.*)$') { $meta[$Matches.k.Trim()] = $Matches.v.Trim().Trim('"', "'") }
            }
            return @{ Meta = $meta; Rest = @($Lines | Select-Object -Skip ($end + 1)) }
        }
    }
    return @{ Meta = $meta; Rest = $Lines }
}

function Read-YamlBlock([string] $Text) {
    $map = @{}
    foreach ($l in $Text -split "`n") {
        if ($l -match '^\s*(?<k>[A-Za-z][^:]*):\s*(?<v>.*)$') { $map[$Matches.k.Trim()] = $Matches.v.Trim() }
    }
    return $map
}

function Read-HelpMarkdown {
    # Parses one docs/en-US/<Verb-Noun>.md into a document object. Problems go to $Problems.
    param([string] $Path, [System.Collections.Generic.List[string]] $Problems)
    $file = Split-Path $Path -Leaf
    $raw = [System.IO.File]::ReadAllText($Path, [System.Text.Encoding]::UTF8)
    $lines = $raw.Replace("`r`n", "`n").Replace("`r", "`n").Split("`n")
    $fm = Read-FrontMatter $lines

    $doc = [ordered]@{
        Path = $Path; File = $file; Name = $null; Meta = $fm.Meta
        Synopsis = @(); Description = @(); Examples = @(); Parameters = [ordered]@{}
        Inputs = $null; Outputs = $null; Notes = @(); Links = @()
    }

    if ($raw -match '\{\{[^}]*\}\}') { $Problems.Add("${file}: contains a placeholder '$($Matches[0])' (fill it in)") }

    $top = Split-MarkdownSection -Lines $fm.Rest -Level 1
    $titled = @($top | Where-Object { $null -ne $_.Heading })
    if ($titled.Count -eq 0) {
        $Problems.Add("${file}: has no '# Verb-Noun' title")
        $body = $fm.Rest
    } else {
        $doc.Name = $titled[0].Heading
        $body = $titled[0].Lines
    }

    $sections = @{}
    foreach ($s in (Split-MarkdownSection -Lines $body -Level 2)) {
        if ($null -eq $s.Heading) { continue }
        $key = $s.Heading.ToUpperInvariant()
        if ($sections.ContainsKey($key)) { $Problems.Add("${file}: section '## $($s.Heading)' appears twice") }
        $sections[$key] = $s.Lines
    }
    $known = 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'RELATED LINKS'
    foreach ($k in $sections.Keys) {
        if ($known -notcontains $k) { $Problems.Add("${file}: unknown section '## $k' (expected one of: $($known -join ', '))") }
    }

    if ($sections.ContainsKey('SYNOPSIS')) { $doc.Synopsis = @(Get-PlainBlock (ConvertTo-Block $sections['SYNOPSIS'])) }
    if ($sections.ContainsKey('DESCRIPTION')) { $doc.Description = @(Get-PlainBlock (ConvertTo-Block $sections['DESCRIPTION'])) }
    if ($sections.ContainsKey('NOTES')) { $doc.Notes = @(Get-PlainBlock (ConvertTo-Block $sections['NOTES'])) }

    if ($sections.ContainsKey('EXAMPLES')) {
        $n = 0
        foreach ($ex in (Split-MarkdownSection -Lines $sections['EXAMPLES'] -Level 3)) {
            if ($null -eq $ex.Heading) {
                if (@($ex.Lines | Where-Object { $_.Trim() }).Count -gt 0) { $Problems.Add("${file}: text under '## EXAMPLES' before the first '### Example' heading") }
                continue
            }
            $n++
            $title = $ex.Heading
            if ($title -notmatch '^Example\s+\d+') { $title = "Example ${n}: $title" }
            $blocks = ConvertTo-Block -Lines $ex.Lines -CodeLanguages $script:CodeLanguages
            $code = @($blocks | Where-Object Kind -EQ 'code' | ForEach-Object Text)
            $remarks = @(Get-PlainBlock @($blocks | Where-Object Kind -NE 'code'))
            if ($code.Count -eq 0) { $Problems.Add("${file}: '### $($ex.Heading)' has no ``````powershell code block") }
            $doc.Examples += , ([ordered]@{ Title = $title; Code = ($code -join "`n`n"); Remarks = $remarks })
        }
    }

    if ($sections.ContainsKey('PARAMETERS')) {
        foreach ($p in (Split-MarkdownSection -Lines $sections['PARAMETERS'] -Level 3)) {
            if ($null -eq $p.Heading) { continue }
            if ($p.Heading -match '^-?CommonParameters$') { continue }
            if ($p.Heading -notmatch '^-(?<n>[A-Za-z_][\w]*)$') {
                $Problems.Add("${file}: parameter heading '### $($p.Heading)' must look like '### -Name'")
                continue
            }
            $blocks = ConvertTo-Block -Lines $p.Lines -CodeLanguages @('yaml', 'yml')
            $yaml = @{}
            foreach ($y in @($blocks | Where-Object Kind -EQ 'code')) { foreach ($k in (Read-YamlBlock $y.Text).GetEnumerator()) { $yaml[$k.Key] = $k.Value } }
            if ($doc.Parameters.Contains($Matches.n)) { $Problems.Add("${file}: '### -$($Matches.n)' appears twice") }
            $doc.Parameters[$Matches.n] = [ordered]@{
                Name = $Matches.n
                Description = @(Get-PlainBlock @($blocks | Where-Object Kind -NE 'code'))
                DefaultValue = $yaml['Default value']
                Globbing = $yaml['Accept wildcard characters']
            }
        }
    }

    foreach ($kind in 'INPUTS', 'OUTPUTS') {
        if (-not $sections.ContainsKey($kind)) { continue }
        $items = @()
        foreach ($t in (Split-MarkdownSection -Lines $sections[$kind] -Level 3)) {
            if ($null -eq $t.Heading) {
                if (@($t.Lines | Where-Object { $_.Trim() }).Count -gt 0) { $Problems.Add("${file}: text under '## $kind' must follow a '### TypeName' heading") }
                continue
            }
            $items += , ([ordered]@{ Type = (ConvertFrom-InlineMarkdown $t.Heading).Trim(); Description = @(Get-PlainBlock (ConvertTo-Block $t.Lines)) })
        }
        if ($kind -eq 'INPUTS') { $doc.Inputs = $items } else { $doc.Outputs = $items }
    }

    if ($sections.ContainsKey('RELATED LINKS')) {
        foreach ($l in $sections['RELATED LINKS']) {
            $t = ($l.Trim() -replace '^([-*+]|\d+[.)])\s+', '').Trim()
            if (-not $t -or $t.StartsWith('<!--')) { continue }
            if ($t -match '^\[(?<text>[^\]]+)\]\((?<uri>[^)]*)\)$') {
                $uri = $Matches.uri.Trim()
                if ($uri -notmatch '^[a-z][a-z0-9+.-]*://') { $uri = '' } # relative .md links carry no uri
                $doc.Links += , ([ordered]@{ Text = $Matches.text.Trim(); Uri = $uri })
            } else {
                $doc.Links += , ([ordered]@{ Text = (ConvertFrom-InlineMarkdown $t); Uri = '' })
            }
        }
    }
    return $doc
}

# ---------------------------------------------------------------------------------------------
# Cmdlet metadata
# ---------------------------------------------------------------------------------------------

$script:Common = [System.Collections.Generic.HashSet[string]]::new([StringComparer]::OrdinalIgnoreCase)
foreach ($n in @([System.Management.Automation.PSCmdlet]::CommonParameters) + @([System.Management.Automation.PSCmdlet]::OptionalCommonParameters)) {
    [void]$script:Common.Add($n)
}
$script:ShouldProcessParameters = @('WhatIf', 'Confirm')

function Get-ShortTypeName([type] $Type) {
    if ($Type.IsArray) { return (Get-ShortTypeName $Type.GetElementType()) + '[]' }
    $u = [Nullable]::GetUnderlyingType($Type)
    if ($u) { return Get-ShortTypeName $u }
    if ($Type.IsGenericType) {
        $n = $Type.Name.Substring(0, $Type.Name.IndexOf('`'))
        return "$n[$((($Type.GetGenericArguments() | ForEach-Object { Get-ShortTypeName $_ }) -join ', '))]"
    }
    return $Type.Name
}

function Get-FullTypeName([type] $Type) {
    $u = [Nullable]::GetUnderlyingType($Type)
    if ($u) { return Get-FullTypeName $u }
    if ($Type.IsGenericType -and -not $Type.IsArray) {
        $n = $Type.FullName.Substring(0, $Type.FullName.IndexOf('`'))
        return "$n[$((($Type.GetGenericArguments() | ForEach-Object { Get-FullTypeName $_ }) -join ', '))]"
    }
    if ($Type.IsArray) { return (Get-FullTypeName $Type.GetElementType()) + '[]' }
    return $Type.FullName
}

function Format-DefaultValue($Value) {
    if ($null -eq $Value) { return 'None' }
    if ($Value -is [System.Management.Automation.SwitchParameter]) { return [string]$Value.IsPresent }
    if ($Value -is [string]) { if ($Value -eq '') { return 'None' }; return $Value }
    if ($Value -is [System.Collections.IEnumerable]) {
        $items = @($Value)
        if ($items.Count -eq 0) { return 'None' }
        return ($items | ForEach-Object { [string]$_ }) -join ', '
    }
    if ($Value -is [bool]) { return [string]$Value }
    return [System.Convert]::ToString($Value, [cultureinfo]::InvariantCulture)
}

function Test-DontShow([System.Management.Automation.ParameterMetadata] $Parameter) {
    # [Parameter(DontShow = $true)] in every set: hidden from completion, so from help too.
    $attrs = @($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
    return $attrs.Count -gt 0 -and @($attrs | Where-Object { -not $_.DontShow }).Count -eq 0
}

function Get-CmdletModel {
    # Everything the MAML needs from one cmdlet, derived from the compiled code.
    param([System.Management.Automation.CmdletInfo] $Command)
    $type = $Command.ImplementingType
    $instance = $null
    try { $instance = [Activator]::CreateInstance($type) } catch { Write-Verbose "Cannot create $($type.FullName) to read default values: $_" }

    $params = [ordered]@{}
    foreach ($pm in $Command.Parameters.Values) {
        if ($script:Common.Contains($pm.Name) -and $script:ShouldProcessParameters -notcontains $pm.Name) { continue }
        if (Test-DontShow $pm) { continue }
        $prop = $type.GetProperty($pm.Name)
        $attrs = if ($prop) { @($prop.GetCustomAttributes($true)) } else { @($pm.Attributes) }
        $values = @()
        $vs = $attrs | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | Select-Object -First 1
        if ($vs) { $values = @($vs.ValidValues) }
        else {
            $et = $pm.ParameterType
            if ($et.IsArray) { $et = $et.GetElementType() }
            $u = [Nullable]::GetUnderlyingType($et); if ($u) { $et = $u }
            if ($et.IsEnum) { $values = [Enum]::GetNames($et) }
        }
        $default = 'None'
        $alwaysMandatory = @($pm.ParameterSets.Values | Where-Object { -not $_.IsMandatory }).Count -eq 0
        if ($alwaysMandatory) {
            # A value must be given, so the property's initial value is no default.
        } elseif ($instance -and $prop -and $prop.CanRead) {
            try { $default = Format-DefaultValue $prop.GetValue($instance) } catch { $default = 'None' }
        } elseif ($pm.SwitchParameter) { $default = 'False' }
        $sets = [ordered]@{}
        foreach ($kv in $pm.ParameterSets.GetEnumerator()) { $sets[$kv.Key] = $kv.Value }
        $params[$pm.Name] = [ordered]@{
            Name = $pm.Name
            Type = $pm.ParameterType
            ShortType = Get-ShortTypeName $pm.ParameterType
            FullType = Get-FullTypeName $pm.ParameterType
            IsSwitch = $pm.SwitchParameter
            Aliases = @($pm.Aliases)
            Globbing = [bool]($attrs | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
            Values = $values
            Default = $default
            Sets = $sets
            Common = $script:Common.Contains($pm.Name)
        }
    }

    $syntax = foreach ($set in $Command.ParameterSets) {
        $entries = foreach ($p in $set.Parameters) {
            if ($script:Common.Contains($p.Name) -and $script:ShouldProcessParameters -notcontains $p.Name) { continue }
            if (Test-DontShow $Command.Parameters[$p.Name]) { continue }
            [pscustomobject]@{
                Name = $p.Name; Mandatory = $p.IsMandatory
                Position = if ($p.Position -eq [int]::MinValue) { $null } else { $p.Position }
                ByValue = $p.ValueFromPipeline; ByPropertyName = $p.ValueFromPipelineByPropertyName
                Remaining = $p.ValueFromRemainingArguments
                Common = $script:Common.Contains($p.Name)
            }
        }
        # The order PowerShell's own syntax uses: positional by position, then mandatory, then
        # the rest as declared, WhatIf/Confirm last.
        $i = 0
        $ordered = @($entries | ForEach-Object { $_ | Add-Member -NotePropertyName Order -NotePropertyValue ($i++) -PassThru }) |
            Sort-Object @{ Expression = { if ($_.Common) { 3 } elseif ($null -ne $_.Position) { 0 } elseif ($_.Mandatory) { 1 } else { 2 } } },
            @{ Expression = { if ($null -ne $_.Position) { $_.Position } else { 0 } } }, Order
        [ordered]@{ Name = $set.Name; IsDefault = $set.IsDefault; Parameters = @($ordered) }
    }

    $outputs = @($Command.OutputType | Where-Object { $_.Name -and $_.Name -ne 'System.Void' } | ForEach-Object { $_.Name } | Select-Object -Unique)
    [ordered]@{
        Name = $Command.Name; Verb = $Command.Verb; Noun = $Command.Noun
        HelpFile = $Command.HelpFile
        Parameters = $params
        Syntax = @($syntax)
        Outputs = $outputs
        SupportsShouldProcess = $params.Contains('WhatIf')
    }
}

function Get-PipelineText($Sets) {
    # "True (ByValue, ByPropertyName)" style, over every set the parameter is in.
    $byValue = $false; $byName = $false
    foreach ($s in $Sets.Values) { $byValue = $byValue -or $s.ValueFromPipeline; $byName = $byName -or $s.ValueFromPipelineByPropertyName }
    $kinds = @(); if ($byValue) { $kinds += 'ByValue' }; if ($byName) { $kinds += 'ByPropertyName' }
    if ($kinds.Count -eq 0) { return 'False' }
    return "True ($($kinds -join ', '))"
}

# ---------------------------------------------------------------------------------------------
# MAML writing
# ---------------------------------------------------------------------------------------------

$script:Ns = @{
    maml = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
    msh = 'http://msh'
}

function Repair-XmlText([string] $Text) {
    # Drop characters XML 1.0 cannot carry (control characters other than tab/newline).
    if ($null -eq $Text) { return '' }
    $sb = [System.Text.StringBuilder]::new($Text.Length)
    for ($i = 0; $i -lt $Text.Length; $i++) {
        $c = $Text[$i]
        if ([char]::IsHighSurrogate($c) -and $i + 1 -lt $Text.Length -and [char]::IsLowSurrogate($Text[$i + 1])) { [void]$sb.Append($c).Append($Text[$i + 1]); $i++; continue }
        if ([System.Xml.XmlConvert]::IsXmlChar($c)) { [void]$sb.Append($c) }
    }
    return $sb.ToString()
}

function Write-El([System.Xml.XmlWriter] $W, [string] $Prefix, [string] $Name, [string] $Text) {
    $W.WriteStartElement($Prefix, $Name, $script:Ns[$Prefix])
    if ($null -ne $Text) { $W.WriteString((Repair-XmlText $Text)) }
    $W.WriteEndElement()
}

function Write-Paras([System.Xml.XmlWriter] $W, [string[]] $Paras) {
    $W.WriteStartElement('maml', 'description', $script:Ns.maml)
    $any = $false
    foreach ($p in $Paras) { if ($null -ne $p -and $p.Trim()) { Write-El $W maml para $p; $any = $true } }
    if (-not $any) { Write-El $W maml para '' }
    $W.WriteEndElement()
}

function Write-ParameterElement {
    param([System.Xml.XmlWriter] $W, $Meta, $Doc, [string] $SetName, [switch] $InSyntax)
    if ($SetName) {
        $s = $Meta.Sets[$SetName]
        if ($null -eq $s) { $s = $Meta.Sets['__AllParameterSets'] }
        $required = $s.IsMandatory
        $position = if ($s.Position -eq [int]::MinValue) { 'named' } else { [string]$s.Position }
        $sets = @{ x = $s }
        $pipeline = Get-PipelineText $sets
        $variableLength = $s.ValueFromRemainingArguments
    } else {
        $all = @($Meta.Sets.Values)
        $required = @($all | Where-Object { -not $_.IsMandatory }).Count -eq 0
        $positions = @($all | ForEach-Object Position | Select-Object -Unique)
        $position = if ($positions.Count -eq 1 -and $positions[0] -ne [int]::MinValue) { [string]$positions[0] } else { 'named' }
        $pipeline = Get-PipelineText $Meta.Sets
        $variableLength = [bool](@($all | Where-Object ValueFromRemainingArguments).Count)
    }
    $globbing = $Meta.Globbing
    if ($Doc -and $Doc.Globbing) { $globbing = $Doc.Globbing -match '^(true|yes)$' }

    $W.WriteStartElement('command', 'parameter', $script:Ns.command)
    $W.WriteAttributeString('required', $required.ToString().ToLowerInvariant())
    $W.WriteAttributeString('variableLength', $variableLength.ToString().ToLowerInvariant())
    $W.WriteAttributeString('globbing', $globbing.ToString().ToLowerInvariant())
    $W.WriteAttributeString('pipelineInput', $pipeline)
    $W.WriteAttributeString('position', $position)
    $W.WriteAttributeString('aliases', $(if ($Meta.Aliases.Count) { $Meta.Aliases -join ', ' } else { 'none' }))
    Write-El $W maml name $Meta.Name
    $desc = if ($Doc) { @($Doc.Description) } else { @() }
    if (-not $InSyntax -and -not $SetName) {
        # Say where the parameter-set specific facts differ, since one entry cannot show them.
        $all = @($Meta.Sets.GetEnumerator() | Where-Object Key -NE '__AllParameterSets')
        $mandatoryIn = @($all | Where-Object { $_.Value.IsMandatory } | ForEach-Object Key)
        if ($mandatoryIn.Count -gt 0 -and -not $required) { $desc += "Required in parameter set(s): $($mandatoryIn -join ', ')." }
    }
    Write-Paras $W $desc
    if ($Meta.Values.Count -gt 0 -and $InSyntax) {
        $W.WriteStartElement('command', 'parameterValueGroup', $script:Ns.command)
        foreach ($v in $Meta.Values) {
            $W.WriteStartElement('command', 'parameterValue', $script:Ns.command)
            $W.WriteAttributeString('required', 'false')
            $W.WriteAttributeString('command', 'variableLength', $script:Ns.command, 'false')
            $W.WriteString((Repair-XmlText $v))
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }
    if (-not $Meta.IsSwitch) {
        $W.WriteStartElement('command', 'parameterValue', $script:Ns.command)
        $W.WriteAttributeString('required', 'true')
        $W.WriteAttributeString('variableLength', $Meta.Type.IsArray.ToString().ToLowerInvariant())
        $W.WriteString($Meta.ShortType)
        $W.WriteEndElement()
    }
    $W.WriteStartElement('dev', 'type', $script:Ns.dev)
    Write-El $W maml name $Meta.FullType
    Write-El $W maml uri ''
    $W.WriteEndElement()
    $default = $Meta.Default
    if ($Doc -and $Doc.DefaultValue) { $default = $Doc.DefaultValue }
    Write-El $W dev defaultValue $default
    $W.WriteEndElement()
}

$script:ShouldProcessText = @{
    WhatIf = 'Shows what would happen if the cmdlet runs. The cmdlet is not run.'
    Confirm = 'Prompts you for confirmation before running the cmdlet.'
}

function Write-CommandElement {
    param([System.Xml.XmlWriter] $W, $Model, $Doc)
    $W.WriteStartElement('command', 'command', $script:Ns.command)
    $W.WriteAttributeString('xmlns', 'maml', $null, $script:Ns.maml)
    $W.WriteAttributeString('xmlns', 'command', $null, $script:Ns.command)
    $W.WriteAttributeString('xmlns', 'dev', $null, $script:Ns.dev)

    $W.WriteStartElement('command', 'details', $script:Ns.command)
    Write-El $W command name $Model.Name
    Write-El $W command verb $Model.Verb
    Write-El $W command noun $Model.Noun
    Write-Paras $W $Doc.Synopsis
    $W.WriteEndElement()

    Write-Paras $W $Doc.Description

    $docParam = {
        param($name)
        if ($Doc.Parameters.Contains($name)) { return $Doc.Parameters[$name] }
        if ($script:ShouldProcessText.ContainsKey($name)) { return @{ Description = @($script:ShouldProcessText[$name]); DefaultValue = $null; Globbing = $null } }
        return $null
    }

    $W.WriteStartElement('command', 'syntax', $script:Ns.command)
    foreach ($set in $Model.Syntax) {
        $W.WriteStartElement('command', 'syntaxItem', $script:Ns.command)
        Write-El $W maml name $Model.Name
        foreach ($p in $set.Parameters) {
            Write-ParameterElement -W $W -Meta $Model.Parameters[$p.Name] -Doc (& $docParam $p.Name) -SetName $set.Name -InSyntax
        }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'parameters', $script:Ns.command)
    $names = @($Model.Parameters.Keys | Where-Object { -not $Model.Parameters[$_].Common } | Sort-Object) +
        @($Model.Parameters.Keys | Where-Object { $Model.Parameters[$_].Common } | Sort-Object)
    foreach ($n in $names) { Write-ParameterElement -W $W -Meta $Model.Parameters[$n] -Doc (& $docParam $n) }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'inputTypes', $script:Ns.command)
    $inputs = $Doc.Inputs
    if ($null -eq $inputs -or $inputs.Count -eq 0) {
        # Derived: the types of the parameters that take pipeline input.
        $inputs = @()
        foreach ($p in $Model.Parameters.Values) {
            $t = Get-PipelineText $p.Sets
            if ($t -ne 'False') { $inputs += , ([ordered]@{ Type = $p.FullType; Description = @("You can pipe a value for -$($p.Name) to this cmdlet: $t.") }) }
        }
        if ($inputs.Count -eq 0) { $inputs = @([ordered]@{ Type = 'None'; Description = @('This cmdlet does not take pipeline input.') }) }
    }
    foreach ($t in $inputs) {
        $W.WriteStartElement('command', 'inputType', $script:Ns.command)
        $W.WriteStartElement('dev', 'type', $script:Ns.dev); Write-El $W maml name $t.Type; $W.WriteEndElement()
        Write-Paras $W $t.Description
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'returnValues', $script:Ns.command)
    $outputs = $Doc.Outputs
    if ($null -eq $outputs -or $outputs.Count -eq 0) {
        $outputs = @($Model.Outputs | ForEach-Object { [ordered]@{ Type = $_; Description = @() } })
        if ($outputs.Count -eq 0) { $outputs = @([ordered]@{ Type = 'None'; Description = @('This cmdlet returns no output.') }) }
    }
    foreach ($t in $outputs) {
        $W.WriteStartElement('command', 'returnValue', $script:Ns.command)
        $W.WriteStartElement('dev', 'type', $script:Ns.dev); Write-El $W maml name $t.Type; $W.WriteEndElement()
        Write-Paras $W $t.Description
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    if (@($Doc.Notes).Count -gt 0) {
        # An empty alertSet still prints a NOTES heading with blank lines: leave it out.
        $W.WriteStartElement('maml', 'alertSet', $script:Ns.maml)
        $W.WriteStartElement('maml', 'alert', $script:Ns.maml)
        foreach ($p in $Doc.Notes) { Write-El $W maml para $p }
        $W.WriteEndElement()
        $W.WriteEndElement()
    }

    $W.WriteStartElement('command', 'examples', $script:Ns.command)
    foreach ($ex in $Doc.Examples) {
        $W.WriteStartElement('command', 'example', $script:Ns.command)
        Write-El $W maml title "--------- $($ex.Title) ---------"
        $W.WriteStartElement('maml', 'introduction', $script:Ns.maml); Write-El $W maml para ''; $W.WriteEndElement()
        Write-El $W dev code $ex.Code
        $W.WriteStartElement('dev', 'remarks', $script:Ns.dev)
        foreach ($r in $ex.Remarks) { Write-El $W maml para $r }
        Write-El $W maml para '' # a blank line before the next example
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('maml', 'relatedLinks', $script:Ns.maml)
    $links = @()
    if ($Doc.Meta.Contains('online version') -and $Doc.Meta['online version']) { $links += , @{ Text = 'Online Version:'; Uri = $Doc.Meta['online version'] } }
    $links += $Doc.Links
    foreach ($l in $links) {
        $W.WriteStartElement('maml', 'navigationLink', $script:Ns.maml)
        Write-El $W maml linkText $l.Text
        Write-El $W maml uri $l.Uri
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteEndElement() # command:command
}

function Write-MamlFile {
    param([string] $Path, [object[]] $Pairs)
    $settings = [System.Xml.XmlWriterSettings]::new()
    $settings.Indent = $true
    $settings.IndentChars = '  '
    $settings.Encoding = [System.Text.UTF8Encoding]::new($false)
    $settings.NewLineChars = "`n"
    $settings.NewLineHandling = [System.Xml.NewLineHandling]::Replace
    $w = [System.Xml.XmlWriter]::Create($Path, $settings)
    try {
        $w.WriteStartDocument()
        $w.WriteStartElement('helpItems', $script:Ns.msh)
        $w.WriteAttributeString('schema', 'maml')
        foreach ($pair in $Pairs) { Write-CommandElement -W $w -Model $pair.Model -Doc $pair.Doc }
        $w.WriteEndElement()
        $w.WriteEndDocument()
    } finally { $w.Dispose() }
}

# ---------------------------------------------------------------------------------------------
# About topics: Markdown -> plain text
# ---------------------------------------------------------------------------------------------

function Format-Wrapped([string] $Text, [int] $Indent, [int] $Width = 80, [int] $HangingIndent = -1) {
    if ($HangingIndent -lt 0) { $HangingIndent = $Indent }
    $out = [System.Collections.Generic.List[string]]::new()
    $line = ' ' * $Indent
    $empty = $true
    foreach ($word in ($Text -split '\s+' | Where-Object { $_ })) {
        if (-not $empty -and ($line.Length + 1 + $word.Length) -gt $Width) {
            $out.Add($line.TrimEnd()); $line = (' ' * $HangingIndent) + $word
        } elseif ($empty) { $line += $word } else { $line += ' ' + $word }
        $empty = $false
    }
    if (-not $empty) { $out.Add($line.TrimEnd()) }
    return $out
}

function Format-MarkdownTable([string[]] $Lines, [int] $Indent = 4, [int] $Width = 80) {
    # A Markdown table as aligned columns under a dashed header; when that is too wide, as a
    # list: the first cell of each row, then the other cells wrapped and indented below it.
    $rows = foreach ($l in $Lines) {
        $t = $l.Trim()
        if ($t -match '^\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?$') { continue } # separator row
        $t = $t -replace '^\|', '' -replace '\|$', ''
        , @($t -split '(?<!\\)\|' | ForEach-Object { ConvertFrom-InlineMarkdown $_.Trim() })
    }
    $rows = @($rows)
    if ($rows.Count -eq 0) { return @() }
    $columns = ($rows | ForEach-Object { $_.Count } | Measure-Object -Maximum).Maximum
    $widths = foreach ($c in 0..($columns - 1)) {
        ($rows | ForEach-Object { if ($c -lt $_.Count) { $_[$c].Length } else { 0 } } | Measure-Object -Maximum).Maximum
    }
    $total = $Indent + ($widths | Measure-Object -Sum).Sum + 2 * ($columns - 1)
    $out = [System.Collections.Generic.List[string]]::new()
    $pad = ' ' * $Indent
    if ($total -le $Width) {
        $format = { param($cells) $pad + ((0..($columns - 1) | ForEach-Object { $v = if ($_ -lt $cells.Count) { $cells[$_] } else { '' }; $v.PadRight($widths[$_]) }) -join '  ').TrimEnd() }
        $out.Add((& $format $rows[0]))
        $out.Add((& $format @($widths | ForEach-Object { '-' * $_ })))
        for ($ri = 1; $ri -lt $rows.Count; $ri++) { $out.Add((& $format $rows[$ri])) }
    } elseif ($columns -eq 2 -and $widths[0] -le 40) {
        # Two columns: the first aligned, the second wrapped beside it.
        $left = $Indent + $widths[0] + 2
        $out.Add(($pad + $rows[0][0].PadRight($widths[0]) + '  ' + $rows[0][1]).TrimEnd())
        $out.Add($pad + ('-' * $widths[0]) + '  ' + ('-' * [Math]::Min($widths[1], $Width - $left)))
        for ($ri = 1; $ri -lt $rows.Count; $ri++) {
            $r = $rows[$ri]
            $text = if ($r.Count -gt 1) { $r[1] } else { '' }
            $wrapped = @(Format-Wrapped $text 0 ($Width - $left))
            if ($wrapped.Count -eq 0) { $wrapped = @('') }
            $out.Add(($pad + $r[0].PadRight($widths[0]) + '  ' + $wrapped[0]).TrimEnd())
            foreach ($w in ($wrapped | Select-Object -Skip 1)) { $out.Add((' ' * $left) + $w) }
        }
    } else {
        for ($ri = 1; $ri -lt $rows.Count; $ri++) {
            $r = $rows[$ri]
            $out.Add($pad + $r[0])
            $header = $rows[0]
            for ($c = 1; $c -lt $r.Count; $c++) {
                if (-not $r[$c]) { continue }
                $text = if ($columns -gt 2 -and $header[$c]) { "$($header[$c]): $($r[$c])" } else { $r[$c] }
                foreach ($l in (Format-Wrapped $text ($Indent + 4) $Width)) { $out.Add($l) }
            }
        }
    }
    return $out
}

function ConvertTo-AboutText {
    # Markdown about topic -> the classic TOPIC / SHORT DESCRIPTION / LONG DESCRIPTION layout.
    param([string] $Path, [System.Collections.Generic.List[string]] $Problems)
    $file = Split-Path $Path -Leaf
    $raw = [System.IO.File]::ReadAllText($Path, [System.Text.Encoding]::UTF8).Replace("`r`n", "`n")
    $lines = (Read-FrontMatter $raw.Split("`n")).Rest
    $topic = $file -replace '\.help\.md$', ''
    $top = Split-MarkdownSection -Lines $lines -Level 1
    $titled = @($top | Where-Object { $null -ne $_.Heading })
    if ($titled.Count -eq 0 -or $titled[0].Heading -ne $topic) { $Problems.Add("${file}: must start with '# $topic'") }
    $body = if ($titled.Count) { $titled[0].Lines } else { $lines }
    $out = [System.Collections.Generic.List[string]]::new()
    $out.Add('TOPIC'); $out.Add("    $topic"); $out.Add('')
    $sections = Split-MarkdownSection -Lines $body -Level 2
    $hasShort = $false
    foreach ($s in $sections) {
        if ($null -eq $s.Heading) { continue }
        $heading = $s.Heading.ToUpperInvariant()
        if ($heading -eq 'SHORT DESCRIPTION') { $hasShort = $true }
        $out.Add($heading)
        foreach ($sub in (Split-MarkdownSection -Lines $s.Lines -Level 3)) {
            if ($null -ne $sub.Heading) {
                if ($out[$out.Count - 1] -ne '') { $out.Add('') }
                $out.Add("  $(ConvertFrom-InlineMarkdown $sub.Heading)")
            }
            $blocks = ConvertTo-Block -Lines $sub.Lines -CodeLanguages @()
            for ($bi = 0; $bi -lt $blocks.Count; $bi++) {
                $b = $blocks[$bi]
                switch ($b.Kind) {
                    'para' {
                        # Get-Help about_* lists the first line under SHORT DESCRIPTION as the
                        # synopsis: keep that paragraph on one line.
                        $w = if ($heading -eq 'SHORT DESCRIPTION') { [int]::MaxValue } else { 80 }
                        foreach ($l in (Format-Wrapped $b.Text 4 $w)) { $out.Add($l) }
                    }
                    'item' {
                        $hang = 4 + ($b.Text -split ' ', 2)[0].Length + 1
                        foreach ($l in (Format-Wrapped $b.Text 4 -HangingIndent $hang)) { $out.Add($l) }
                    }
                    default {
                        $lines = @($b.Text -split "`n")
                        if ($lines.Count -ge 2 -and @($lines | Where-Object { $_ -notmatch '^\s*\|' }).Count -eq 0) {
                            foreach ($l in (Format-MarkdownTable $lines)) { $out.Add($l) }
                        } else {
                            foreach ($l in $lines) { $out.Add(("        $l").TrimEnd()) }
                        }
                    }
                }
                # Items of one list stay together; every other block ends with a blank line.
                if (-not ($b.Kind -eq 'item' -and $bi + 1 -lt $blocks.Count -and $blocks[$bi + 1].Kind -eq 'item')) { $out.Add('') }
            }
            if ($blocks.Count -eq 0 -and $null -ne $sub.Heading) { $out.Add('') }
        }
        if ($out[$out.Count - 1] -ne '') { $out.Add('') }
    }
    if (-not $hasShort) { $Problems.Add("${file}: has no '## Short description' section") }
    while ($out.Count -gt 0 -and $out[$out.Count - 1] -eq '') { $out.RemoveAt($out.Count - 1) }
    return ($out -join "`n") + "`n"
}

# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

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
$commands = @(Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name)
Write-Verbose "Module $($module.Name) $($module.Version) from $($module.ModuleBase): $($commands.Count) cmdlet(s)"

$problems = [System.Collections.Generic.List[string]]::new()
$docs = @{}
foreach ($f in (Get-ChildItem -LiteralPath $DocsPath -Filter '*.md' -File | Sort-Object Name)) {
    if ($f.Name -like 'about_*') { continue }
    $d = Read-HelpMarkdown -Path $f.FullName -Problems $problems
    $expected = $f.BaseName
    if ($d.Name -and $d.Name -ne $expected) { $problems.Add("$($f.Name): title '# $($d.Name)' does not match the file name") }
    $docs[$expected] = $d
}

$pairs = @()
foreach ($c in $commands) {
    if (-not $docs.ContainsKey($c.Name)) { $problems.Add("$($c.Name): no Markdown help (expected $(Join-Path $DocsPath "$($c.Name).md"))"); continue }
    $doc = $docs[$c.Name]
    $model = Get-CmdletModel -Command $c
    $file = $doc.File
    if (@($doc.Synopsis | Where-Object { $_ -and $_.Trim() }).Count -eq 0) { $problems.Add("${file}: '## SYNOPSIS' is missing or empty") }
    if (@($doc.Description | Where-Object { $_ -and $_.Trim() }).Count -eq 0) { $problems.Add("${file}: '## DESCRIPTION' is missing or empty") }
    if ($doc.Examples.Count -lt 2) { $problems.Add("${file}: has $($doc.Examples.Count) example(s); at least 2 are required") }
    foreach ($p in $model.Parameters.Values) {
        if ($p.Common) { continue }
        if (-not $doc.Parameters.Contains($p.Name)) { $problems.Add("${file}: parameter -$($p.Name) has no '### -$($p.Name)' section") }
        elseif (@($doc.Parameters[$p.Name].Description | Where-Object { $_ -and $_.Trim() }).Count -eq 0) { $problems.Add("${file}: '### -$($p.Name)' has no description") }
    }
    foreach ($n in $doc.Parameters.Keys) {
        if (-not $model.Parameters.Contains($n)) { $problems.Add("${file}: '### -$n' documents a parameter that $($c.Name) does not have") }
        elseif ($model.Parameters[$n].Name -cne $n) { $problems.Add("${file}: '### -$n' should be spelled '-$($model.Parameters[$n].Name)'") }
    }
    if ($null -ne $doc.Outputs -and $model.Outputs.Count -gt 0) {
        $documented = @($doc.Outputs | ForEach-Object Type)
        foreach ($o in $model.Outputs) {
            if ($documented -notcontains $o) { Write-Warning "${file}: [OutputType] declares $o but '## OUTPUTS' does not list it" }
        }
    }
    foreach ($l in $doc.Links) {
        if ($l.Text -match '^[A-Z][a-z]+-[A-Za-z]+$' -and -not $l.Uri -and -not (Get-Command -Name $l.Text -ErrorAction Ignore)) {
            Write-Warning "${file}: related link '$($l.Text)' names no known command"
        }
    }
    $pairs += , @{ Model = $model; Doc = $doc; HelpFile = $(if ($model.HelpFile) { $model.HelpFile } else { "$($c.ImplementingType.Assembly.GetName().Name).dll-Help.xml" }) }
}
foreach ($name in ($docs.Keys | Sort-Object)) {
    # A warning, not a failure: help for a cmdlet on its way (another branch) can land first.
    # A renamed cmdlet shows up here too, and as a missing file for the new name.
    if (-not ($commands | Where-Object Name -EQ $name)) { Write-Warning "$($docs[$name].File): module $ModuleName exports no cmdlet named '$name'; this file is not compiled" }
}

$aboutFiles = @(Get-ChildItem -LiteralPath $DocsPath -Filter 'about_*.help.md' -File)
if (-not ($aboutFiles | Where-Object Name -EQ "about_$ModuleName.help.md")) { $problems.Add("about_$ModuleName.help.md: missing from $DocsPath") }
$aboutTexts = @{}
foreach ($a in $aboutFiles) { $aboutTexts[$a.Name -replace '\.md$', '.txt'] = ConvertTo-AboutText -Path $a.FullName -Problems $problems }

if ($problems.Count -gt 0) {
    # One line each on stderr (an error record's view would fold the list into one paragraph),
    # then a terminating error that carries the list too.
    [Console]::Error.WriteLine("Help build failed with $($problems.Count) problem(s):")
    foreach ($p in $problems) { [Console]::Error.WriteLine("  - $p") }
    $exception = [System.InvalidOperationException]::new(
        "Help build failed with $($problems.Count) problem(s):`n" + (($problems | ForEach-Object { "  - $_" }) -join "`n"))
    $exception.Data['Problems'] = $problems.ToArray()
    throw [System.Management.Automation.ErrorRecord]::new($exception, 'FleHelpBuildFailed',
        [System.Management.Automation.ErrorCategory]::InvalidData, $DocsPath)
}

if (-not $CheckOnly) {
    $null = New-Item -ItemType Directory -Force -Path $OutputPath
    foreach ($group in ($pairs | Group-Object { $_.HelpFile })) {
        $target = Join-Path $OutputPath $group.Name
        Write-MamlFile -Path $target -Pairs @($group.Group)
        Write-Verbose "Wrote $target ($($group.Count) cmdlet(s))"
        # Fail now, not at Get-Help time, if the file is not well-formed XML.
        $null = [xml](Get-Content -LiteralPath $target -Raw)
    }
    foreach ($kv in $aboutTexts.GetEnumerator()) {
        $target = Join-Path $OutputPath $kv.Key
        [System.IO.File]::WriteAllText($target, $kv.Value, [System.Text.UTF8Encoding]::new($false))
        Write-Verbose "Wrote $target"
    }
    Write-Host "Help: $($pairs.Count) cmdlet(s), $($aboutTexts.Count) about topic(s) -> $OutputPath"
}
if ($PassThru) { $pairs }

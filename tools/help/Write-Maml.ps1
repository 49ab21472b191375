# CmdletModel + HelpDocument → MAML (the <Assembly>.dll-Help.xml that Get-Help reads).
# Part of FleHelp.psm1.

$script:Ns = @{
    maml = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
    msh = 'http://msh'
}

$script:ShouldProcessText = @{
    WhatIf = 'Shows what would happen if the cmdlet runs. The cmdlet is not run.'
    Confirm = 'Prompts you for confirmation before running the cmdlet.'
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
    # <maml:description> with one <maml:para> per paragraph (an empty one when there is none).
    $W.WriteStartElement('maml', 'description', $script:Ns.maml)
    $any = $false
    foreach ($p in $Paras) { if ($null -ne $p -and $p.Trim()) { Write-El $W maml para $p; $any = $true } }
    if (-not $any) { Write-El $W maml para '' }
    $W.WriteEndElement()
}

function Write-TypeList([System.Xml.XmlWriter] $W, [string] $List, [string] $Item, [HelpType[]] $Types) {
    $W.WriteStartElement('command', $List, $script:Ns.command)
    foreach ($t in $Types) {
        $W.WriteStartElement('command', $Item, $script:Ns.command)
        $W.WriteStartElement('dev', 'type', $script:Ns.dev); Write-El $W maml name $t.Type; $W.WriteEndElement()
        Write-Paras $W $t.Description
        $W.WriteEndElement()
    }
    $W.WriteEndElement()
}

function Write-ParameterElement {
    # One <command:parameter>: in a syntax item for one set ($SetName, -InSyntax), or in the
    # parameter list, where the facts of every set the parameter is in are merged.
    param([System.Xml.XmlWriter] $W, [CmdletParameterModel] $Meta, [HelpParameter] $Doc, [string] $SetName, [switch] $InSyntax)
    if ($SetName) {
        $s = $Meta.Sets[$SetName]
        if ($null -eq $s) { $s = $Meta.Sets['__AllParameterSets'] }
        $required = $s.IsMandatory
        $position = if ($s.Position -eq [int]::MinValue) { 'named' } else { [string]$s.Position }
        $pipeline = Get-PipelineText @($s)
        $variableLength = $s.ValueFromRemainingArguments
    } else {
        $all = @($Meta.Sets.Values)
        $required = @($all | Where-Object { -not $_.IsMandatory }).Count -eq 0
        $positions = @($all | ForEach-Object Position | Select-Object -Unique)
        $position = if ($positions.Count -eq 1 -and $positions[0] -ne [int]::MinValue) { [string]$positions[0] } else { 'named' }
        $pipeline = Get-PipelineText $all
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
    $desc = @(if ($Doc) { $Doc.Description })   # @() around the if: one paragraph would otherwise be a string, and += would glue the note to it
    if (-not $InSyntax -and -not $SetName) {
        # Say where the parameter-set specific facts differ, since one entry cannot show them.
        $mandatoryIn = @($Meta.Sets.GetEnumerator() | Where-Object { $_.Key -ne '__AllParameterSets' -and $_.Value.IsMandatory } | ForEach-Object Key)
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
    $default = if ($Doc -and $Doc.DefaultValue) { $Doc.DefaultValue } else { $Meta.Default }
    Write-El $W dev defaultValue $default
    $W.WriteEndElement()
}

function Write-CommandElement {
    param([System.Xml.XmlWriter] $W, [CmdletModel] $Model, [HelpDocument] $Doc)
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
        if ($script:ShouldProcessText.ContainsKey($name)) { return [HelpParameter]@{ Name = $name; Description = @($script:ShouldProcessText[$name]) } }
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

    $inputs = $Doc.Inputs
    if ($null -eq $inputs -or $inputs.Count -eq 0) {
        # Derived: the types of the parameters that take pipeline input.
        $inputs = foreach ($p in $Model.Parameters.Values) {
            $t = Get-PipelineText $p.Sets.Values
            if ($t -ne 'False') { [HelpType]@{ Type = $p.FullType; Description = @("You can pipe a value for -$($p.Name) to this cmdlet: $t.") } }
        }
        if (@($inputs).Count -eq 0) { $inputs = [HelpType]@{ Type = 'None'; Description = @('This cmdlet does not take pipeline input.') } }
    }
    Write-TypeList $W inputTypes inputType @($inputs)

    $outputs = $Doc.Outputs
    if ($null -eq $outputs -or $outputs.Count -eq 0) {
        $outputs = foreach ($o in $Model.Outputs) { [HelpType]@{ Type = $o; Description = @() } }
        if (@($outputs).Count -eq 0) { $outputs = [HelpType]@{ Type = 'None'; Description = @('This cmdlet returns no output.') } }
    }
    Write-TypeList $W returnValues returnValue @($outputs)

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
    if ($Doc.Meta.Contains('online version') -and $Doc.Meta['online version']) { $links += [HelpLink]@{ Text = 'Online Version:'; Uri = $Doc.Meta['online version'] } }
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

function Write-Maml {
    # One MAML file with a <command:command> for each { Model; Doc } pair; checked to be
    # well-formed XML afterwards (a failure then fails the build, not Get-Help later).
    param([Parameter(Mandatory)] [string] $Path, [Parameter(Mandatory)] [object[]] $Pairs)
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
    $null = [xml](Get-Content -LiteralPath $Path -Raw)
}

# The compiled cmdlet → CmdletModel: everything the MAML says that the code already knows
# (parameter sets, types, positions, pipeline input, aliases, wildcards, ValidateSet/enum values,
# default values, [OutputType]). Part of FleHelp.psm1.

$script:CommonParameters = [System.Collections.Generic.HashSet[string]]::new([StringComparer]::OrdinalIgnoreCase)
foreach ($n in @([System.Management.Automation.PSCmdlet]::CommonParameters) + @([System.Management.Automation.PSCmdlet]::OptionalCommonParameters)) {
    [void]$script:CommonParameters.Add($n)
}
# Common parameters that the help still lists (with standard text), as platyPS does.
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

function Test-Listed([System.Management.Automation.ParameterMetadata] $Parameter) {
    # In the help: not a common parameter (except -WhatIf/-Confirm), not hidden.
    -not ($script:CommonParameters.Contains($Parameter.Name) -and $script:ShouldProcessParameters -notcontains $Parameter.Name) -and
        -not (Test-DontShow $Parameter)
}

function Get-CmdletModel {
    param([Parameter(Mandatory)] [System.Management.Automation.CmdletInfo] $Command)
    $type = $Command.ImplementingType
    $instance = $null
    try { $instance = [Activator]::CreateInstance($type) } catch { Write-Verbose "Cannot create $($type.FullName) to read default values: $_" }

    $params = [ordered]@{}
    foreach ($pm in $Command.Parameters.Values) {
        if (-not (Test-Listed $pm)) { continue }
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
        $params[$pm.Name] = [CmdletParameterModel]@{
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
            Common = $script:CommonParameters.Contains($pm.Name)
        }
    }

    $syntax = foreach ($set in $Command.ParameterSets) {
        $i = 0
        $entries = foreach ($p in $set.Parameters) {
            if (-not (Test-Listed $Command.Parameters[$p.Name])) { continue }
            [pscustomobject]@{
                Name = $p.Name; Mandatory = $p.IsMandatory
                Position = if ($p.Position -eq [int]::MinValue) { $null } else { $p.Position }
                Common = $script:CommonParameters.Contains($p.Name)
                Order = $i++
            }
        }
        # The order PowerShell's own syntax uses: positional by position, then mandatory, then
        # the rest as declared, WhatIf/Confirm last.
        $ordered = @($entries) | Sort-Object @{ Expression = { if ($_.Common) { 3 } elseif ($null -ne $_.Position) { 0 } elseif ($_.Mandatory) { 1 } else { 2 } } },
            @{ Expression = { if ($null -ne $_.Position) { $_.Position } else { 0 } } }, Order
        [pscustomobject]@{ Name = $set.Name; IsDefault = $set.IsDefault; Parameters = @($ordered) }
    }

    [CmdletModel]@{
        Name = $Command.Name; Verb = $Command.Verb; Noun = $Command.Noun
        HelpFile = $Command.HelpFile
        Parameters = $params
        Syntax = @($syntax)
        Outputs = @($Command.OutputType | Where-Object { $_.Name -and $_.Name -ne 'System.Void' } | ForEach-Object { $_.Name } | Select-Object -Unique)
    }
}

function Get-PipelineText($Sets) {
    # "True (ByValue, ByPropertyName)" style, over the given parameter-set metadata.
    $byValue = $false; $byName = $false
    foreach ($s in $Sets) { $byValue = $byValue -or $s.ValueFromPipeline; $byName = $byName -or $s.ValueFromPipelineByPropertyName }
    $kinds = @(); if ($byValue) { $kinds += 'ByValue' }; if ($byName) { $kinds += 'ByPropertyName' }
    if ($kinds.Count -eq 0) { return 'False' }
    return "True ($($kinds -join ', '))"
}

#Requires -Version 7.4
# Every exported cmdlet of the built module must have real help: a written synopsis (not the
# syntax PowerShell makes up when there is no help file), a description, at least two examples
# and a description for every parameter that is not a common parameter. The about topic must
# be found by Get-Help too.
#
#   $env:FLE_MODULE_PATH = '<module folder>/Fle.psd1'
#   Invoke-Pester tests/Pester/Help.Tests.ps1
#
# The help comes from <module folder>/en-US/Fle.PowerShell.dll-Help.xml and about_Fle.help.txt,
# which tools/help/Build-Help.ps1 writes from docs/en-US/*.md.
#
# The module is imported without -Force, and removed again when this file imported it: a forced
# re-import of an already loaded Fle leaves it without cmdlets, which would break the test files
# that run after this one in the same session.

BeforeDiscovery {
    $manifest = $env:FLE_MODULE_PATH
    if (-not $manifest) { throw 'Set $env:FLE_MODULE_PATH to the path of the built module''s Fle.psd1.' }
    if (Test-Path -LiteralPath $manifest -PathType Container) { $manifest = Join-Path $manifest 'Fle.psd1' }
    $moduleName = [System.IO.Path]::GetFileNameWithoutExtension($manifest)
    $imported = -not (Get-Module -Name $moduleName)
    if ($imported) { $null = Import-Module -Name $manifest -ErrorAction Stop }

    $common = @([System.Management.Automation.PSCmdlet]::CommonParameters) +
        @([System.Management.Automation.PSCmdlet]::OptionalCommonParameters)
    $cmdletCases = @(Get-Command -Module $moduleName -CommandType Cmdlet | Sort-Object Name | ForEach-Object {
            @{
                Name = $_.Name
                # Not the common parameters, nor those hidden with [Parameter(DontShow)] in every set.
                Parameters = @($_.Parameters.Values | Where-Object {
                        $common -notcontains $_.Name -and
                        @($_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and -not $_.DontShow }).Count -gt 0
                    } | ForEach-Object Name | Sort-Object)
            }
        })
    $moduleCases = @(@{ ModuleName = $moduleName; CmdletCount = $cmdletCases.Count })
    if ($imported) { Remove-Module -Name $moduleName }
}

BeforeAll {
    $manifest = $env:FLE_MODULE_PATH
    if (Test-Path -LiteralPath $manifest -PathType Container) { $manifest = Join-Path $manifest 'Fle.psd1' }
    $script:helpModuleName = [System.IO.Path]::GetFileNameWithoutExtension($manifest)
    $script:helpImportedModule = -not (Get-Module -Name $helpModuleName)
    if ($helpImportedModule) { $null = Import-Module -Name $manifest -ErrorAction Stop }

    function Get-HelpText($Node) {
        # maml paragraphs come back as objects with a Text property (or as plain strings).
        ((@($Node) | Where-Object { $null -ne $_ } | ForEach-Object { if ($_ -is [string]) { $_ } else { $_.Text } }) -join "`n").Trim()
    }
}

AfterAll {
    if ($helpImportedModule) { Remove-Module -Name $helpModuleName -ErrorAction SilentlyContinue }
}

Describe 'Module <ModuleName>' -ForEach $moduleCases {
    It 'exports at least one cmdlet' {
        $CmdletCount | Should -BeGreaterThan 0
    }

    It 'has the about_<ModuleName> topic' {
        $about = Get-Help -Name "about_$ModuleName" -ErrorAction Stop
        $about | Should -Not -BeNullOrEmpty
        $text = $about | Out-String
        $text | Should -Match "about_$ModuleName"
        $text | Should -Match 'SHORT DESCRIPTION'
    }
}

Describe 'Help for <Name>' -ForEach $cmdletCases {
    BeforeAll {
        $help = Get-Help -Name $Name -Full -ErrorAction Stop
    }

    It 'is the command help of <Name>' {
        # Get-Help falls back to a text search (an about topic) when the command is gone.
        "$($help.Name)" | Should -Be $Name
    }

    It 'has a written synopsis, not the generated syntax' {
        $synopsis = "$($help.Synopsis)".Trim()
        $synopsis | Should -Not -BeNullOrEmpty
        # Without a help file PowerShell puts the syntax ("Get-X [-Y] <string> ...") there.
        $synopsis | Should -Not -Match "^$([regex]::Escape($Name))(\s|$)"
    }

    It 'has a description' {
        Get-HelpText $help.description | Should -Not -BeNullOrEmpty
    }

    It 'has at least two examples, each with code' {
        $examples = @($help.examples.example | Where-Object { $null -ne $_ })
        $examples.Count | Should -BeGreaterOrEqual 2
        foreach ($e in $examples) { "$($e.code)".Trim() | Should -Not -BeNullOrEmpty -Because $e.title }
    }

    It 'describes parameter -<_>' -ForEach $Parameters {
        $parameter = @($help.parameters.parameter) | Where-Object name -EQ $_ | Select-Object -First 1
        $parameter | Should -Not -BeNullOrEmpty -Because "-$_ must be in the help of $Name"
        Get-HelpText $parameter.description | Should -Not -BeNullOrEmpty -Because "-$_ of $Name needs a description"
    }
}

Describe 'tools/help/Build-Help.ps1' -ForEach $moduleCases {
    BeforeAll {
        $root = (Resolve-Path (Join-Path $PSScriptRoot '..' '..')).Path
        $script:buildHelp = Join-Path $root 'tools' 'help' 'Build-Help.ps1'
        $script:docs = Join-Path $root 'docs' 'en-US'
        $manifest = $env:FLE_MODULE_PATH
        if (Test-Path -LiteralPath $manifest -PathType Container) { $manifest = Join-Path $manifest 'Fle.psd1' }
        $script:moduleDir = Split-Path -Parent (Resolve-Path $manifest).Path
        $script:pwsh = if ($env:FLE_PWSH) { $env:FLE_PWSH } else { Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh') }

        function Invoke-BuildHelp([string] $DocsPath) {
            # In a fresh pwsh, as the build runs it: the module cannot be imported twice.
            $out = & $pwsh -NoProfile -NonInteractive -File $buildHelp -ModulePath $moduleDir -DocsPath $DocsPath `
                -ModuleName $ModuleName -CheckOnly 2>&1
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Text = ($out | Out-String) }
        }
    }

    It 'accepts the Markdown help of every cmdlet' {
        $r = Invoke-BuildHelp $docs
        $r.Text | Should -Not -Match 'problem'
        $r.ExitCode | Should -Be 0
    }

    It 'fails and lists every problem at once' {
        $broken = Join-Path ([System.IO.Path]::GetTempPath()) ('fle-help-' + [guid]::NewGuid().ToString('n').Substring(0, 8))
        Copy-Item -LiteralPath $docs -Destination $broken -Recurse
        try {
            # Only files of exported cmdlets (help for a cmdlet still to come is only a warning).
            $exported = @(Get-Command -Module $ModuleName -CommandType Cmdlet | ForEach-Object Name)
            $cmdlets = @(Get-ChildItem $broken -Filter '*-*.md' | Where-Object { $exported -contains $_.BaseName } | Sort-Object Name)
            $missing = $cmdlets[0].BaseName
            Remove-Item $cmdlets[0].FullName
            # Drop a parameter section and the examples of a second file.
            $second = $cmdlets[1].FullName
            $text = Get-Content -LiteralPath $second -Raw
            $parameter = [regex]::Match($text, '(?m)^### -(\w+)').Groups[1].Value
            $text = [regex]::Replace($text, "(?ms)^### -$parameter\r?\n.*?(?=^### |^## )", '')
            $text = [regex]::Replace($text, '(?ms)^## EXAMPLES\r?\n.*?(?=^## )', "## EXAMPLES`n`n")
            Set-Content -LiteralPath $second -Value $text

            $r = Invoke-BuildHelp $broken
            $r.ExitCode | Should -Not -Be 0
            $r.Text | Should -Match ([regex]::Escape("${missing}: no Markdown help"))
            $r.Text | Should -Match ([regex]::Escape("parameter -$parameter has no '### -$parameter' section"))
            $r.Text | Should -Match 'has 0 example\(s\); at least 2 are required'
        } finally {
            Remove-Item -LiteralPath $broken -Recurse -Force
        }
    }
}

#Requires -Version 7.4
# The help builder (tools/help: FleHelp.psm1 behind Build-Help.ps1) on fixtures: copies of
# docs/en-US with one defect each must fail with the problem named, and the help it writes for
# the real docs must carry everything the Markdown says (checked here against the Markdown with
# a few plain regexes, independently of the builder's Markdig reader).
#
#   $env:FLE_MODULE_PATH = '<module folder>/Fle.psd1'
#   Invoke-Pester tests/Pester/HelpBuilder.Tests.ps1
#
# The checks run in this session (Invoke-FleHelpBuild on the Fle cmdlets loaded here); two runs
# of Build-Help.ps1 in a fresh pwsh, as build.ps1 runs it, show that the real docs build and
# that every check fails the build (exit code 1, each problem on stderr).
# Fle is imported without -Force and removed again when this file imported it (see Help.Tests.ps1).

BeforeDiscovery {
    # Each case: a defect made by Edit in a copy of the docs ($Dir) in the file $File, and the
    # problem it must cause (<Name> stands for the file's name without .md).
    # cases-begin
    $cmdletCases = @(
        @{ Check = 'an exported cmdlet without Markdown'; Expect = '<Name>: no Markdown help (expected '
            Edit = { param($Dir, $File) Remove-Item (Join-Path $Dir $File) } }
        @{ Check = 'a title that is not the file name'; Expect = "<Name>.md: title '# <Name>Typo' does not match the file name"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n) $t -replace "(?m)^# $n$", "# ${n}Typo" } } }
        @{ Check = 'no title'; Expect = "<Name>.md: has no '# Verb-Noun' title"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n) $t -replace "(?m)^# $n\n", '' } } }
        @{ Check = 'a platyPS placeholder'; Expect = "<Name>.md: contains a placeholder '{{ Fill in the Description }}' (fill it in)"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^## DESCRIPTION\n', "## DESCRIPTION`n{{ Fill in the Description }}`n`n" } } }
        @{ Check = 'a section twice'; Expect = "<Name>.md: section '## Synopsis' appears twice"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^## DESCRIPTION\n', "## Synopsis`nAgain.`n`n## DESCRIPTION`n" } } }
        @{ Check = 'an unknown section'; Expect = "<Name>.md: unknown section '## REMARKS' (expected one of: SYNOPSIS, SYNTAX,"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^## RELATED LINKS\n', "## Remarks`nText.`n`n## RELATED LINKS`n" } } }
        @{ Check = 'an empty synopsis'; Expect = "<Name>.md: '## SYNOPSIS' is missing or empty"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?ms)^## SYNOPSIS\n.*?(?=^## )', "## SYNOPSIS`n`n" } } }
        @{ Check = 'no description'; Expect = "<Name>.md: '## DESCRIPTION' is missing or empty"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?ms)^## DESCRIPTION\n.*?(?=^## )', '' } } }
        @{ Check = 'fewer than 2 examples'; Expect = '<Name>.md: has 1 example(s); at least 2 are required'
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?ms)(^## EXAMPLES\n.*?^### .*?)^### .*?(?=^## )', '$1' } } }
        @{ Check = 'an example without a powershell block'; Expect = '<Name>.md: ''### Example 1: Fenced as output'' has no ```powershell code block'
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^## EXAMPLES\n', "## EXAMPLES`n`n### Example 1: Fenced as output`n``````output`nGet-Date`n```````n`n" } } }
        @{ Check = 'text before the first example'; Expect = "<Name>.md: text under '## EXAMPLES' before the first '### Example' heading"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^## EXAMPLES\n', "## EXAMPLES`n`nStray text.`n`n" } } }
        @{ Check = 'a parameter heading without its dash'; Expect = "<Name>.md: parameter heading '### <Parameter>' must look like '### -Name'"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n, $p) $t -replace "(?m)^### -$p$", "### $p" } } }
        @{ Check = 'a parameter documented twice'; Expect = "<Name>.md: '### -<Parameter>' appears twice"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n, $p) $t -replace "(?m)^### -$p\n", "### -$p`nOnce.`n`n### -$p`n" } } }
        @{ Check = 'an undocumented parameter'; Expect = "<Name>.md: parameter -<Parameter> has no '### -<Parameter>' section"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n, $p) $t -replace "(?ms)^### -$p\n.*?(?=^##)", '' } } }
        @{ Check = 'a parameter without a description'; Expect = "<Name>.md: '### -<Parameter>' has no description"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n, $p) $t -replace "(?ms)^### -$p\n.*?(?=^##)", "### -$p`n`n``````yaml`nDefault value: None`n```````n`n" } } }
        @{ Check = 'a parameter the cmdlet does not have'; Expect = "<Name>.md: '### -NoSuchParameter' documents a parameter that <Name> does not have"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n, $p) $t -replace "(?m)^### -$p\n", "### -NoSuchParameter`nDrifted.`n`n### -$p`n" } } }
        @{ Check = 'a parameter spelled in another case'; Expect = "<Name>.md: '### -<parameter>' should be spelled '-<Parameter>'"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n, $p) $t -creplace "(?m)^### -$p$", "### -$($p.ToLowerInvariant())" } } }
        @{ Check = 'text before the first input type'; Expect = "<Name>.md: text under '## INPUTS' must follow a '### TypeName' heading"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^## INPUTS\n', "## INPUTS`n`nStray text.`n`n" } } }
        @{ Check = 'text before the first output type'; Expect = "<Name>.md: text under '## OUTPUTS' must follow a '### TypeName' heading"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^## OUTPUTS\n', "## OUTPUTS`n`nStray text.`n`n" } } }
        @{ Check = 'a yaml line that is not Key: value'; Expect = "<Name>.md: '### -<Parameter>' yaml block: '- Default value' is not a 'Key: value' line"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n, $p) $t -replace "(?m)^### -$p\n", "### -$p`n``````yaml`n- Default value`n```````n`n" } } }
        @{ Check = 'a front matter line that is not Key: value'; Expect = "<Name>.md: front matter: 'Module Name Fle' is not a 'Key: value' line"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^Module Name: Fle$', 'Module Name Fle' } } }
    )
    $aboutCases = @(
        @{ Check = 'no about topic'; Expect = 'about_Fle.help.md: missing from '
            Edit = { param($Dir, $File) Remove-Item (Join-Path $Dir $File) } }
        @{ Check = 'an about topic with another title'; Expect = "<Name>.md: must start with '# <Topic>'"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t, $n) $t -replace '(?m)^# about_(\w+)$', '# About $1' } } }
        @{ Check = 'an about topic without a short description'; Expect = "<Name>.md: has no '## Short description' section"
            Edit = { param($Dir, $File) Edit-Doc $Dir $File { param($t) $t -replace '(?m)^## Short description$', '## Summary' } } }
    )
    # cases-end
    foreach ($c in $cmdletCases) { $c.File = 'Get-FleStep.md' }
    foreach ($c in $aboutCases) { $c.File = 'about_Fle.help.md' }
    $allCases = @($cmdletCases) + @($aboutCases)
    $combined = @(@{ CmdletCases = $cmdletCases })
}

BeforeAll {
    $script:root = (Resolve-Path (Join-Path $PSScriptRoot '..' '..')).Path
    $script:docs = Join-Path $root 'docs' 'en-US'
    $script:buildHelp = Join-Path $root 'tools' 'help' 'Build-Help.ps1'
    $manifest = $env:FLE_MODULE_PATH
    if (-not $manifest) { throw 'Set $env:FLE_MODULE_PATH to the path of the built module''s Fle.psd1.' }
    if (Test-Path -LiteralPath $manifest -PathType Container) { $manifest = Join-Path $manifest 'Fle.psd1' }
    $script:moduleDir = Split-Path -Parent (Resolve-Path $manifest).Path
    $script:pwsh = if ($env:FLE_PWSH) { $env:FLE_PWSH } else { Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh') }
    $script:builderImportedFle = -not (Get-Module -Name Fle)
    if ($builderImportedFle) { $null = Import-Module -Name $manifest -ErrorAction Stop }
    Import-Module (Join-Path $root 'tools' 'help' 'FleHelp.psm1') -Force
    $script:commands = @(Get-Command -Module Fle -CommandType Cmdlet)

    function New-DocsCopy {
        $dir = Join-Path ([System.IO.Path]::GetTempPath()) ('fle-helpbuilder-' + [guid]::NewGuid().ToString('n').Substring(0, 8))
        Copy-Item -LiteralPath $docs -Destination $dir -Recurse
        $dir
    }

    function Get-FirstParameter([string] $Path) {
        # The first '### -Name' of a cmdlet's Markdown.
        [regex]::Match((Get-Content -LiteralPath $Path -Raw), '(?m)^### -(\w+)\r?$').Groups[1].Value
    }

    function Edit-Doc([string] $Dir, [string] $File, [scriptblock] $Edit) {
        # Applies $Edit (text, file base name, first parameter → new text) to one file; an edit
        # that changes nothing means the docs no longer have what the case expects.
        $path = Join-Path $Dir $File
        $text = (Get-Content -LiteralPath $path -Raw).Replace("`r`n", "`n")
        $new = & $Edit $text ([System.IO.Path]::GetFileNameWithoutExtension($File)) (Get-FirstParameter $path)
        if ($new -ceq $text) { throw "The edit changed nothing in $File; the fixture needs updating." }
        [System.IO.File]::WriteAllText($path, $new)
    }

    function Get-Expected([hashtable] $Case, [string] $Dir) {
        $name = [System.IO.Path]::GetFileNameWithoutExtension($Case.File)
        $parameter = Get-FirstParameter (Join-Path $docs $Case.File)
        $Case.Expect.Replace('<Name>', $name).Replace('<Topic>', ($name -replace '\.help$', '')).
            Replace('<Parameter>', $parameter).Replace('<parameter>', $parameter.ToLowerInvariant())
    }

    function Invoke-HelpCheck([string] $Dir) {
        # The problems Invoke-FleHelpBuild reports for a docs folder (none: an empty list).
        try {
            $null = Invoke-FleHelpBuild -Command $commands -DocsPath $Dir -CheckOnly -WarningAction SilentlyContinue
            return , @()
        } catch {
            if (-not $_.Exception.Data.Contains('Problems')) { throw }
            return , @($_.Exception.Data['Problems'])
        }
    }
}

AfterAll {
    Remove-Module FleHelp -ErrorAction SilentlyContinue
    if ($builderImportedFle) { Remove-Module -Name Fle -ErrorAction SilentlyContinue }
}

Describe 'Help builder checks' {
    It 'accepts the real docs' {
        Invoke-HelpCheck $docs | Should -BeNullOrEmpty
    }

    It 'fails on <Check>' -ForEach $allCases {
        $dir = New-DocsCopy
        try {
            & $Edit $dir $File
            $problems = Invoke-HelpCheck $dir
            $expected = Get-Expected $_ $dir
            $because = "the problems were:`n$($problems -join "`n")"
            @($problems | Where-Object { $_.Contains($expected) }).Count | Should -Be 1 -Because $because
            # One defect: whatever else it causes is about the same file.
            $name = [System.IO.Path]::GetFileNameWithoutExtension($File)
            foreach ($p in $problems) { $p | Should -BeLike "$name*" -Because $because }
        } finally {
            Remove-Item -LiteralPath $dir -Recurse -Force
        }
    }

    It 'warns, without failing, on <What>' -ForEach @(
        @{ What = 'a file for a cmdlet the module does not export'; Warning = "Get-FleNothing.md: module Fle exports no cmdlet named 'Get-FleNothing'"
            Edit = { param($Dir) Copy-Item (Join-Path $Dir 'Get-FleStep.md') (Join-Path $Dir 'Get-FleNothing.md'); Edit-Doc $Dir 'Get-FleNothing.md' { param($t) $t -replace '(?m)^# Get-FleStep$', '# Get-FleNothing' } } }
        @{ What = 'a related link to no known command'; Warning = "Get-FleStep.md: related link 'Get-FleNothing' names no known command"
            Edit = { param($Dir) Edit-Doc $Dir 'Get-FleStep.md' { param($t) $t -replace '(?m)^## RELATED LINKS\n', "## RELATED LINKS`n`n[Get-FleNothing](Get-FleNothing.md)`n" } } }
        @{ What = 'an [OutputType] that OUTPUTS leaves out'; Warning = "Get-FleStep.md: [OutputType] declares Fle.Core.FleStep but '## OUTPUTS' does not list it"
            Edit = { param($Dir) Edit-Doc $Dir 'Get-FleStep.md' { param($t) $t -replace '(?m)^### Fle\.Core\.FleStep$', '### Fle.Core.FleSteps' } } }
    ) {
        $dir = New-DocsCopy
        try {
            & $Edit $dir
            $null = Invoke-FleHelpBuild -Command $commands -DocsPath $dir -CheckOnly -WarningVariable warnings -WarningAction SilentlyContinue
            @($warnings | Where-Object { "$_".Contains($Warning) }).Count | Should -Be 1 -Because ($warnings -join "`n")
        } finally {
            Remove-Item -LiteralPath $dir -Recurse -Force
        }
    }

    It 'refuses a module or docs folder that does not exist' {
        { & $buildHelp -ModulePath (Join-Path $TestDrive 'none') -CheckOnly } | Should -Throw '*module folder*does not exist*'
        { & $buildHelp -ModulePath $moduleDir -DocsPath (Join-Path $TestDrive 'none') -CheckOnly } | Should -Throw '*Markdown folder*does not exist*'
        { & $buildHelp -ModulePath $TestDrive -CheckOnly } | Should -Throw '*No Fle.psd1*'
    }
}

Describe 'Reading Markdown' {
    BeforeAll {
        function Read-Fixture([string] $Markdown) {
            $path = Join-Path $TestDrive 'Get-Fixture.md'
            [System.IO.File]::WriteAllText($path, $Markdown)
            Read-HelpMarkdown -Path $path
        }
    }

    It 'flattens inline Markdown and keeps what is in code spans' {
        $d = Read-Fixture "# Get-Fixture`n`n## DESCRIPTION`nFiles like ``fle-*.db`` and ``x-*.dump``, **bold**, \*escaped\*, a [page](https://example.org/a ""t""),`na [file](Other.md), Get-Help <cmdlet>, &amp;.`n"
        $d.Description | Should -Be 'Files like fle-*.db and x-*.dump, bold, *escaped*, a page (https://example.org/a), a file, Get-Help <cmdlet>, &.'
    }

    It 'reads lists, tables, fences and comments as blocks' {
        $d = Read-Fixture "# Get-Fixture`n`n## DESCRIPTION`nIntro`ncontinued.`n`n- one`n  more`n- two`n`n3. three`n`n<!-- hidden -->`n`n| a | b |`n| --- | --- |`n| 1 | 2 |`n`n``````text`n  x`n    y`n```````n"
        $d.Description | Should -Be @('Intro continued.', '- one more', '- two', '3. three', "| a | b |`n| --- | --- |`n| 1 | 2 |", "x`n  y")
    }

    It 'reads examples: code from powershell blocks, the rest as remarks' {
        $d = Read-Fixture "# Get-Fixture`n`n## EXAMPLES`n`n### Example 1: One`n``````powershell`nGet-A`n```````n`nText.`n`n``````output`nout`n```````n`n``````pwsh`nGet-B`n```````n`n### Two`n``````powershell`nGet-C`n```````n"
        $d.Examples.Count | Should -Be 2
        $d.Examples[0].Title | Should -Be 'Example 1: One'
        $d.Examples[0].Code | Should -Be "Get-A`n`nGet-B"
        $d.Examples[0].Remarks | Should -Be @('Text.', 'out')
        $d.Examples[1].Title | Should -Be 'Example 2: Two'
    }

    It 'reads parameters with their yaml block, and the front matter' {
        $d = Read-Fixture "---`nonline version: https://example.org/x`n---`n`n# Get-Fixture`n`n## PARAMETERS`n`n### -Name`nThe name.`n`n``````yaml`nType: String`nDefault value: 'all of them'`nAccept wildcard characters: True`n```````n`n### CommonParameters`nIgnored.`n"
        $d.Problems | Should -BeNullOrEmpty
        $d.Meta['online version'] | Should -Be 'https://example.org/x'
        @($d.Parameters.Keys) | Should -Be @('Name')
        $d.Parameters['Name'].Description | Should -Be 'The name.'
        $d.Parameters['Name'].DefaultValue | Should -Be 'all of them'
        $d.Parameters['Name'].Globbing | Should -Be 'True'
    }

    It 'reads related links, with the URL only for absolute links' {
        $d = Read-Fixture "# Get-Fixture`n`n## RELATED LINKS`n`n[Get-FleStep](Get-FleStep.md)`n[Online](https://example.org/b)`n`n- about_Fle`n- [Other](Other.md)`n"
        @($d.Links | ForEach-Object { "$($_.Text)|$($_.Uri)" }) | Should -Be @('Get-FleStep|', 'Online|https://example.org/b', 'about_Fle|', 'Other|')
    }
}

Describe 'Build-Help.ps1 in a fresh pwsh' {
    BeforeAll {
        function Invoke-BuildHelpProcess([string] $DocsPath, [string] $OutputPath) {
            $arguments = @('-NoProfile', '-NonInteractive', '-File', $buildHelp, '-ModulePath', $moduleDir, '-DocsPath', $DocsPath)
            $arguments += if ($OutputPath) { @('-OutputPath', $OutputPath) } else { @('-CheckOnly') }
            $out = & $pwsh @arguments 2>&1
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Text = ($out | Out-String) }
        }

        function ConvertFrom-SimpleMarkdown([string] $Text) {
            # The test's own reading of a paragraph, for the docs as they are written: lines
            # joined, code and bold marks dropped.
            ((($Text -split "`n") | ForEach-Object Trim) -join ' ') -replace '`', '' -replace '\*\*', ''
        }

        function Get-MarkdownSectionText([string] $Text, [string] $Heading, [int] $Level = 2) {
            # The lines under '## $Heading' up to the next heading of that level or higher (not
            # counting '#' lines inside ``` fences).
            $lines = [System.Collections.Generic.List[string]]::new()
            $inSection = $false; $inFence = $false
            foreach ($line in ($Text -split "`n")) {
                if ($line.StartsWith('```')) { $inFence = -not $inFence }
                elseif (-not $inFence -and $line -match "^#{1,$Level} ") {
                    if ($inSection) { break }
                    $inSection = $line -eq "$('#' * $Level) $Heading"
                    continue
                }
                if ($inSection) { $lines.Add($line) }
            }
            if ($inSection) { ($lines -join "`n") + "`n" } else { $null }
        }
    }

    It 'writes help that carries every synopsis, parameter description, example and link' {
        $out = Join-Path $TestDrive 'en-US'
        $r = Invoke-BuildHelpProcess $docs $out
        $r.ExitCode | Should -Be 0 -Because $r.Text
        [xml] $maml = Get-Content -Raw (Join-Path $out 'Fle.PowerShell.dll-Help.xml')
        $ns = [System.Xml.XmlNamespaceManager]::new($maml.NameTable)
        $ns.AddNamespace('command', 'http://schemas.microsoft.com/maml/dev/command/2004/10')
        $ns.AddNamespace('maml', 'http://schemas.microsoft.com/maml/2004/10')
        $ns.AddNamespace('dev', 'http://schemas.microsoft.com/maml/dev/2004/10')
        $entries = @($maml.SelectNodes('//command:command', $ns))
        @($entries | ForEach-Object { $_.SelectSingleNode('command:details/command:name', $ns).InnerText } | Sort-Object) |
            Should -Be @($commands.Name | Sort-Object)

        foreach ($e in $entries) {
            $name = $e.SelectSingleNode('command:details/command:name', $ns).InnerText
            $md = (Get-Content -Raw (Join-Path $docs "$name.md")).Replace("`r`n", "`n")
            $paras = { param($node) @($node.SelectNodes('maml:description/maml:para', $ns) | ForEach-Object InnerText) }

            (& $paras $e.SelectSingleNode('command:details', $ns)) |
                Should -Be @(ConvertFrom-SimpleMarkdown (Get-MarkdownSectionText $md 'SYNOPSIS').Trim()) -Because "the synopsis of $name"
            @(& $paras $e).Count | Should -BeGreaterOrEqual ([regex]::Matches((Get-MarkdownSectionText $md 'DESCRIPTION').Trim(), '\n\n').Count + 1) -Because "the description of $name"

            $parameters = Get-MarkdownSectionText $md 'PARAMETERS'
            foreach ($m in [regex]::Matches($parameters, '(?ms)^### -(\w+)\n(.*?)(?=^### |\z)')) {
                $p = $e.SelectSingleNode("command:parameters/command:parameter[maml:name='$($m.Groups[1].Value)']", $ns)
                $p | Should -Not -BeNullOrEmpty -Because "-$($m.Groups[1].Value) of $name"
                $first = ConvertFrom-SimpleMarkdown ($m.Groups[2].Value.Trim() -split '\n\n')[0]
                @(& $paras $p)[0] | Should -Be $first -Because "the description of -$($m.Groups[1].Value) of $name"
            }

            $examples = @($e.SelectNodes('command:examples/command:example', $ns))
            $mdExamples = @([regex]::Matches((Get-MarkdownSectionText $md 'EXAMPLES'), '(?ms)^### (.*?)\n(.*?)(?=^### |\z)'))
            $examples.Count | Should -Be $mdExamples.Count -Because "the examples of $name"
            for ($i = 0; $i -lt $examples.Count; $i++) {
                $title = $mdExamples[$i].Groups[1].Value.Trim()
                $examples[$i].SelectSingleNode('maml:title', $ns).InnerText | Should -BeLike "--------- *$title ---------"
                $code = @([regex]::Matches($mdExamples[$i].Groups[2].Value, '(?ms)^```powershell\n(.*?)\n```') | ForEach-Object { $_.Groups[1].Value.TrimEnd() }) -join "`n`n"
                $examples[$i].SelectSingleNode('dev:code', $ns).InnerText | Should -Be $code -Because "$title of $name"
                $rest = [regex]::Replace($mdExamples[$i].Groups[2].Value, '(?ms)^```powershell\n.*?\n```', '').Trim()
                $remarks = (@($examples[$i].SelectNodes('dev:remarks/maml:para', $ns) | ForEach-Object InnerText) -join '').Trim()
                [bool]$remarks | Should -Be ([bool]$rest) -Because "the remarks of $title of $name"
            }

            foreach ($kind in 'INPUTS', 'OUTPUTS') {
                $types = @([regex]::Matches((Get-MarkdownSectionText $md $kind), '(?m)^### (.+)$') | ForEach-Object { $_.Groups[1].Value.Trim() })
                $xpath = if ($kind -eq 'INPUTS') { 'command:inputTypes/command:inputType' } else { 'command:returnValues/command:returnValue' }
                @($e.SelectNodes("$xpath/dev:type/maml:name", $ns) | ForEach-Object InnerText) | Should -Be $types -Because "the $kind of $name"
            }

            $links = @([regex]::Matches((Get-MarkdownSectionText $md 'RELATED LINKS'), '(?m)^\[([^\]]+)\]\(') | ForEach-Object { $_.Groups[1].Value })
            @($e.SelectNodes('maml:relatedLinks/maml:navigationLink/maml:linkText', $ns) | ForEach-Object InnerText) | Should -Be $links -Because "the links of $name"
        }

        $about = Get-Content -Raw (Join-Path $out 'about_Fle.help.txt')
        $aboutMd = (Get-Content -Raw (Join-Path $docs 'about_Fle.help.md')).Replace("`r`n", "`n")
        $about | Should -Match '^TOPIC\n    about_Fle\n'
        foreach ($h in [regex]::Matches($aboutMd, '(?m)^## (.+)$')) { $about | Should -Match "(?m)^$([regex]::Escape($h.Groups[1].Value.ToUpperInvariant()))$" }
        $short = ConvertFrom-SimpleMarkdown (Get-MarkdownSectionText $aboutMd 'Short description').Trim()
        $about | Should -Match "(?m)^SHORT DESCRIPTION\n    $([regex]::Escape($short))$"
        foreach ($fence in [regex]::Matches($aboutMd, '(?ms)^```\w*\n(.*?)\n```')) {
            foreach ($line in ($fence.Groups[1].Value -split "`n" | Where-Object { $_.Trim() })) {
                $about | Should -Match "(?m)^        $([regex]::Escape($line.TrimEnd()))$"
            }
        }
    }

    It 'exits 1 and lists the problem of every check at once' -ForEach $combined {
        # Each cmdlet check on a file of its own, so that none hides another (in more than one
        # run when there are more checks than cmdlets); the first run also has a broken second
        # about topic and no about_Fle.
        $files = @($commands.Name | Sort-Object | ForEach-Object { "$_.md" })
        for ($start = 0; $start -lt $CmdletCases.Count; $start += $files.Count) {
            $dir = New-DocsCopy
            try {
                $batch = @($CmdletCases | Select-Object -Skip $start -First $files.Count)
                $expected = @(for ($i = 0; $i -lt $batch.Count; $i++) {
                        $c = $batch[$i].Clone(); $c.File = $files[$i]
                        Get-Expected $c $dir
                        & $c.Edit $dir $c.File
                    })
                if ($start -eq 0) {
                    Copy-Item (Join-Path $dir 'about_Fle.help.md') (Join-Path $dir 'about_Broken.help.md')
                    Edit-Doc $dir 'about_Broken.help.md' { param($t) $t -replace '(?m)^# about_Fle$', '# about_Fle2' -replace '(?m)^## Short description$', '## Summary' }
                    Remove-Item (Join-Path $dir 'about_Fle.help.md')
                    $expected += "about_Broken.help.md: must start with '# about_Broken'", "about_Broken.help.md: has no '## Short description' section", 'about_Fle.help.md: missing from '
                }

                $r = Invoke-BuildHelpProcess $dir
                $r.ExitCode | Should -Be 1
                $r.Text | Should -Match 'Help build failed with \d+ problem\(s\):'
                foreach ($x in $expected) { $r.Text | Should -Match "(?m)^  - .*$([regex]::Escape($x))" }
            } finally {
                Remove-Item -LiteralPath $dir -Recurse -Force
            }
        }
    }
}

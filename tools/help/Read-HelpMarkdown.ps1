# docs/en-US/<Verb-Noun>.md → HelpDocument (the format is described in docs/README.md).
# Part of FleHelp.psm1.

$script:CodeLanguages = @('powershell', 'pwsh', 'ps', 'ps1', 'posh', '')
$script:KnownSections = 'SYNOPSIS', 'SYNTAX', 'DESCRIPTION', 'EXAMPLES', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'RELATED LINKS'

function Read-HelpMarkdown {
    # Reads one cmdlet's Markdown. What is wrong with the file itself (structure, placeholders)
    # goes to the document's Problems; how it compares with the cmdlet is Test-CmdletHelp's job.
    param([Parameter(Mandatory)] [string] $Path)
    $md = Read-MarkdownFile $Path
    $file = $md.File
    $doc = [HelpDocument]@{ Path = $Path; File = $file }
    $problems = $doc.Problems

    if ($md.Source -match '\{\{[^}]*\}\}') { $problems.Add("${file}: contains a placeholder '$($Matches[0])' (fill it in)") }

    $blocks = @($md.Document)
    if ($blocks.Count -gt 0 -and $blocks[0] -is [Markdig.Extensions.Yaml.YamlFrontMatterBlock]) {
        $yaml = Read-SimpleYaml ($blocks[0].Lines.ToString() -split "`n")
        $doc.Meta = $yaml.Map
        foreach ($p in $yaml.Problems) { $problems.Add("${file}: front matter: $p") }
    }

    $titled = @((Get-MarkdownSection -Blocks $blocks -Level 1) | Where-Object { $null -ne $_.Heading })
    if ($titled.Count -eq 0) {
        $problems.Add("${file}: has no '# Verb-Noun' title")
        $body = $blocks
    } else {
        $doc.Name = $titled[0].Title
        $body = $titled[0].Blocks
    }

    $sections = @{}
    foreach ($s in (Get-MarkdownSection -Blocks $body -Level 2)) {
        if ($null -eq $s.Heading) { continue }
        $key = $s.Title.ToUpperInvariant()
        if ($sections.ContainsKey($key)) { $problems.Add("${file}: section '## $($s.Title)' appears twice") }
        $sections[$key] = $s.Blocks
    }
    foreach ($k in $sections.Keys) {
        if ($script:KnownSections -notcontains $k) { $problems.Add("${file}: unknown section '## $k' (expected one of: $($script:KnownSections -join ', '))") }
    }
    $plain = { param($name) @(Get-PlainBlock (ConvertTo-HelpBlock -Blocks $sections[$name] -Source $md.Source)) }

    if ($sections.ContainsKey('SYNOPSIS')) { $doc.Synopsis = & $plain 'SYNOPSIS' }
    if ($sections.ContainsKey('DESCRIPTION')) { $doc.Description = & $plain 'DESCRIPTION' }
    if ($sections.ContainsKey('NOTES')) { $doc.Notes = & $plain 'NOTES' }

    if ($sections.ContainsKey('EXAMPLES')) {
        $n = 0
        foreach ($ex in (Get-MarkdownSection -Blocks $sections['EXAMPLES'] -Level 3)) {
            if ($null -eq $ex.Heading) {
                if (Test-Content $ex.Blocks) { $problems.Add("${file}: text under '## EXAMPLES' before the first '### Example' heading") }
                continue
            }
            $n++
            $title = if ($ex.Title -match '^Example\s+\d+') { $ex.Title } else { "Example ${n}: $($ex.Title)" }
            $exBlocks = ConvertTo-HelpBlock -Blocks $ex.Blocks -Source $md.Source -CodeLanguages $script:CodeLanguages
            $code = @($exBlocks | Where-Object Kind -EQ 'code' | ForEach-Object Text)
            if ($code.Count -eq 0) { $problems.Add("${file}: '### $($ex.Title)' has no ``````powershell code block") }
            $doc.Examples.Add([HelpExample]@{
                    Title = $title
                    Code = $code -join "`n`n"
                    Remarks = @(Get-PlainBlock @($exBlocks | Where-Object Kind -NE 'code'))
                })
        }
    }

    if ($sections.ContainsKey('PARAMETERS')) {
        foreach ($p in (Get-MarkdownSection -Blocks $sections['PARAMETERS'] -Level 3)) {
            if ($null -eq $p.Heading -or $p.Title -match '^-?CommonParameters$') { continue }
            if ($p.Title -notmatch '^-(?<n>[A-Za-z_][\w]*)$') {
                $problems.Add("${file}: parameter heading '### $($p.Title)' must look like '### -Name'")
                continue
            }
            $name = $Matches.n
            $pBlocks = ConvertTo-HelpBlock -Blocks $p.Blocks -Source $md.Source -CodeLanguages @('yaml', 'yml')
            $yaml = [ordered]@{}
            foreach ($y in @($pBlocks | Where-Object Kind -EQ 'code')) {
                $r = Read-SimpleYaml ($y.Text -split "`n")
                foreach ($kv in $r.Map.GetEnumerator()) { $yaml[$kv.Key] = $kv.Value }
                foreach ($e in $r.Problems) { $problems.Add("${file}: '### -$name' yaml block: $e") }
            }
            if ($doc.Parameters.Contains($name)) { $problems.Add("${file}: '### -$name' appears twice") }
            $doc.Parameters[$name] = [HelpParameter]@{
                Name = $name
                Description = @(Get-PlainBlock @($pBlocks | Where-Object Kind -NE 'code'))
                DefaultValue = $yaml['Default value']
                Globbing = $yaml['Accept wildcard characters']
            }
        }
    }

    foreach ($kind in 'INPUTS', 'OUTPUTS') {
        if (-not $sections.ContainsKey($kind)) { continue }
        $items = [System.Collections.Generic.List[HelpType]]::new()
        foreach ($t in (Get-MarkdownSection -Blocks $sections[$kind] -Level 3)) {
            if ($null -eq $t.Heading) {
                if (Test-Content $t.Blocks) { $problems.Add("${file}: text under '## $kind' must follow a '### TypeName' heading") }
                continue
            }
            $items.Add([HelpType]@{ Type = $t.Title; Description = @(Get-PlainBlock (ConvertTo-HelpBlock -Blocks $t.Blocks -Source $md.Source)) })
        }
        if ($kind -eq 'INPUTS') { $doc.Inputs = $items.ToArray() } else { $doc.Outputs = $items.ToArray() }
    }

    if ($sections.ContainsKey('RELATED LINKS')) { foreach ($l in (Read-RelatedLink $sections['RELATED LINKS'])) { $doc.Links.Add($l) } }
    return $doc
}

function Get-ParagraphBlock([object[]] $Blocks) {
    # Every paragraph in the blocks, in order, also those inside list items and quotes.
    foreach ($b in $Blocks) {
        if ($b -is [Markdig.Syntax.ParagraphBlock]) { $b }
        elseif ($b -is [Markdig.Syntax.ContainerBlock]) { Get-ParagraphBlock @($b) }
    }
}

function Read-RelatedLink {
    # One link a line (a paragraph's lines, or list items): a line that is only a link
    # '[text](url)' keeps the URL when it has a scheme (http://...), and just its text when it
    # points at another .md file; any other line is plain text.
    param([object[]] $Blocks)
    foreach ($para in (Get-ParagraphBlock $Blocks)) {
        foreach ($line in (Split-InlineLine $para.Inline)) {
            $parts = @($line | Where-Object { -not ($_ -is [Markdig.Syntax.Inlines.LiteralInline] -and -not $_.Content.ToString().Trim()) })
            if ($parts.Count -eq 1 -and $parts[0] -is [Markdig.Syntax.Inlines.LinkInline] -and -not $parts[0].IsImage) {
                $uri = "$($parts[0].Url)".Trim()
                if ($uri -notmatch '^[a-z][a-z0-9+.-]*://') { $uri = '' }
                [HelpLink]@{ Text = (ConvertTo-PlainText $parts[0]).Trim(); Uri = $uri }
            } else {
                $text = (ConvertTo-PlainText $line).Trim()
                if ($text) { [HelpLink]@{ Text = $text; Uri = '' } }
            }
        }
    }
}

# Markdown → help blocks, on Markdig's syntax tree (the parser PowerShell ships and that
# ConvertFrom-Markdown uses). Part of FleHelp.psm1.
#
# The structure (headings, paragraphs, lists, fenced code and its info string, tables, HTML
# comments) comes from Markdig; this file only decides how each kind of node reads as console
# help. The one thing Markdig does not read is the YAML inside front matter and ```yaml blocks:
# Read-SimpleYaml below, a deliberately tiny reader of flat 'Key: value' lines.

# CommonMark plus the two extensions the help format uses: pipe tables (about topics) and a
# front-matter block (platyPS's '---' header). Nothing else: no autolinks, no emphasis extras,
# no attribute syntax, so text reads as it was written. (ConvertFrom-Markdown's own pipeline has
# no front-matter extension: it reads the '---' header as a thematic break and a setext heading,
# hence our own pipeline over the same Markdig assembly.)
$script:MarkdownPipeline = & {
    $builder = [Markdig.MarkdownPipelineBuilder]::new()
    $null = [Markdig.MarkdownExtensions]::UsePipeTables($builder)
    $null = [Markdig.MarkdownExtensions]::UseYamlFrontMatter($builder)
    $builder.Build()
}

function Read-MarkdownFile {
    # Parses a file: @{ File; Source (the text, '\n' line ends); Document (Markdig's tree) }.
    param([string] $Path)
    $source = [System.IO.File]::ReadAllText($Path, [System.Text.Encoding]::UTF8).Replace("`r`n", "`n").Replace("`r", "`n")
    @{ File = (Split-Path $Path -Leaf); Source = $source; Document = [Markdig.Markdown]::Parse($source, $script:MarkdownPipeline) }
}

function Get-MarkdownSection {
    # Splits a list of sibling blocks at the headings of exactly $Level ('#' count). Returns a
    # list of sections: Title ($null for the blocks before the first such heading), Heading (the
    # HeadingBlock) and Blocks. Deeper headings stay inside their section's blocks.
    param([object[]] $Blocks, [int] $Level)
    $sections = [System.Collections.Generic.List[object]]::new()
    $current = [pscustomobject]@{ Title = $null; Heading = $null; Blocks = [System.Collections.Generic.List[object]]::new() }
    foreach ($b in $Blocks) {
        if ($b -is [Markdig.Syntax.HeadingBlock] -and $b.Level -eq $Level) {
            $sections.Add($current)
            $current = [pscustomobject]@{ Title = (ConvertTo-PlainText $b.Inline).Trim(); Heading = $b; Blocks = [System.Collections.Generic.List[object]]::new() }
        } else {
            $current.Blocks.Add($b)
        }
    }
    $sections.Add($current)
    return , $sections
}

function Test-Comment($Block) {
    $Block -is [Markdig.Syntax.HtmlBlock] -and $Block.Type -eq [Markdig.Syntax.HtmlBlockType]::Comment
}

function Test-Content([object[]] $Blocks) {
    # True when the blocks hold anything a reader would see (HTML comments and link reference
    # definitions do not count).
    @($Blocks | Where-Object { -not (Test-Comment $_) -and $_ -isnot [Markdig.Syntax.LinkReferenceDefinitionGroup] }).Count -gt 0
}

function ConvertTo-PlainText {
    # Inline Markdown as console text: emphasis and code marks go, a link to http(s) becomes
    # 'text (url)' and any other link its text, an image its alt text, line breaks become spaces,
    # HTML comments go and other inline HTML (such as '<cmdlet>' in prose) stays as written.
    param($Inline)
    if ($null -eq $Inline) { return '' }
    $sb = [System.Text.StringBuilder]::new()
    foreach ($i in $Inline) {
        # if/elseif, not switch: switch would enumerate a container inline's children.
        if ($i -is [Markdig.Syntax.Inlines.LiteralInline]) { [void]$sb.Append($i.Content.ToString()) }
        elseif ($i -is [Markdig.Syntax.Inlines.LineBreakInline]) { [void]$sb.Append(' ') }
        elseif ($i -is [Markdig.Syntax.Inlines.CodeInline]) { [void]$sb.Append($i.Content) }
        elseif ($i -is [Markdig.Syntax.Inlines.AutolinkInline]) { [void]$sb.Append($i.Url) }
        elseif ($i -is [Markdig.Syntax.Inlines.HtmlEntityInline]) { [void]$sb.Append($i.Transcoded.ToString()) }
        elseif ($i -is [Markdig.Syntax.Inlines.HtmlInline]) { if (-not $i.Tag.StartsWith('<!--')) { [void]$sb.Append($i.Tag) } }
        elseif ($i -is [Markdig.Syntax.Inlines.LinkInline]) {
            $text = ConvertTo-PlainText $i
            if (-not $i.IsImage -and $i.Url -match '^https?://') { $text = "$text ($($i.Url))" }
            [void]$sb.Append($text)
        }
        elseif ($i -is [Markdig.Syntax.Inlines.ContainerInline]) { [void]$sb.Append((ConvertTo-PlainText $i)) }
        else { [void]$sb.Append($i.ToString()) }
    }
    return $sb.ToString()
}

function Split-InlineLine {
    # A paragraph's inlines cut at its line breaks: one array of inlines per source line.
    param($Inline)
    $lines = [System.Collections.Generic.List[object]]::new()
    $line = [System.Collections.Generic.List[object]]::new()
    foreach ($i in $Inline) {
        if ($i -is [Markdig.Syntax.Inlines.LineBreakInline]) { $lines.Add($line.ToArray()); $line.Clear() } else { $line.Add($i) }
    }
    $lines.Add($line.ToArray())
    return , $lines
}

function Get-BlockSourceLine {
    # The source lines a block spans (for tables shown as they were written).
    param($Block, [string] $Source)
    @($Source.Substring($Block.Span.Start, $Block.Span.Length) -split "`n" | ForEach-Object { $_.Trim() } | Where-Object { $_ })
}

function New-Block([string] $Kind, [string] $Text, [string] $Language = $null, [object[]] $Rows = $null) {
    [HelpBlock]@{ Kind = $Kind; Text = $Text; Language = $Language; Rows = $Rows }
}

function ConvertTo-HelpBlock {
    # Markdig blocks → a flat list of HelpBlock (see FleHelp.psm1):
    #   para   a paragraph, its lines joined with spaces, inline Markdown flattened;
    #   item   one list item's first paragraph with '- ' (or '1. ' as written) in front; the
    #          item's further paragraphs and nested lists follow as blocks of their own;
    #   code   a fenced block whose language is in $CodeLanguages ('' = no language);
    #   pre    any other fenced or indented code block, as written (empty ones are dropped);
    #   table  a pipe table: Rows = the cells' text per row (header first), Text = its lines.
    # HTML comments, thematic breaks and link reference definitions are not shown.
    param([object[]] $Blocks, [string] $Source, [string[]] $CodeLanguages = @())
    $out = [System.Collections.Generic.List[object]]::new()
    foreach ($b in $Blocks) {
        # if/elseif, not switch: switch would enumerate a container block's children.
        if ($b -is [Markdig.Syntax.ParagraphBlock] -or $b -is [Markdig.Syntax.HeadingBlock]) {
            # (A heading deeper than the structure uses reads as a paragraph.)
            $text = ConvertTo-PlainText $b.Inline
            if ($text.Trim()) { $out.Add((New-Block para $text)) }
        } elseif ($b -is [Markdig.Syntax.FencedCodeBlock]) {
            $language = "$($b.Info)".ToLowerInvariant()
            $text = $b.Lines.ToString().TrimEnd()
            if ($CodeLanguages -contains $language) { $out.Add((New-Block code $text $language)) }
            elseif ($text) { $out.Add((New-Block pre $text $language)) }
        } elseif ($b.GetType() -eq [Markdig.Syntax.CodeBlock]) {
            # An indented code block (a front-matter block is a CodeBlock too, hence the exact type).
            $text = $b.Lines.ToString().TrimEnd()
            if ($text) { $out.Add((New-Block pre $text)) }
        } elseif ($b -is [Markdig.Syntax.ListBlock]) {
            foreach ($item in $b) {
                $marker = if ($b.IsOrdered) { "$($item.Order)$($b.OrderedDelimiter)" } else { '-' }
                $children = @($item)
                if ($children.Count -gt 0 -and $children[0] -is [Markdig.Syntax.ParagraphBlock]) {
                    $out.Add((New-Block item "$marker $(ConvertTo-PlainText $children[0].Inline)"))
                    $children = @($children | Select-Object -Skip 1)
                }
                foreach ($c in (ConvertTo-HelpBlock -Blocks $children -Source $Source -CodeLanguages $CodeLanguages)) { $out.Add($c) }
            }
        } elseif ($b -is [Markdig.Extensions.Tables.Table]) {
            $rows = [System.Collections.Generic.List[object]]::new()
            foreach ($row in $b) {
                $rows.Add(@(foreach ($cell in $row) { (@(foreach ($p in $cell) { ConvertTo-PlainText $p.Inline }) -join ' ').Trim() }))
            }
            $out.Add((New-Block table ((Get-BlockSourceLine $b $Source) -join "`n") -Rows $rows.ToArray()))
        } elseif ($b -is [Markdig.Syntax.QuoteBlock]) {
            foreach ($c in (ConvertTo-HelpBlock -Blocks @($b) -Source $Source -CodeLanguages $CodeLanguages)) { $out.Add($c) }
        } elseif ($b -is [Markdig.Syntax.HtmlBlock] -and -not (Test-Comment $b)) {
            # Help text is plain (docs/README.md): HTML other than a comment is kept as text.
            $out.Add((New-Block para (($b.Lines.ToString() -split "`n" | ForEach-Object Trim) -join ' ')))
        }
        # Not shown: HTML comments, thematic breaks, link reference definitions, front matter.
    }
    return , $out
}

function Get-PlainBlock {
    # Blocks as the paragraph strings MAML wants (one maml:para each). Get-Help trims the start of
    # a paragraph but keeps the indentation of the lines after it: code and tables lose the
    # indentation all their lines share, so the first line keeps its place relative to the others.
    param([object[]] $Blocks)
    foreach ($b in $Blocks) {
        if ($b.Kind -in 'para', 'item') { $b.Text; continue }
        $lines = @($b.Text -split "`n")
        $common = @($lines | Where-Object { $_.Trim() } | ForEach-Object { $_.Length - $_.TrimStart(' ').Length } | Measure-Object -Minimum).Minimum
        if ($common -gt 0) { ($lines | ForEach-Object { if ($_.Length -ge $common) { $_.Substring($common) } else { $_.TrimStart(' ') } }) -join "`n" }
        else { $b.Text }
    }
}

function Read-SimpleYaml {
    # The YAML this format uses is flat: one 'Key: value' a line (platyPS's parameter blocks, the
    # front matter). This reads exactly that and nothing more: blank lines and '#' comments are
    # skipped; a value is taken as written (trimmed; one pair of enclosing quotes removed), so
    # 'Default value: {} (no metadata)' is text, not a YAML map; a later key replaces an earlier
    # one. Any other line (indented, a list item, a key without ':') is returned as a problem
    # rather than guessed at. Returns @{ Map = [ordered]; Problems = [string[]] }.
    param([string[]] $Lines)
    $map = [ordered]@{}
    $problems = @()
    foreach ($l in $Lines) {
        if (-not $l.Trim() -or $l.TrimStart().StartsWith('#')) { continue }
        if ($l -match '^(?<k>[A-Za-z][\w .-]*?)\s*:(?:\s+(?<v>.*))?$') {
            $v = "$($Matches['v'])".Trim()
            if ($v.Length -ge 2 -and ($v[0] -eq '"' -or $v[0] -eq "'") -and $v[-1] -eq $v[0]) { $v = $v.Substring(1, $v.Length - 2) }
            $map[$Matches.k] = $v
        } else {
            $problems += "'$($l.Trim())' is not a 'Key: value' line"
        }
    }
    @{ Map = $map; Problems = $problems }
}

# docs/en-US/about_*.help.md → the classic plain-text about topic (TOPIC / SHORT DESCRIPTION /
# LONG DESCRIPTION ...): headings in capitals, paragraphs wrapped at 80 columns and indented 4,
# list items with a hanging indent, code blocks indented 8 as written, tables as aligned columns.
# Part of FleHelp.psm1.

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

function Format-MarkdownTable([object[]] $Rows, [int] $Indent = 4, [int] $Width = 80) {
    # Table rows (header first; each an array of cell texts) as aligned columns under a dashed
    # header; when that is too wide, with two columns as the first aligned and the second wrapped
    # beside it, else as a list: the first cell of each row, then the other cells wrapped below.
    $rows = @($Rows)
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
        $header = $rows[0]
        for ($ri = 1; $ri -lt $rows.Count; $ri++) {
            $r = $rows[$ri]
            $out.Add($pad + $r[0])
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
    # Returns @{ Text; Problems }: the topic must start with '# about_<Name>' (its file name) and
    # have a '## Short description', whose paragraph stays on one line (Get-Help about_* lists
    # the first line under SHORT DESCRIPTION as the synopsis).
    param([Parameter(Mandatory)] [string] $Path)
    $md = Read-MarkdownFile $Path
    $file = $md.File
    $problems = [System.Collections.Generic.List[string]]::new()
    $topic = $file -replace '\.help\.md$', ''
    $titled = @((Get-MarkdownSection -Blocks @($md.Document) -Level 1) | Where-Object { $null -ne $_.Heading })
    if ($titled.Count -eq 0 -or $titled[0].Title -ne $topic) { $problems.Add("${file}: must start with '# $topic'") }
    $body = if ($titled.Count) { $titled[0].Blocks } else { @($md.Document) }

    $out = [System.Collections.Generic.List[string]]::new()
    $out.Add('TOPIC'); $out.Add("    $topic"); $out.Add('')
    $hasShort = $false
    foreach ($s in (Get-MarkdownSection -Blocks $body -Level 2)) {
        if ($null -eq $s.Heading) { continue }
        $heading = $s.Title.ToUpperInvariant()
        if ($heading -eq 'SHORT DESCRIPTION') { $hasShort = $true }
        $out.Add($heading)
        foreach ($sub in (Get-MarkdownSection -Blocks $s.Blocks -Level 3)) {
            if ($null -ne $sub.Heading) {
                if ($out[$out.Count - 1] -ne '') { $out.Add('') }
                $out.Add("  $($sub.Title)")
            }
            $blocks = ConvertTo-HelpBlock -Blocks $sub.Blocks -Source $md.Source
            for ($bi = 0; $bi -lt $blocks.Count; $bi++) {
                $b = $blocks[$bi]
                switch ($b.Kind) {
                    'para' {
                        $w = if ($heading -eq 'SHORT DESCRIPTION') { [int]::MaxValue } else { 80 }
                        foreach ($l in (Format-Wrapped $b.Text 4 $w)) { $out.Add($l) }
                    }
                    'item' {
                        $hang = 4 + ($b.Text -split ' ', 2)[0].Length + 1
                        foreach ($l in (Format-Wrapped $b.Text 4 -HangingIndent $hang)) { $out.Add($l) }
                    }
                    'table' { foreach ($l in (Format-MarkdownTable $b.Rows)) { $out.Add($l) } }
                    default { foreach ($l in ($b.Text -split "`n")) { $out.Add(("        $l").TrimEnd()) } }
                }
                # Items of one list stay together; every other block ends with a blank line.
                if (-not ($b.Kind -eq 'item' -and $bi + 1 -lt $blocks.Count -and $blocks[$bi + 1].Kind -eq 'item')) { $out.Add('') }
            }
            if ($blocks.Count -eq 0 -and $null -ne $sub.Heading) { $out.Add('') }
        }
        if ($out[$out.Count - 1] -ne '') { $out.Add('') }
    }
    if (-not $hasShort) { $problems.Add("${file}: has no '## Short description' section") }
    while ($out.Count -gt 0 -and $out[$out.Count - 1] -eq '') { $out.RemoveAt($out.Count - 1) }
    @{ Text = ($out -join "`n") + "`n"; Problems = $problems.ToArray() }
}

# Issue 16: Export-FleReport. The report is rendered by headless Chromium (Debian's chromium, which ./build.ps1 -Task Test
# installs when missing) and the DOM it builds is checked against the data written: plots, curves, values, failed steps,
# and that injected markup neither ran nor rendered. On SQLite and PostgreSQL; plus a 10,000-step run and the screenshot
# of the demo database's report (docs/images/report.png).
BeforeDiscovery {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'ReportHelpers.psm1') -Force
    $script:backends = @(@{ Name = 'Sqlite' })
    if (Test-FlePostgresAvailable) { $script:backends += @{ Name = 'Postgres' } }
    # Outside CI a machine without Chromium skips the rendering tests, saying why; under CI=true they run and fail with the reason.
    $script:noChromium = $env:CI -ne 'true' -and $null -ne (Get-FleChromiumMissingReason)
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Join-Path $PSScriptRoot 'ReportHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    $script:repo = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
    $script:root = New-FleTestDirectory
    if ($why = Get-FleChromiumMissingReason) { Write-Warning $why }

    # What agent code and feedback may hold: it would change the title and add an element if it ran or rendered as markup.
    $script:payload = '</script><script>document.title="pwned";document.body.appendChild(document.createElement("fle-injected"))</script>' +
        '<img src=x onerror="document.title=''pwned-img''"><fle-injected id="raw"></fle-injected>'

    function Assert-Chromium { if ($why = Get-FleChromiumMissingReason) { throw $why } }

    function Get-Figure([string] $Dom, [string] $Metric) {
        $m = [regex]::Match($Dom, "<figure class=""plot"" data-metric=""$([regex]::Escape($Metric))"".*?</figure>", 'Singleline')
        if (-not $m.Success) { throw "The page has no plot for '$Metric'." }
        $m.Value
    }

    function New-ReportSample($Connection) {
        # Two runs of one task by two models: rewards, ticks, a failed step each (a traceback; a metadata flag), untrusted text.
        $a = New-FleTrajectory -TaskId 'iron_plate' -Metadata @{ model = 'gpt-4o'; note = $payload } -Connection $Connection
        foreach ($i in 0..9) {
            $feedback = if ($i -eq 6) { "Traceback (most recent call last):`n  File ""<string>"", line 1`nNameError: name 'furnace' is not defined" } else { "Placed furnace $i" }
            Save-FleCheckpoint -TrajectoryId $a.Id -StepNumber $i -AgentCode "place_entity(Prototype.StoneFurnace, x=$i) $payload" -EnvironmentFeedback $feedback `
                -GameState ('{"tick":' + (60 * $i) + ',"entities":"' + ('e' * (200 * $i)) + '"}') -Metadata @{ reward = $i * 1.5; ticks = 60 * $i } -Connection $Connection | Out-Null
        }
        Complete-FleTrajectory -Id $a.Id -Connection $Connection | Out-Null
        $b = New-FleTrajectory -TaskId 'iron_plate' -Metadata @{ model = 'claude-sonnet' } -Connection $Connection
        foreach ($i in 0..7) {
            Save-FleStep -TrajectoryId $b.Id -StepNumber $i -AgentCode "craft($i)" -EnvironmentFeedback $payload -Metadata @{ reward = 20 - $i; error_occurred = ($i -eq 3) } -Connection $Connection | Out-Null
        }
        Complete-FleTrajectory -Id $b.Id -Status Failed -Connection $Connection | Out-Null
        @($a, $b)
    }
}

AfterAll {
    Remove-Item -LiteralPath $root -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Export-FleReport on <Name>' -ForEach $backends {
    BeforeAll {
        if ($Name -eq 'Sqlite') {
            $conn = Connect-FleDatabase -Path (Join-Path $root "report-$Name.db") -PassThru -NoDefault
        } else {
            $db = New-FleTestPostgresDatabase
            $conn = Connect-FleDatabase -Type Postgres -Server $db.Server -Port $db.Port -Database $db.Database -Credential (New-FleTestCredential) -PassThru -NoDefault
        }
        $runs = New-ReportSample $conn
        $html = Join-Path $root "report-$Name.html"
        $file = Get-FleTrajectory -TaskId iron_plate -Connection $conn | Sort-Object StartTime | Export-FleReport -Path $html -Connection $conn
        $raw = Get-Content -Raw -LiteralPath $html
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It 'takes the trajectories from the pipeline and returns the file' {
        $file | Should -BeOfType ([System.IO.FileInfo])
        $file.FullName | Should -Be $html
        $file.Length | Should -BeGreaterThan 10KB
    }

    It 'is one self-contained file: no script, no event handler, nothing loaded from elsewhere' {
        $raw | Should -Not -Match '<script'
        $raw | Should -Not -Match '<[a-zA-Z][^>]*\son[a-z]+\s*='
        $raw | Should -Not -Match '<[^>]*\s(src|href|xlink:href|action|poster)\s*=\s*"(?!#)'
        $raw | Should -Not -Match 'url\(|@import|@font-face'
        $raw | Should -Match "Content-Security-Policy"" content=""default-src 'none'"
    }

    It 'renders in Chromium with a plot per metric, a curve per run, the values written and the failed steps marked' -Skip:$noChromium {
        Assert-Chromium
        $dom = Invoke-FleChromium -HtmlPath $html
        $keys = [regex]::Matches($dom, '<figure class="plot" data-metric="([^"]*)"') | ForEach-Object { $_.Groups[1].Value }
        $keys | Should -Be @('reward', 'ticks', 'step-duration', 'game-state-size')

        $reward = Get-Figure $dom 'reward'
        $reward | Should -Match 'data-series="2"'
        [regex]::Matches($reward, '<polyline ').Count | Should -Be 2
        # a's step 4 has reward 6 (4 * 1.5); b's step 5 has 15; the failed steps (a: 6, the traceback; b: 3, the flag) are rings and ticks
        $reward | Should -Match 'class="pt"[^>]*data-step="4" data-value="6"'
        $reward | Should -Match 'class="pt"[^>]*data-step="5" data-value="15"'
        $reward | Should -Match 'class="fail-pt"[^>]*data-step="6" data-value="9"'
        $reward | Should -Match 'class="fail-pt"[^>]*data-step="3" data-value="17"'
        [regex]::Matches($reward, 'class="fail-mark"').Count | Should -Be 2
        $reward | Should -Match "gpt-4o · $($runs[0].Id)"
        $reward | Should -Match "claude-sonnet · $($runs[1].Id)"
        # ticks: only a has them; b's failed step is still marked there
        $ticks = Get-Figure $dom 'ticks'
        $ticks | Should -Match 'data-series="1"'
        $ticks | Should -Match 'class="pt"[^>]*data-step="9" data-value="540"'
        $ticks | Should -Match 'class="fail-mark" data-step="3"'
        # game-state sizes: a's 10 checkpoints
        (Get-Figure $dom 'game-state-size') | Should -Match 'data-points="10" data-total="10"'

        # the summary: steps and failed steps per run, the model from the metadata
        $rowA = [regex]::Match($dom, "<tr class=""c0"" data-trajectory=""$($runs[0].Id)"">.*?</tr>", 'Singleline').Value
        $rowA | Should -Match '<td class="n steps">10</td><td class="n failed">1</td>'
        $rowA | Should -Match '<td>gpt-4o</td>'
        $rowA | Should -Match 'class="status completed"'
        # the failed step's section is marked and its feedback is there as text
        $dom | Should -Match '<details class="step failed" id="t0-s6"'
        $dom | Should -Match 'NameError: name &#39;furnace&#39; is not defined|NameError: name ''furnace'' is not defined'
        # the exact numbers
        $dom | Should -Match '<tr data-metric="reward"><td>reward</td><td class="n count">10</td><td class="n first">0</td><td class="n last">13.5</td>'
    }

    It 'did not run or render the injected script, image or element' -Skip:$noChromium {
        Assert-Chromium
        $dom = Invoke-FleChromium -HtmlPath $html
        $title = [regex]::Match($dom, '<title>(.*?)</title>').Groups[1].Value
        $title | Should -Be 'Fle report: 2 trajectories of iron_plate'
        $dom | Should -Not -Match '<fle-injected'
        $dom | Should -Not -Match '<img'
        $dom | Should -Not -Match '<script'
        # ... and the text is on the page as text, in the code, the feedback and the metadata
        ([regex]::Matches($dom, '&lt;/script&gt;&lt;script&gt;document.title=')).Count | Should -BeGreaterThan 10
    }
}

Describe 'A tree of forks in the report on <Name>' -ForEach $backends {
    BeforeAll {
        if ($Name -eq 'Sqlite') {
            $conn = Connect-FleDatabase -Path (Join-Path $root "tree-$Name.db") -PassThru -NoDefault
        } else {
            $db = New-FleTestPostgresDatabase
            $conn = Connect-FleDatabase -Type Postgres -Server $db.Server -Port $db.Port -Database $db.Database -Credential (New-FleTestCredential) -PassThru -NoDefault
        }
        $c = @{ Connection = $conn }
        $rootRun = New-FleTrajectory -TaskId 'tree' -Metadata @{ model = 'gpt-4o' } @c
        foreach ($i in 0..9) { Save-FleStep -TrajectoryId $rootRun.Id -StepNumber $i -AgentCode "r$i" -EnvironmentFeedback 'ok' -Metadata @{ reward = $i } @c }
        $a = New-FleTrajectory -ParentId $rootRun.Id -ForkStepNumber 4 -Metadata @{ model = 'claude' } @c
        foreach ($i in 5..8) { Save-FleStep -TrajectoryId $a.Id -StepNumber $i -AgentCode "a$i" -EnvironmentFeedback 'ok' -Metadata @{ reward = 10 * $i } @c }
        $aa = New-FleTrajectory -ParentId $a.Id -ForkStepNumber 6 @c
        foreach ($i in 7..9) { Save-FleStep -TrajectoryId $aa.Id -StepNumber $i -AgentCode "aa$i" -EnvironmentFeedback 'ok' -Metadata @{ reward = 100 * $i } @c }
        $b = New-FleTrajectory -ParentId $rootRun.Id -ForkStepNumber 7 @c
        $html = Join-Path $root "tree-$Name.html"
        Export-FleReport -TrajectoryId $a.Id, $aa.Id -Path $html @c | Out-Null
        $raw = Get-Content -Raw -LiteralPath $html
        function Get-Branch([string] $Text, [string] $Id) {
            $m = [regex]::Match($Text, "<g class=""branch [^""]*"" data-trajectory=""$([regex]::Escape($Id))""[^>]*>")
            if (-not $m.Success) { throw "The tree has no row for $Id." }
            $m.Value
        }
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It 'draws the reported forks with the ancestors that join them, each joined to its parent at the fork step' {
        $raw | Should -Match '<section id="tree"><h2>Tree of forks</h2>'
        [regex]::Matches($raw, '<g class="branch ').Count | Should -Be 3        # root (not reported, grey), a, aa; not b
        Get-Branch $raw $rootRun.Id | Should -Match 'class="branch other [a-z]+" .*data-parent="" data-fork-step="" data-depth="0"'
        Get-Branch $raw $a.Id | Should -Match "class=""branch c0 running"" .*data-parent=""$($rootRun.Id)"" data-fork-step=""4"" data-depth=""1"""
        Get-Branch $raw $aa.Id | Should -Match "class=""branch c1 running"" .*data-parent=""$($a.Id)"" data-fork-step=""6"" data-depth=""2"""
        $raw | Should -Not -Match ([regex]::Escape($b.Id))
        $raw | Should -Match "<dt>Forked from</dt><dd>$($rootRun.Id) at step 4</dd>"
    }

    It 'renders the tree in Chromium, rows in tree order; the fork''s curve carries the steps it inherits' -Skip:$noChromium {
        Assert-Chromium
        $dom = Invoke-FleChromium -HtmlPath $html
        $order = [regex]::Matches($dom, '<g class="branch [^"]*" data-trajectory="([^"]*)"') | ForEach-Object { $_.Groups[1].Value }
        $order | Should -Be @($rootRun.Id, $a.Id, $aa.Id)
        $tree = [regex]::Match($dom, '<section id="tree">.*?</section>', 'Singleline').Value
        [regex]::Matches($tree, '<path class="join"').Count | Should -Be 2
        [regex]::Matches($tree, '<circle class="fork"').Count | Should -Be 2
        # aa's reward curve: steps 0-4 from the root, 5-6 from a, 7-9 its own
        $reward = Get-Figure $dom 'reward'
        $reward | Should -Match 'class="pt"[^>]*data-step="3" data-value="3"'
        $reward | Should -Match 'class="pt"[^>]*data-step="6" data-value="60"'
        $reward | Should -Match 'class="pt"[^>]*data-step="9" data-value="900"'
    }

    It 'has no tree when no reported trajectory is a fork' {
        $plain = Join-Path $root "no-tree-$Name.html"
        Export-FleReport -TrajectoryId $rootRun.Id -Path $plain @c | Out-Null
        Get-Content -Raw -LiteralPath $plain | Should -Not -Match 'id="tree"'
    }
}

Describe 'The injection check itself' -Skip:$noChromium {
    It 'sees a payload that runs: the same text put into a page unescaped changes the title and adds the element' {
        Assert-Chromium
        $control = Join-Path $root 'control.html'
        Set-Content -LiteralPath $control -Value "<!DOCTYPE html><html><head><title>control</title></head><body><pre>$payload</pre></body></html>"
        $dom = Invoke-FleChromium -HtmlPath $control
        $dom | Should -Match '<title>pwned'
        $dom | Should -Match '<fle-injected'
    }
}

Describe 'A 10,000-step run' {
    BeforeAll {
        $conn = Connect-FleDatabase -Path (Join-Path $root 'long.db') -PassThru -NoDefault
        $t = New-FleTrajectory -TaskId 'long_run' -Metadata @{ model = 'gpt-4o-mini' } -Connection $conn
        $code = 'x = 1' * 200
        $save = Measure-Command {
            foreach ($i in 0..9999) {
                $meta = @{ reward = [math]::Round([math]::Sin($i / 200) * 100 + ($i % 17), 3); tokens = 1000 + ($i % 500) }
                $feedback = if ($i % 1000 -eq 500) { "Error: could not place entity at step $i" } else { "ok $i" }
                if ($i % 10 -eq 0) {
                    Save-FleCheckpoint -TrajectoryId $t.Id -StepNumber $i -AgentCode $code -EnvironmentFeedback $feedback -GameState ('{"tick":' + $i + ',"pad":"' + ('p' * 3000) + '"}') -Metadata $meta -Connection $conn | Out-Null
                } else {
                    Save-FleStep -TrajectoryId $t.Id -StepNumber $i -AgentCode $code -EnvironmentFeedback $feedback -Metadata $meta -Connection $conn | Out-Null
                }
            }
        }
        $html = Join-Path $root 'long.html'
        $took = Measure-Command { $file = Export-FleReport -TrajectoryId $t.Id -Path $html -Connection $conn }
        Write-Host ("10,000 steps saved in {0:N1} s; report: {1:N0} bytes in {2:N2} s" -f $save.TotalSeconds, $file.Length, $took.TotalSeconds)
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It 'stays a small file (under 2 MB) made in seconds' {
        $file.Length | Should -BeLessThan 2MB
        $took.TotalSeconds | Should -BeLessThan 60
        $raw = Get-Content -Raw -LiteralPath $html
        # 50 first + 10 failed (steps 500, 1500, ...; 9500 is among the last 50? no) + 50 last steps listed
        [regex]::Matches($raw, '<details class="step').Count | Should -Be 110
        $raw | Should -Match '110 of 10,000 steps are listed'
        $raw | Should -Match ([regex]::Escape("<code>Get-FleStep -TrajectoryId $($t.Id) -From n -To m</code> shows any of them"))
        $raw | Should -Match 'Made by Fle&#39;s Export-FleReport on'
    }

    It 'renders, drawn downsampled, with the exact numbers of all 10,000 steps' -Skip:$noChromium {
        Assert-Chromium
        $dom = Invoke-FleChromium -HtmlPath $html -TimeoutSeconds 180
        $reward = Get-Figure $dom 'reward'
        $reward | Should -Match 'data-total="10000"'
        $points = [regex]::Match($reward, '<polyline points="([^"]*)"').Groups[1].Value -split ' '
        $points.Count | Should -BeGreaterThan 400
        $points.Count | Should -BeLessOrEqual 2000
        [regex]::Matches($reward, 'class="fail-pt"').Count | Should -Be 10
        $dom | Should -Match '<tr data-metric="reward"><td>reward</td><td class="n count">10,000</td>'
        $dom | Should -Match '<tr data-metric="game-state-size"><td>Game-state size</td><td class="n count">1,000</td>'
        $dom | Should -Match '<td class="n steps">10,000</td><td class="n failed">10</td>'
    }
}

Describe 'Errors and -WhatIf' {
    BeforeAll {
        $conn = Connect-FleDatabase -Path (Join-Path $root 'errors.db') -PassThru -NoDefault
        $t = New-FleTrajectory -TaskId 'e' -Connection $conn
        Save-FleStep -TrajectoryId $t.Id -StepNumber 0 -AgentCode 'x' -EnvironmentFeedback 'y' -Metadata @{ reward = 1 } -Connection $conn | Out-Null
    }
    AfterAll { $conn | Disconnect-FleDatabase }

    It 'reports a missing trajectory and makes the report of the others' {
        $out = Join-Path $root 'partial.html'
        $file = Export-FleReport -TrajectoryId 'no-such-run', $t.Id -Path $out -Connection $conn -ErrorVariable errs -ErrorAction SilentlyContinue
        $errs.Count | Should -Be 1
        $errs[0].FullyQualifiedErrorId | Should -Be 'FleTrajectoryNotFound,Fle.PowerShell.Commands.ExportFleReportCommand'
        $errs[0].TargetObject | Should -Be 'no-such-run'
        $file.FullName | Should -Be $out
    }

    It 'writes nothing when no trajectory exists' {
        $out = Join-Path $root 'none.html'
        { Export-FleReport -TrajectoryId 'gone' -Path $out -Connection $conn -ErrorAction SilentlyContinue } |
            Should -Throw -ErrorId 'FleReportNoTrajectory,Fle.PowerShell.Commands.ExportFleReportCommand'
        Test-Path $out | Should -BeFalse
    }

    It 'says which path cannot be written' {
        $blocker = Join-Path $root 'plain-file'
        Set-Content -LiteralPath $blocker -Value 'x'
        $err = { Export-FleReport -TrajectoryId $t.Id -Path (Join-Path $blocker 'r.html') -Connection $conn } |
            Should -Throw -ErrorId 'FleReportWriteFailed,Fle.PowerShell.Commands.ExportFleReportCommand' -PassThru
        $err.Exception.Message | Should -Match ([regex]::Escape((Join-Path $blocker 'r.html')))
    }

    It 'resolves a relative path from the PowerShell location, and -WhatIf writes nothing' {
        Push-Location $root
        try {
            Export-FleReport -TrajectoryId $t.Id -Path './sub/whatif.html' -Connection $conn -WhatIf | Should -BeNullOrEmpty
            Test-Path (Join-Path $root 'sub/whatif.html') | Should -BeFalse
            (Export-FleReport -TrajectoryId $t.Id -Path './sub/rel.html' -Connection $conn).FullName | Should -Be (Join-Path $root 'sub/rel.html')
        } finally { Pop-Location }
    }

    It 'warns about a metric that no step has' {
        $file = Export-FleReport -TrajectoryId $t.Id -Path (Join-Path $root 'metric.html') -Metric reward, nope -Connection $conn -WarningVariable warns -WarningAction SilentlyContinue
        $warns.Count | Should -Be 1
        "$($warns[0])" | Should -Match "'nope'"
        $raw = Get-Content -Raw $file.FullName
        $raw | Should -Match 'data-metric="reward"'
        $raw | Should -Match 'data-metric="nope"'
    }
}

Describe 'The report of the demo database' -Skip:$noChromium {
    It 'is rendered to docs/images/report.png (linked from the README)' {
        Assert-Chromium
        $demoDir = Join-Path $root 'demo'
        New-Item -ItemType Directory -Path $demoDir | Out-Null
        $script = "`$ErrorActionPreference = 'Stop'; Import-Module '$(Get-FleModulePath)'; & '$(Join-Path $repo 'examples/demo.ps1')'"
        $r = Invoke-FleProcess -FilePath $env:FLE_PWSH -ArgumentList @('-NoProfile', '-NonInteractive', '-Command', $script) -WorkingDirectory $demoDir `
            -Environment @{ FLE_DB_TYPE = $null; SQLITE_DB_FILE = $null } -TimeoutSeconds 180
        $r.ExitCode | Should -Be 0 -Because $r.StdErr
        Test-Path (Join-Path $demoDir '.fle/report.html') | Should -BeTrue -Because 'the demo ends with Export-FleReport'
        $conn = Connect-FleDatabase -Path (Join-Path $demoDir '.fle/data.db') -PassThru -NoDefault
        try {
            $html = Join-Path $demoDir 'demo-report.html'
            Get-FleTrajectory -Connection $conn | Sort-Object StartTime | Export-FleReport -Path $html -Connection $conn | Out-Null
        } finally { $conn | Disconnect-FleDatabase }
        $dom = Invoke-FleChromium -HtmlPath $html
        (Get-Figure $dom 'reward') | Should -Match 'data-series="2"'
        (Get-Figure $dom 'reward') | Should -Match 'class="fail-pt"[^>]*data-step="4"'
        $png = Join-Path $repo 'docs/images/report.png'
        New-Item -ItemType Directory -Force -Path (Split-Path $png) | Out-Null
        Invoke-FleChromium -HtmlPath $html -Screenshot $png -WindowSize '1200,1700' | Out-Null
        $bytes = [System.IO.File]::ReadAllBytes($png)
        [Convert]::ToHexString($bytes[0..7]) | Should -Be '89504E470D0A1A0A'
        $bytes.Length | Should -BeGreaterThan 30KB
        Get-Content -Raw (Join-Path $repo 'README.md') | Should -Match 'docs/images/report\.png'
    }
}

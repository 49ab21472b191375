# Issue 5: game states are compressed with the system's libzstd where the machine has one, else with the managed
# ZstdSharp (Windows, or FLE_ZSTD=managed). Both must write and read the same database: a file written by one
# process of each kind reads back byte-exact in either.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-FleModulePath) -Force
    Import-Module (Join-Path $PSScriptRoot 'fixtures/FleFixtures.psm1') -Force

    # The same FLE-like states in every process: a large part that never changes, a part that changes every few
    # steps (new keyframes), a counter that changes every step (deltas).
    $script:StateScript = @'
function New-InteropState([int] $n) {
    $research = (0..400 | ForEach-Object { "tech-$_" }) -join ','
    $entities = (0..(20 + [math]::Floor($n / 7)) | ForEach-Object { "{""id"":$_,""status"":""s$(($_ * 7 + [math]::Floor($n / 7)) % 5)""}" }) -join ','
    , [Text.Encoding]::UTF8.GetBytes("{""step"":$n,""research"":""$research"",""entities"":[$entities],""tick"":$($n * 60)}")
}
'@
    . ([scriptblock]::Create($script:StateScript))
    $script:Expected = @{}
    foreach ($n in 0..79) { $script:Expected[[long]$n] = Get-FleSha256 ([byte[]](New-InteropState $n)) }

    function Invoke-Interop([string] $Zstd, [string] $Body) {
        # a separate pwsh whose engine uses the given zstd implementation (FLE_ZSTD is read once per process)
        $old = $env:FLE_ZSTD
        try {
            $env:FLE_ZSTD = $Zstd
            Invoke-FlePwsh -Script ($script:StateScript + "`n" + $Body)
        } finally { $env:FLE_ZSTD = $old }
    }
}

Describe 'libzstd and the managed zstd port share one database' -Tag Codec {
    BeforeAll {
        $dir = New-FleTestDirectory
        $db = Join-Path $dir 'interop.db'
        $native = (Invoke-Interop '' "(Get-FleDatabase -Connection (Connect-FleDatabase -Path '$db' -PassThru -NoDefault)).Compression") | Select-Object -Last 1
    }

    It 'this machine compresses with libzstd by default, and FLE_ZSTD=managed selects the port' {
        if ($IsLinux -and ((Test-Path /usr/lib/x86_64-linux-gnu/libzstd.so.1) -or (Test-Path /lib/x86_64-linux-gnu/libzstd.so.1))) {
            $native | Should -Match '^libzstd \d+\.\d+\.\d+ \(native\)$'
        }
        (Invoke-Interop 'managed' "(Get-FleDatabase -Connection (Connect-FleDatabase -Path '$db' -PassThru -NoDefault)).Compression") |
            Select-Object -Last 1 | Should -Be 'ZstdSharp (managed)'
    }

    It 'steps written by a managed process, then by a native one, read back byte-exact in both' {
        $write = @"
`$c = Connect-FleDatabase -Path '$db' -PassThru -NoDefault
if (-not (Get-FleTrajectory -Id interop -Connection `$c -ErrorAction SilentlyContinue)) { `$null = New-FleTrajectory -Id interop -TaskId zstd -Connection `$c }
foreach (`$n in @STEPS@) { `$null = Save-FleCheckpoint -TrajectoryId interop -StepNumber `$n -AgentCode '' -EnvironmentFeedback '' -GameState ([byte[]](New-InteropState `$n)) -Connection `$c }
(Get-FleDatabase -Connection `$c).Compression
"@
        Invoke-Interop 'managed' $write.Replace('@STEPS@', '0..39') | Select-Object -Last 1 | Should -Be 'ZstdSharp (managed)'
        Invoke-Interop '' $write.Replace('@STEPS@', '40..79') | Select-Object -Last 1 | Should -Be $native

        $read = @"
`$c = Connect-FleDatabase -Path '$db' -PassThru -NoDefault
Get-FleStep -TrajectoryId interop -IncludeGameState -Connection `$c | ForEach-Object {
    `$h = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([byte[]]`$_.GameState))
    "`$(`$_.StepNumber)=`$h=`$(`$_.Codec)"
}
"@
        foreach ($mode in 'managed', '') {
            $lines = Invoke-Interop $mode $read
            $lines.Count | Should -Be 80 -Because "every step reads back ($(if ($mode) { $mode } else { 'default' }) reader)"
            $codecs = @{}
            foreach ($line in $lines) {
                $n, $hash, $codec = $line -split '='
                $hash | Should -Be $Expected[[long]$n] -Because "step $n must read back byte-exact with the $(if ($mode) { $mode } else { 'default' }) implementation"
                $codecs[$codec] = 1 + [int]$codecs[$codec]
            }
            $codecs.Keys | Should -Contain 'keyframe'
            $codecs.Keys | Should -Contain 'zstd-dict'
        }
        Test-FleSqliteFile -Path $db | Should -BeNullOrEmpty
    }
}

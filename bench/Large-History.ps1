# Bench section 8 in a fresh pwsh: stream a large history through a cmdlet. -Kind Steps: Get-FleStep over one trajectory
# (with -IncludeGameState: every state decoded too); -Kind Trajectories: Get-FleTrajectory over every trajectory.
# Pass 1, timed: the stream counted by Measure-Object (which keeps nothing); the process's resident memory before it
# (after Import-Module, connecting and a short warm-up) and its peak (VmHWM) after it. Pass 2: the same stream again,
# with the live managed heap measured (after a full collection) at every tenth of it: memory is flat when what is live
# at the end is what was live a tenth in (the peak RSS also holds garbage the GC has not collected yet).
# Prints one JSON object.
param(
    [Parameter(Mandatory)][string]$ModulePath,
    [Parameter(Mandatory)][ValidateSet('sqlite', 'postgres')][string]$Backend,
    [Parameter(Mandatory)][string]$Target,
    [Parameter(Mandatory)][ValidateSet('Steps', 'Trajectories')][string]$Kind,
    [string]$TrajectoryId,
    [switch]$IncludeGameState
)
$ErrorActionPreference = 'Stop'
function Status([string]$Key) { [long]((Get-Content /proc/self/status | Where-Object { $_ -like "${Key}:*" }) -replace '\D', '') * 1KB }
function Stream { if ($Kind -eq 'Steps') { Get-FleStep -TrajectoryId $TrajectoryId -IncludeGameState:$IncludeGameState } else { Get-FleTrajectory } }
Import-Module $ModulePath
if ($Backend -eq 'sqlite') { Connect-FleDatabase -Type Sqlite -Path $Target } else { Connect-FleDatabase -ConnectionString $Target }
$null = if ($Kind -eq 'Steps') { Get-FleStep -TrajectoryId $TrajectoryId -To 10 -IncludeGameState:$IncludeGameState } else { Get-FleTrajectory -First 10 }
[GC]::Collect()
$before = Status VmRSS
$sw = [Diagnostics.Stopwatch]::StartNew()
$count = (Stream | Measure-Object).Count
$seconds = $sw.Elapsed.TotalSeconds
$peak = Status VmHWM

$every = [math]::Max(1, [math]::Floor($count / 10))
$live = [Collections.Generic.List[double]]::new()
$n = 0
Stream | ForEach-Object { if ((++$n % $every) -eq 0) { $live.Add([GC]::GetTotalMemory($true) / 1MB) } }
[pscustomobject]@{ kind = $Kind; state = [bool]$IncludeGameState; count = $count; seconds = [math]::Round($seconds, 3); per_s = [math]::Round($count / $seconds, 1)
    rss_before_mb = [math]::Round($before / 1MB, 1); peak_rss_mb = [math]::Round($peak / 1MB, 1)
    live_heap_mb = @($live | ForEach-Object { [math]::Round($_, 2) }); live_growth_mb = [math]::Round($live[$live.Count - 1] - $live[0], 2) } | ConvertTo-Json -Compress

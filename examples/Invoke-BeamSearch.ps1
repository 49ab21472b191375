<#
.SYNOPSIS
A beam search over forks, the way FLE's search agents explore a tree of programs: a skeleton to put a real agent
and a real game into.

.DESCRIPTION
Starts a root run, then for -Depth rounds takes the -BeamWidth best steps of the task so far (Get-FleStep -Top
-SortBy value -Descending, ranked in the database, like FLE's get_beam_heads), and expands each of them -Expansions
times: Resume-FleTrajectory -StepNumber -Fork makes a fork at the step (a row: the history is read through the
parent, not copied) and returns its game state; the agent writes a program, the game runs it, and the step is saved
into the fork with its new state and its value.

The agent and the game are stand-ins here (New-AgentProgram and Invoke-Game below, seeded so a run can be checked):
replace them with your LLM call and FLE's environment (env.load_state / eval / get state).

Writes a summary object: the best value found, the trajectory and step holding it, and the numbers of trajectories
and stored steps. Get-FleTrajectory -Id <BestTrajectoryId> -IncludeAncestors shows the best node's lineage.

.EXAMPLE
./examples/Invoke-BeamSearch.ps1 -BeamWidth 3 -Depth 4

.EXAMPLE
$r = ./examples/Invoke-BeamSearch.ps1 -TaskId iron_plate_throughput -Connection (Connect-FleDatabase -Path ./search.db -PassThru -NoDefault)
Get-FleStep -TrajectoryId $r.BestTrajectoryId -Connection $c | Select-Object StepNumber, StoredIn, AgentCode
#>
[CmdletBinding()]
param(
    [string] $TaskId = 'iron_plate_throughput',
    [ValidateRange(1, 100)] [int] $BeamWidth = 3,
    [ValidateRange(1, 100)] [int] $Depth = 4,
    [ValidateRange(1, 20)] [int] $Expansions = 2,
    [int] $Seed = 1,
    [FleConnection] $Connection
)
$ErrorActionPreference = 'Stop'
$c = if ($Connection) { @{ Connection = $Connection } } else { @{} }
$rng = [Random]::new($Seed)

# ---- stand-ins for the agent and the game -------------------------------------------------------------------------
function New-AgentProgram([hashtable] $State) {
    # Your LLM writes Python here; the stand-in picks one of three moves.
    $move = @('build_furnace', 'mine_ore', 'smelt')[$rng.Next(3)]
    "# tick $($State.tick)`n$move()"
}

function Invoke-Game([hashtable] $State, [string] $Program) {
    # FLE runs the program and reports; the stand-in updates a tiny factory. Returns feedback, the new state and its value.
    $s = @{ tick = $State.tick + 60; furnaces = $State.furnaces; ore = $State.ore; plates = $State.plates }
    $feedback = switch -Regex ($Program) {
        'build_furnace' { if ($s.ore -ge 5) { $s.ore -= 5; $s.furnaces++; 'Built a stone furnace.' } else { "Error: not enough stone (have $($s.ore))." } }
        'mine_ore' { $n = 4 + $rng.Next(5); $s.ore += $n; "Mined $n ore." }
        'smelt' { $n = [math]::Min($s.ore, 2 * $s.furnaces); $s.ore -= $n; $s.plates += $n; "Smelted $n iron plates." }
    }
    $value = $s.plates * 10 + $s.furnaces * 3 + $s.ore
    [pscustomobject]@{ Feedback = $feedback; State = $s; Value = $value }
}

function ConvertTo-StateJson([hashtable] $State) { $State | ConvertTo-Json -Compress }
function ConvertFrom-StateJson([string] $Json) { $Json | ConvertFrom-Json -AsHashtable }

# ---- the search ---------------------------------------------------------------------------------------------------
$start = @{ tick = 0; furnaces = 1; ore = 6; plates = 0 }
$root = New-FleTrajectory -TaskId $TaskId -Metadata @{ search = 'beam'; beam_width = $BeamWidth; seed = $Seed } @c
Save-FleCheckpoint -TrajectoryId $root.Id -StepNumber 0 -AgentCode '# the starting position' -EnvironmentFeedback 'reset' `
    -GameState (ConvertTo-StateJson $start) -Metadata @{ value = 0; depth = 0 } @c
Complete-FleTrajectory -Id $root.Id @c | Out-Null
Write-Verbose "Root $($root.Id)"

$expanded = [Collections.Generic.HashSet[string]]::new()
for ($round = 1; $round -le $Depth; $round++) {
    # The best nodes not expanded yet, across every depth (FLE's get_beam_heads).
    $heads = Get-FleStep -TaskId $TaskId -Top ($BeamWidth + $expanded.Count) -SortBy value -Descending @c |
        Where-Object { -not $expanded.Contains("$($_.StoredIn)#$($_.StepNumber)") } | Select-Object -First $BeamWidth
    foreach ($head in $heads) {
        [void]$expanded.Add("$($head.StoredIn)#$($head.StepNumber)")
        for ($e = 0; $e -lt $Expansions; $e++) {
            $cp = Resume-FleTrajectory -Id $head.StoredIn -StepNumber $head.StepNumber -Fork @c
            $state = ConvertFrom-StateJson $cp.GameStateText
            $program = New-AgentProgram $state
            $r = Invoke-Game $state $program
            Save-FleCheckpoint -TrajectoryId $cp.TrajectoryId -StepNumber $cp.NextStepNumber -AgentCode $program -EnvironmentFeedback $r.Feedback `
                -GameState (ConvertTo-StateJson $r.State) -Metadata @{ value = $r.Value; depth = $cp.NextStepNumber } @c
            Complete-FleTrajectory -Id $cp.TrajectoryId -Status ($r.Feedback -like 'Error*' ? 'Failed' : 'Completed') @c | Out-Null
        }
    }
    Write-Progress -Activity 'Beam search' -Status "round $round of $Depth" -PercentComplete (100 * $round / $Depth)
}
Write-Progress -Activity 'Beam search' -Completed

$best = Get-FleStep -TaskId $TaskId -Top 1 -SortBy value -Descending @c
$all = @(Get-FleTrajectory -TaskId $TaskId @c)
[pscustomobject]@{
    RootId           = $root.Id
    BestValue        = $best.Metadata.value
    BestTrajectoryId = $best.TrajectoryId
    BestStepNumber   = $best.StepNumber
    Trajectories     = $all.Count
    StoredSteps      = ($all | ForEach-Object { @(Get-FleStep -TrajectoryId $_.Id @c | Where-Object StoredIn -EQ $_.Id).Count } | Measure-Object -Sum).Sum
}

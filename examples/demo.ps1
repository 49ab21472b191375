<#
.SYNOPSIS
Fle in one minute, on the embedded default (SQLite, .fle/data.db in the current folder):
start a run, checkpoint every step, "crash", resume from the latest checkpoint, finish, and look at it.
#>
$ErrorActionPreference = 'Stop'

Connect-FleDatabase -Verbose                     # FLE_DB_TYPE unset → SQLite at .fle/data.db (created)

$run = New-FleTrajectory -TaskId iron_plate_throughput -Metadata @{ model = 'gpt-4o'; version = 1; process_id = $PID }
"Started trajectory $($run.Id)"

function Get-GameState([int]$Step) {
    # A stand-in for FLE's GameState.to_raw(): JSON with inventories, entities and research.
    @{ timestamp = $Step; inventories = @(@{ 'iron-plate' = 10 * $Step; 'coal' = 50 }); research = @{ current = 'automation'; progress = $Step / 10 } } |
        ConvertTo-Json -Depth 5 -Compress
}

foreach ($step in 0..4) {
    Save-FleCheckpoint -TrajectoryId $run.Id -StepNumber $step `
        -AgentCode "place_entity(Prototype.StoneFurnace, position=Position(x=$step, y=0))" `
        -EnvironmentFeedback "Placed stone furnace at ($step, 0)" `
        -GameState (Get-GameState $step) -Metadata @{ reward = $step * 2.5; ticks = 60 * $step }
}
"Saved 5 checkpoints. Simulating a crash…"
Disconnect-FleDatabase

# A new session: find the run, resume from its latest checkpoint.
$resume = Get-FleTrajectory -Status Running -First 1 | Resume-FleTrajectory
"Resuming $($resume.TrajectoryId) at step $($resume.NextStepNumber); state: $($resume.GameStateText)"
foreach ($step in $resume.NextStepNumber..($resume.NextStepNumber + 2)) {
    Save-FleCheckpoint -TrajectoryId $resume.TrajectoryId -StepNumber $step -AgentCode "craft_item(Prototype.IronGearWheel, $step)" `
        -EnvironmentFeedback 'Crafted' -GameState (Get-GameState $step) -Metadata @{ reward = $step * 2.5; ticks = 60 * $step }
}
Complete-FleTrajectory -Id $resume.TrajectoryId -PassThru | Format-Table
Get-FleStep -TrajectoryId $resume.TrajectoryId | Format-Table
Measure-FleStep -TrajectoryId $resume.TrajectoryId | Format-Table

# Another model on the same task, to compare: its step 4 fails with a Python traceback, as FLE reports errors.
$other = New-FleTrajectory -TaskId iron_plate_throughput -Metadata @{ model = 'claude-sonnet-4'; version = 1; process_id = $PID }
foreach ($step in 0..9) {
    $feedback = if ($step -eq 4) { "Traceback (most recent call last):`n  File ""<agent>"", line 1`nNameError: name 'furnace' is not defined" } else { "Crafted $step" }
    Save-FleCheckpoint -TrajectoryId $other.Id -StepNumber $step -AgentCode "craft_item(Prototype.IronGearWheel, $step)" -EnvironmentFeedback $feedback `
        -GameState (Get-GameState $step) -Metadata @{ reward = [math]::Round(1.8 * $step - ($step -ge 4 ? 3 : 0), 1); ticks = 55 * $step }
}
Complete-FleTrajectory -Id $other.Id | Out-Null

# Both runs in one HTML page: a plot per metric with both curves, the failed step marked, each step's code and feedback.
$report = Export-FleReport -TrajectoryId $resume.TrajectoryId, $other.Id -Path .fle/report.html
"Report: $($report.FullName)"

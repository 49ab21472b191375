using System.Text;
using System.Text.Json.Nodes;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Import;
using Fle.Core.Storage;
using Xunit;

namespace Fle.Tests.ProgramTable;

/// <summary>One FLE run of the scenario and the step number each of its rows must get.</summary>
public sealed record ExpectedRun(string TaskId, int Version, object ProcessId, int Instance, FleTrajectoryStatus Status, FleStepNumbering Numbering,
    string? Model, string? SweepId, (ProgramRow Row, long Step)[] Steps, long? PositionFromStep = null);

/// <summary>
/// Builds FLE databases with realistic and malformed rows, imports them, and checks every mapped field.
/// </summary>
public sealed class FleProgramScenario
{
    public static readonly DateTime T0 = new(2025, 3, 1, 9, 0, 0, DateTimeKind.Utc);

    public List<ExpectedRun> Runs { get; } = [];
    public List<(ProgramRow Row, FleProgramSkipReason Reason)> Bad { get; } = [];
    public ProgramRow? ConversationNotJson { get; private set; }
    public int TotalRows { get; private set; }

    private static ProgramRow Step(int version, string description, string meta, int instance, double depth, int sec, int n, string? state, string model = "gpt-4o",
        string? conversation = null, string? response = null) => new()
    {
        Code = $"# step {n}\ndrill = place_entity(Prototype.BurnerMiningDrill, position=nearest(Resource.IronOre))\nprint(drill)",
        Value = 0.1 * n, Visits = n % 3, ParentId = n > 1 ? 1000 + n - 1 : null, StateJson = state,
        ConversationJson = conversation ?? FleSamples.Conversation(n), CompletionTokens = 150 + n, PromptTokens = 3000 + 10 * n, TotalTokens = 3150 + 11 * n,
        Response = response ?? $"{n}: ('BurnerMiningDrill(position=Position(x={n}.5, y=-61.0))')", HoldoutValue = n % 2 == 0 ? 0.5 * n : null,
        RawReward = 1.25 * n, Version = version, VersionDescription = description, Model = model, Meta = meta,
        AchievementsJson = FleSamples.Achievements(n), Instance = instance, Depth = depth, Advantage = -0.75 + n, Ticks = 600 * n,
        CreatedAt = T0.AddSeconds(sec), TimingMetricsJson = n == 2 ? null : FleSamples.Timing(n),
    };

    public async Task BuildAsync(FleProgramsDatabase db)
    {
        // Run A: version 3, process 0, single agent; depth as FLE stores it (halved: 0.5, 1.5, ...); step 3 has no state.
        var a = new[]
        {
            Step(3, FleSamples.IronDescription, FleSamples.Meta(0), -1, 0.5, 0, 1, FleSamples.State(1)),
            Step(3, FleSamples.IronDescription, FleSamples.Meta(0), -1, 1.5, 60, 2, FleSamples.State(2)),
            Step(3, FleSamples.IronDescription, FleSamples.Meta(0), -1, 2.5, 120, 3, null),
            Step(3, FleSamples.IronDescription, FleSamples.Meta(0), -1, 3.5, 180, 4, FleSamples.State(4)),
        };
        // Run B: version 3, process 1, rows interleaved in time with run A; depth as conversation depth (1, 3, 5); the last row failed.
        ConversationNotJson = Step(3, FleSamples.IronDescription, FleSamples.Meta(1), -1, 3, 90, 2, FleSamples.State(12), conversation: "{\"messages\": [ truncated");
        var b = new[]
        {
            Step(3, FleSamples.IronDescription, FleSamples.Meta(1), -1, 1, 30, 1, FleSamples.State(11)),
            ConversationNotJson,
            Step(3, FleSamples.IronDescription, FleSamples.Meta(1, error: true), -1, 5, 150, 3, FleSamples.State(13), response: "Error: AssertionError('drill not working')"),
        };
        // Runs C and D: version 4, two agents (instance 0 and 1); agent 0's depth repeats (a trimmed conversation) → by position from there.
        var c = new[]
        {
            Step(4, FleSamples.OpenPlayDescription, FleSamples.Meta(0, model: "claude-3-5-sonnet", sweep: "sweep-42"), 0, 0.5, 200, 1, FleSamples.State(21, 2), "claude-3-5-sonnet"),
            Step(4, FleSamples.OpenPlayDescription, FleSamples.Meta(0, model: "claude-3-5-sonnet", sweep: "sweep-42"), 0, 0.5, 260, 2, FleSamples.State(22, 2), "claude-3-5-sonnet"),
            Step(4, FleSamples.OpenPlayDescription, FleSamples.Meta(0, model: "claude-3-5-sonnet", sweep: "sweep-42"), 0, 1.5, 320, 3, FleSamples.State(23, 2), "claude-3-5-sonnet"),
        };
        var d = new[]
        {
            Step(4, FleSamples.OpenPlayDescription, FleSamples.Meta(0, model: "claude-3-5-sonnet", sweep: "sweep-42"), 1, 0.5, 230, 1, FleSamples.State(31, 2), "claude-3-5-sonnet"),
            Step(4, FleSamples.OpenPlayDescription, FleSamples.Meta(0, model: "claude-3-5-sonnet", sweep: "sweep-42"), 1, 1.5, 290, 2, FleSamples.State(32, 2), "claude-3-5-sonnet"),
        };
        // Run E: the default version_description ('' : no type line → task 'unknown'), a string process id, model only in meta.
        var e = new[] { Step(5, "", FleSamples.Meta("7", model: "gpt-4o-mini"), -1, 0.0, 400, 1, FleSamples.State(41), model: "gpt-4o") };

        // Malformed rows.
        var badMeta = Step(3, FleSamples.IronDescription, db.MetaIsJsonb ? "[0, 1]" : "{\"process_id\": 0, ", -1, 9.5, 500, 9, FleSamples.State(9));
        var noTime = Step(3, FleSamples.IronDescription, FleSamples.Meta(99), -1, 1, 0, 1, FleSamples.State(99)) with { CreatedAt = null };
        var rows = new List<ProgramRow>();
        // Insert in time order across runs, as FLE's processes would.
        rows.AddRange(a.Concat(b).Concat(c).Concat(d).Concat(e).OrderBy(r => r.CreatedAt));
        rows.Insert(3, badMeta);
        rows.Add(noTime);
        if (!db.MetaIsJsonb)
        {
            var notObject = Step(3, FleSamples.IronDescription, "\"process 0\"", -1, 1, 510, 1, FleSamples.State(8));
            rows.Add(notObject);
            Bad.Add((notObject, FleProgramSkipReason.InvalidMeta));
        }
        await db.InsertAsync(rows.ToArray());
        TotalRows = rows.Count;
        Bad.Add((badMeta, FleProgramSkipReason.InvalidMeta));
        Bad.Add((noTime, FleProgramSkipReason.InvalidTimestamp));

        Runs.Add(new("iron_plate_throughput", 3, 0L, -1, FleTrajectoryStatus.Completed, FleStepNumbering.HalvedDepth, "gpt-4o", null, [(a[0], 1), (a[1], 2), (a[2], 3), (a[3], 4)]));
        Runs.Add(new("iron_plate_throughput", 3, 1L, -1, FleTrajectoryStatus.Failed, FleStepNumbering.Depth, "gpt-4o", null, [(b[0], 1), (b[1], 2), (b[2], 3)]));
        Runs.Add(new("open_play", 4, 0L, 0, FleTrajectoryStatus.Completed, FleStepNumbering.HalvedDepth, "claude-3-5-sonnet", "sweep-42", [(c[0], 1), (c[1], 2), (c[2], 3)], PositionFromStep: 2));
        Runs.Add(new("open_play", 4, 0L, 1, FleTrajectoryStatus.Completed, FleStepNumbering.HalvedDepth, "claude-3-5-sonnet", "sweep-42", [(d[0], 1), (d[1], 2)]));
        Runs.Add(new(FleProgramTableImporter.UnknownTask, 5, "7", -1, FleTrajectoryStatus.Completed, FleStepNumbering.Position, "gpt-4o-mini", null, [(e[0], 1)]));
    }

    public long StepCount => Runs.Sum(r => r.Steps.Length);
    public long CheckpointCount => Runs.Sum(r => r.Steps.Count(s => s.Row.StateJson is not null));
    public long StateBytes => Runs.Sum(r => r.Steps.Sum(s => s.Row.StateJson is null ? 0 : Encoding.UTF8.GetByteCount(s.Row.StateJson)));

    /// <summary>Every trajectory, step, checkpoint and metadata field against the rows that were written to FLE's table.</summary>
    public async Task VerifyAsync(FleStore target)
    {
        var all = await target.GetAllTrajectoriesAsync();
        Assert.Equal(Runs.Count, all.Count);
        foreach (var run in Runs)
        {
            var t = Assert.Single(all, x => Equals(x.Metadata["version"], (long)run.Version) && Equals(x.Metadata["process_id"], run.ProcessId)
                                         && Equals(x.Metadata["instance"], (long)run.Instance));
            Assert.Equal('5', t.Id[14]); // name-based UUID version 5
            Assert.Equal(run.TaskId, t.TaskId);
            Assert.Equal(run.Status, t.Status);
            Assert.Equal(run.Steps[0].Row.CreatedAt, t.StartTime);
            Assert.Equal(run.Steps[^1].Row.CreatedAt, t.EndTime);
            Assert.Equal(run.Steps.Length, t.StepCount);
            var first = run.Steps[0].Row;
            Assert.Equal(run.Model, t.Metadata["model"]);
            Assert.Equal(first.VersionDescription, t.Metadata["version_description"]);
            if (run.TaskId != FleProgramTableImporter.UnknownTask)
            {
                Assert.Equal(run.TaskId, t.Metadata["type"]);
                Assert.Equal(run.TaskId == "open_play" ? 2L : 1L, t.Metadata["num_agents"]);
            }
            if (run.SweepId is not null) Assert.Equal(run.SweepId, t.Metadata["sweep_id"]);
            else Assert.False(t.Metadata.ContainsKey("sweep_id"));
            var from = Assert.IsType<Dictionary<string, object?>>(t.Metadata["imported_from"]);
            Assert.Equal("fle-programs", from["format"]);
            Assert.Equal(run.Numbering.ToString(), from["step_numbering"]);
            Assert.Equal(run.PositionFromStep, from.TryGetValue("position_from_step", out var p) ? (long?)p : null);
            Assert.Equal(first.Id, from["first_program_id"]);
            Assert.Equal((long)run.Steps.Length, from["rows"]);
            Assert.Equal(FleProgramTableImporter.TrajectoryId($"{run.Version}|{(run.ProcessId is string ps ? $"\"{ps}\"" : run.ProcessId)}|{run.Instance}", first.Id, first.CreatedAt!.Value), t.Id);

            var steps = await FleStore.ToListAsync(target.GetStepsAsync(t.Id, default, includeGameState: true));
            Assert.Equal(run.Steps.Select(s => s.Step), steps.Select(s => s.StepNumber));
            foreach (var ((row, number), step) in run.Steps.Zip(steps))
                VerifyStep(row, number, step);
        }
    }

    private void VerifyStep(ProgramRow row, long number, FleStep step)
    {
        Assert.Equal(number, step.StepNumber);
        Assert.Equal(row.Code, step.AgentCode);
        Assert.Equal(row.Response ?? "", step.EnvironmentFeedback);
        Assert.Equal(row.CreatedAt, step.Timestamp);
        Assert.Equal(row.StateJson is not null, step.HasGameState);
        if (row.StateJson is not null)
        {
            var cp = Assert.IsType<FleCheckpoint>(step);
            Assert.Equal(Encoding.UTF8.GetBytes(row.StateJson), cp.GameState); // byte-exact
        }
        var m = JsonNode.Parse(step.MetadataJson)!.AsObject();
        Assert.Equal(row.Id, (long)m["program_id"]!);
        AssertNumber(row.ParentId, m["parent_id"]);
        AssertNumber(row.Value, m["value"]);
        AssertNumber(row.RawReward, m["raw_reward"]);
        AssertNumber(row.HoldoutValue, m["holdout_value"]);
        AssertNumber(row.Advantage, m["advantage"]);
        AssertNumber(row.Visits, m["visits"]);
        AssertNumber(row.Ticks, m["ticks"]);
        AssertNumber(row.CompletionTokens, m["completion_token_usage"]);
        AssertNumber(row.PromptTokens, m["prompt_token_usage"]);
        AssertNumber(row.TotalTokens, m["token_usage"]);
        AssertNumber(row.Depth, m["depth"]);
        Assert.Equal(row.Model, (string?)m["model"]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(row.Meta!), m["meta"]), "meta");
        AssertJson(row.AchievementsJson, m["achievements"]);
        AssertJson(row.TimingMetricsJson, m["timing_metrics"]);
        if (ReferenceEquals(row, ConversationNotJson))
        {
            Assert.False(m.ContainsKey("conversation"));
            Assert.Equal(row.ConversationJson, (string?)m["conversation_json"]);
        }
        else
        {
            AssertJson(row.ConversationJson, m["conversation"]);
        }
    }

    private static void AssertJson(string? expected, JsonNode? actual)
    {
        if (expected is null) Assert.Null(actual);
        else Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), $"expected {expected}, got {actual?.ToJsonString()}");
    }

    private static void AssertNumber(double? expected, JsonNode? actual)
    {
        if (expected is null) { Assert.Null(actual); return; }
        Assert.NotNull(actual);
        Assert.Equal(expected.Value, (double)actual!, 6);
    }
}

public sealed class ProgramTableImportTests
{
    private static readonly object SqliteLock = new();

    private static FleProgramImportOptions Options(FleProgramsDatabase db, List<FleSkippedProgramRow>? skipped = null, List<string>? warnings = null,
        List<FleProgramImportProgress>? progress = null, Func<FleProgramRun, FleImportDecision>? decide = null) => new()
    {
        SqlitePath = db is SqliteProgramsDatabase s ? s.Path : null,
        ConnectionString = db is PostgresProgramsDatabase p ? p.ConnectionString : null,
        RowSkipped = r => { lock (SqliteLock) skipped?.Add(r); },
        Warning = w => { lock (SqliteLock) warnings?.Add(w); },
        Progress = progress is null ? null : new SyncProgress(progress),
        Decide = decide,
    };

    private sealed class SyncProgress(List<FleProgramImportProgress> list) : IProgress<FleProgramImportProgress>
    {
        public void Report(FleProgramImportProgress value) { lock (list) list.Add(value); }
    }

    private static async Task ImportTwiceAndVerify(FleProgramsDatabase db, FleBackend targetBackend)
    {
        await using var _ = db;
        var scenario = new FleProgramScenario();
        await scenario.BuildAsync(db);
        await using var target = await db.NewTargetAsync(targetBackend);

        var skipped = new List<FleSkippedProgramRow>();
        var warnings = new List<string>();
        var progress = new List<FleProgramImportProgress>();
        var first = await FleProgramTableImporter.ImportAsync(target, Options(db, skipped, warnings, progress));

        Assert.False(first.WhatIf);
        Assert.Equal(scenario.TotalRows, first.Rows);
        Assert.Equal(scenario.Runs.Count + 1, first.Runs); // + the run whose only row has no created_at
        Assert.Equal(scenario.Runs.Count, first.Trajectories);
        Assert.Equal(0, first.TrajectoriesUpdated);
        Assert.Equal(scenario.StepCount, first.Steps);
        Assert.Equal(scenario.CheckpointCount, first.Checkpoints);
        Assert.Equal(scenario.StateBytes, first.Bytes);
        Assert.Equal(0, first.AlreadyImported);
        Assert.Equal(scenario.Bad.Count, first.SkippedCount);
        Assert.Equal(scenario.Bad.Select(b => (b.Row.Id, b.Reason)).OrderBy(x => x.Id), first.SkippedRows.Select(s => (s.RowId, s.Reason)).OrderBy(x => x.RowId));
        Assert.Equal(first.SkippedRows.Select(r => r.RowId).Order(), skipped.Select(r => r.RowId).Order()); // reported as they happen, too
        Assert.Single(warnings, w => w.Contains($"Row {scenario.ConversationNotJson!.Id}:", StringComparison.Ordinal));
        Assert.Equal(scenario.Runs.Count, first.TrajectoryIds.Count);
        Assert.Contains(progress, p => p.Phase == "Scanning");
        Assert.Equal(scenario.TotalRows, progress.Last().RowsRead);
        Assert.DoesNotContain("Password", first.Source, StringComparison.OrdinalIgnoreCase);
        await scenario.VerifyAsync(target);

        // A second run imports nothing twice.
        var second = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal(0, second.Trajectories);
        Assert.Equal(0, second.TrajectoriesUpdated);
        Assert.Equal(0, second.Steps);
        Assert.Equal(scenario.StepCount, second.AlreadyImported);
        Assert.Equal(scenario.Bad.Count, second.SkippedCount);
        await scenario.VerifyAsync(target);

        // The same source into another database gives the same trajectory ids (deterministic).
        await using var other = await db.NewTargetAsync(FleBackend.Sqlite, "other");
        var again = await FleProgramTableImporter.ImportAsync(other, Options(db));
        Assert.Equal(first.TrajectoryIds.Order(), again.TrajectoryIds.Order());
    }

    [Fact]
    public Task Sqlite_source_into_sqlite() => ImportTwiceAndVerify(SqliteProgramsDatabase.Create(), FleBackend.Sqlite);

    [PostgresFact]
    public async Task Sqlite_source_into_postgres() => await ImportTwiceAndVerify(SqliteProgramsDatabase.Create(), FleBackend.Postgres);

    [PostgresFact]
    public async Task Postgres_text_meta_source_into_sqlite() => await ImportTwiceAndVerify(await PostgresProgramsDatabase.CreateAsync(metaJsonb: false), FleBackend.Sqlite);

    [PostgresFact]
    public async Task Postgres_jsonb_meta_source_into_postgres() => await ImportTwiceAndVerify(await PostgresProgramsDatabase.CreateAsync(metaJsonb: true), FleBackend.Postgres);

    [Fact]
    public async Task Rows_FLE_writes_after_an_import_are_added_to_the_same_trajectory()
    {
        await using var db = SqliteProgramsDatabase.Create();
        var scenario = new FleProgramScenario();
        await scenario.BuildAsync(db);
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        var first = await FleProgramTableImporter.ImportAsync(target, Options(db));
        var runA = scenario.Runs[0];
        var last = runA.Steps[^1].Row;
        var next = last with { Id = 0, Depth = 4.5, CreatedAt = last.CreatedAt!.Value.AddMinutes(30), Code = "print('resumed')", StateJson = FleSamples.State(5) };
        var fresh = last with { Id = 0, Version = 6, Depth = 0.5, CreatedAt = last.CreatedAt!.Value.AddMinutes(31) };
        await db.InsertAsync(next, fresh);

        var second = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal(1, second.Trajectories);
        Assert.Equal(1, second.TrajectoriesUpdated);
        Assert.Equal(2, second.Steps);
        Assert.Equal(scenario.StepCount, second.AlreadyImported);
        var a = Assert.Single(await target.GetAllTrajectoriesAsync(), t => Equals(t.Metadata["version"], 3L) && Equals(t.Metadata["process_id"], 0L));
        Assert.Equal(5, a.StepCount);
        Assert.Equal(next.CreatedAt, a.EndTime);
        var cp = await target.GetLatestCheckpointAsync(a.Id);
        Assert.Equal(5, cp!.StepNumber);
        Assert.Equal("print('resumed')", cp.AgentCode);
        Assert.Contains(first.TrajectoryIds, id => id == a.Id);
    }

    [Fact]
    public async Task WhatIf_reads_and_counts_but_writes_nothing()
    {
        await using var db = SqliteProgramsDatabase.Create();
        var scenario = new FleProgramScenario();
        await scenario.BuildAsync(db);
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        var asked = new List<FleProgramRun>();
        var r = await FleProgramTableImporter.ImportAsync(target, Options(db, decide: run => { asked.Add(run); return FleImportDecision.DryRun; }));
        Assert.True(r.WhatIf);
        Assert.Equal(scenario.Runs.Count, r.Trajectories);
        Assert.Equal(scenario.StepCount, r.Steps);
        Assert.Equal(scenario.StateBytes, r.Bytes);
        Assert.Equal(scenario.Bad.Count, r.SkippedCount);
        Assert.Equal(scenario.Runs.Count, asked.Count);
        Assert.Contains(asked, a => a.TaskId == "open_play" && a.StepNumbering == FleStepNumbering.HalvedDepth && a.PositionFromStep == 2 && a.Rows == 3 && a.NewRows == 3 && !a.Exists);
        Assert.Empty(await target.GetAllTrajectoriesAsync());
    }

    [Fact]
    public async Task A_declined_run_is_left_out()
    {
        await using var db = SqliteProgramsDatabase.Create();
        var scenario = new FleProgramScenario();
        await scenario.BuildAsync(db);
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        var r = await FleProgramTableImporter.ImportAsync(target, Options(db, decide: run => run.TaskId == "open_play" ? FleImportDecision.Decline : FleImportDecision.Import));
        Assert.Equal(scenario.Runs.Count - 2, r.Trajectories);
        Assert.Equal(5, r.DeclinedRows);
        Assert.DoesNotContain(await target.GetAllTrajectoriesAsync(), t => t.TaskId == "open_play");
    }

    [Fact]
    public async Task Importing_into_FLEs_own_file_works()
    {
        // FLE and Fle both default to .fle/data.db: the programs table and Fle's tables can share the file.
        await using var db = SqliteProgramsDatabase.Create();
        var scenario = new FleProgramScenario();
        await scenario.BuildAsync(db);
        await using var target = await FleStore.OpenAsync(new FleSettingsOverrides
        {
            SqlitePath = db.Path, WorkingDirectory = db.Folder, Environment = new Dictionary<string, string?>(),
        });
        var r = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal(scenario.StepCount, r.Steps);
        await scenario.VerifyAsync(target);
        Assert.Equal(0, (await FleProgramTableImporter.ImportAsync(target, Options(db))).Steps);
    }

    [Fact]
    public async Task A_file_without_a_programs_table_is_refused()
    {
        await using var db = SqliteProgramsDatabase.Create("CREATE TABLE other (id INTEGER)");
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        var e = await Assert.ThrowsAsync<FleException>(() => FleProgramTableImporter.ImportAsync(target, Options(db)));
        Assert.Equal(FleErrorIds.SourceInvalid, e.ErrorId);
        Assert.Contains("no 'programs' table", e.Message, StringComparison.Ordinal);

        var notSqlite = Path.Combine(db.Folder, "notes.txt");
        await File.WriteAllTextAsync(notSqlite, "this is not a database, just some text that is long enough to have a header of 100 bytes........................................");
        e = await Assert.ThrowsAsync<FleException>(() => FleProgramTableImporter.ImportAsync(target, new FleProgramImportOptions { SqlitePath = notSqlite }));
        Assert.Equal(FleErrorIds.SourceInvalid, e.ErrorId);

        e = await Assert.ThrowsAsync<FleException>(() => FleProgramTableImporter.ImportAsync(target, new FleProgramImportOptions { SqlitePath = Path.Combine(db.Folder, "missing.db") }));
        Assert.Equal(FleErrorIds.SourceInvalid, e.ErrorId);
        Assert.Equal(FleErrorKind.NotFound, e.Kind);
    }

    [PostgresFact]
    public async Task A_postgres_database_without_programs_is_refused_and_the_password_is_not_shown()
    {
        var cs = await PostgresTestServer.CreateDatabaseAsync("fle_empty");
        await using var db = SqliteProgramsDatabase.Create();
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        var e = await Assert.ThrowsAsync<FleException>(() => FleProgramTableImporter.ImportAsync(target, new FleProgramImportOptions { ConnectionString = cs }));
        Assert.Equal(FleErrorIds.SourceInvalid, e.ErrorId);
        var password = new Npgsql.NpgsqlConnectionStringBuilder(cs).Password!;
        Assert.DoesNotContain(password, e.Message, StringComparison.Ordinal);

        var wrong = new Npgsql.NpgsqlConnectionStringBuilder(cs) { Password = "wrong-secret-pw" }.ConnectionString;
        e = await Assert.ThrowsAsync<FleException>(() => FleProgramTableImporter.ImportAsync(target, new FleProgramImportOptions { ConnectionString = wrong }));
        Assert.Equal(FleErrorIds.AuthenticationFailed, e.ErrorId);
        Assert.DoesNotContain("wrong-secret-pw", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_older_table_without_some_columns_and_with_a_null_code_is_imported_with_the_row_reported()
    {
        // An earlier FLE: no depth, timing_metrics_json or achievements_json columns, and code nullable.
        const string ddl = """
            CREATE TABLE programs (
                id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT, value REAL DEFAULT 0.0, visits INTEGER DEFAULT 0, parent_id INTEGER,
                state_json TEXT, conversation_json TEXT NOT NULL, completion_token_usage INTEGER, prompt_token_usage INTEGER, token_usage INTEGER,
                response TEXT, holdout_value REAL, raw_reward REAL, version INTEGER DEFAULT 1, version_description TEXT DEFAULT '',
                model TEXT DEFAULT 'gpt-4o', meta TEXT, instance INTEGER DEFAULT -1, advantage REAL DEFAULT 0.0, ticks INTEGER DEFAULT 0,
                created_at DATETIME DEFAULT CURRENT_TIMESTAMP)
            """;
        await using var db = SqliteProgramsDatabase.Create(ddl);
        await db.ExecAsync($"""
            INSERT INTO programs (code, state_json, conversation_json, response, version, version_description, meta, created_at) VALUES
              ('print(1)', '{FleSamples.State(1)}', '{"{"}"messages": []{"}"}', 'ok', 2, '{FleSamples.IronDescription}', '{FleSamples.Meta(3)}', '2025-01-01 10:00:00'),
              (NULL, NULL, '{"{"}"messages": []{"}"}', NULL, 2, '{FleSamples.IronDescription}', '{FleSamples.Meta(3)}', '2025-01-01 10:00:05'),
              ('print(3)', NULL, '{"{"}"messages": []{"}"}', NULL, 2, '{FleSamples.IronDescription}', '{FleSamples.Meta(3)}', '2025-01-01 10:00:09')
            """);
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        var r = await FleProgramTableImporter.ImportAsync(target, Options(db));
        var skip = Assert.Single(r.SkippedRows);
        Assert.Equal((2L, FleProgramSkipReason.NullCode), (skip.RowId, skip.Reason));
        Assert.Equal(2, r.Steps);
        Assert.Equal(1, r.Checkpoints);
        var t = Assert.Single(await target.GetAllTrajectoriesAsync());
        var steps = await FleStore.ToListAsync(target.GetStepsAsync(t.Id));
        // No depth column: numbered by position; the skipped row keeps its place (step 2 stays free).
        Assert.Equal(new long[] { 1, 3 }, steps.Select(s => s.StepNumber));
        Assert.False(steps[1].HasGameState); // null state with code: a plain step
        Assert.Equal("", steps[1].EnvironmentFeedback);
        Assert.Null(steps[1].Metadata["depth"]);
    }

    [Fact]
    public async Task SQLite_CURRENT_TIMESTAMP_defaults_are_read_as_UTC()
    {
        await using var db = SqliteProgramsDatabase.Create();
        var before = DateTime.UtcNow.AddSeconds(-2);
        // As FLE's create_program inserts: created_at left to its DEFAULT CURRENT_TIMESTAMP.
        await db.ExecAsync($"INSERT INTO programs (code, state_json, conversation_json, version, version_description, meta, depth) VALUES ('print(1)', '{FleSamples.State(1)}', '{{}}', 1, '{FleSamples.IronDescription}', '{FleSamples.Meta(0)}', 0.5)");
        var after = DateTime.UtcNow.AddSeconds(2);
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        await FleProgramTableImporter.ImportAsync(target, Options(db));
        var t = Assert.Single(await target.GetAllTrajectoriesAsync());
        Assert.InRange(t.StartTime, before, after);
        Assert.Equal(t.StartTime, t.EndTime);
    }

    [PostgresFact]
    public async Task Postgres_TIMESTAMP_defaults_are_read_in_the_servers_time_zone()
    {
        // FLE's PostgreSQL column is TIMESTAMP (no zone): CURRENT_TIMESTAMP is stored as local time of the server's TimeZone.
        var cs = await PostgresTestServer.CreateDatabaseAsync("fle_tz");
        var name = new Npgsql.NpgsqlConnectionStringBuilder(cs).Database;
        await using (var c = new Npgsql.NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var cmd = new Npgsql.NpgsqlCommand($"ALTER DATABASE {name} SET timezone TO 'America/New_York'", c);
            await cmd.ExecuteNonQueryAsync();
        }
        Npgsql.NpgsqlConnection.ClearAllPools();
        var before = DateTime.UtcNow.AddSeconds(-2);
        await using (var c = new Npgsql.NpgsqlConnection(cs))
        {
            await c.OpenAsync();
            await using var ddl = new Npgsql.NpgsqlCommand(FleProgramsDatabase.PostgresDdl(), c);
            await ddl.ExecuteNonQueryAsync();
            await using var ins = new Npgsql.NpgsqlCommand(
                "INSERT INTO programs (code, state_json, conversation_json, version, version_description, meta, depth) VALUES ('print(1)', @s, '{}', 1, @d, @m, 0.5)", c);
            ins.Parameters.AddWithValue("s", FleSamples.State(1));
            ins.Parameters.AddWithValue("d", FleSamples.IronDescription);
            ins.Parameters.AddWithValue("m", FleSamples.Meta(0));
            await ins.ExecuteNonQueryAsync();
        }
        var after = DateTime.UtcNow.AddSeconds(2);
        await using var db = SqliteProgramsDatabase.Create();
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        var r = await FleProgramTableImporter.ImportAsync(target, new FleProgramImportOptions { ConnectionString = cs });
        Assert.Equal(1, r.Checkpoints);
        var t = Assert.Single(await target.GetAllTrajectoriesAsync());
        Assert.InRange(t.StartTime, before, after);
    }

    [Fact]
    public Task An_interrupted_import_leaves_no_half_trajectory_and_the_next_one_completes_it() => InterruptedAsync(FleBackend.Sqlite);

    [PostgresFact]
    public Task An_interrupted_import_into_postgres_leaves_no_half_trajectory() => InterruptedAsync(FleBackend.Postgres);

    private static async Task InterruptedAsync(FleBackend backend)
    {
        // One transaction per run (the bulk import path): a run is written whole or not at all.
        await using var db = SqliteProgramsDatabase.Create();
        var scenario = new FleProgramScenario();
        await scenario.BuildAsync(db);
        await using var target = await db.NewTargetAsync(backend);
        using var cts = new CancellationTokenSource();
        var options = new FleProgramImportOptions
        {
            SqlitePath = db.Path,
            Progress = new CancelAt(cts, steps: 5),
        };
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => FleProgramTableImporter.ImportAsync(target, options, cts.Token));
        var partial = await target.GetAllTrajectoriesAsync();
        Assert.True(partial.Count < scenario.Runs.Count, "the import was stopped before the last run");
        foreach (var t in partial)
        {
            var run = Assert.Single(scenario.Runs, r => Equals(t.Metadata["version"], (long)r.Version) && Equals(t.Metadata["process_id"], r.ProcessId)
                                                        && Equals(t.Metadata["instance"], (long)r.Instance));
            Assert.Equal(run.Steps.Length, t.StepCount);
            Assert.Equal(run.Status, t.Status);
        }

        var r = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal(scenario.StepCount, r.Steps + r.AlreadyImported);
        Assert.Equal(partial.Sum(t => t.StepCount), r.AlreadyImported);
        await scenario.VerifyAsync(target); // statuses and end times included
    }

    [Fact]
    public async Task A_trajectory_resumed_in_Fle_after_the_import_is_left_as_it_is()
    {
        await using var db = SqliteProgramsDatabase.Create();
        var scenario = new FleProgramScenario();
        await scenario.BuildAsync(db);
        await using var target = await db.NewTargetAsync(FleBackend.Sqlite);
        var first = await FleProgramTableImporter.ImportAsync(target, Options(db));
        var id = first.TrajectoryIds[0];
        var (t, latest) = await target.ResumeTrajectoryAsync(id);
        await target.SaveCheckpointAsync(new FleStepInput { TrajectoryId = id, StepNumber = latest!.NextStepNumber, AgentCode = "print('fle')", GameState = "{}"u8.ToArray() });
        var again = await FleProgramTableImporter.ImportAsync(target, Options(db));
        Assert.Equal(0, again.Steps);
        var now = await target.GetTrajectoryAsync(id);
        Assert.Equal(FleTrajectoryStatus.Running, now!.Status);
        Assert.Equal(t.StepCount + 1, now.StepCount);
    }

    private sealed class CancelAt(CancellationTokenSource cts, long steps) : IProgress<FleProgramImportProgress>
    {
        public void Report(FleProgramImportProgress value)
        {
            if (value.Steps >= steps) cts.Cancel();
        }
    }

    [Fact]
    public void Step_numbers_from_depth()
    {
        Assert.Equal(1, FleProgramTableImporter.StepFromDepth(1, FleStepNumbering.Depth));
        Assert.Equal(3, FleProgramTableImporter.StepFromDepth(5, FleStepNumbering.Depth));
        Assert.Null(FleProgramTableImporter.StepFromDepth(2, FleStepNumbering.Depth));
        Assert.Null(FleProgramTableImporter.StepFromDepth(0.5, FleStepNumbering.Depth));
        Assert.Equal(1, FleProgramTableImporter.StepFromDepth(0.5, FleStepNumbering.HalvedDepth));
        Assert.Equal(3, FleProgramTableImporter.StepFromDepth(2.5, FleStepNumbering.HalvedDepth));
        Assert.Null(FleProgramTableImporter.StepFromDepth(1, FleStepNumbering.HalvedDepth));
        Assert.Null(FleProgramTableImporter.StepFromDepth(null, FleStepNumbering.Depth));
        Assert.Null(FleProgramTableImporter.StepFromDepth(-3, FleStepNumbering.Depth));
        Assert.Null(FleProgramTableImporter.StepFromDepth(double.NaN, FleStepNumbering.HalvedDepth));
    }

    [Fact]
    public void Trajectory_ids_are_RFC_9562_version_5_uuids()
    {
        // RFC 9562 appendix A.4: the DNS name-space and www.example.com.
        Assert.Equal("2ed6657d-e927-568b-95e1-2665a8aea6a2", FleProgramTableImporter.NameUuid(new Guid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "www.example.com"));
        var at = new DateTime(2025, 3, 1, 9, 0, 0, DateTimeKind.Utc);
        Assert.Equal(FleProgramTableImporter.TrajectoryId("3|0|-1", 1, at), FleProgramTableImporter.TrajectoryId("3|0|-1", 1, at));
        Assert.NotEqual(FleProgramTableImporter.TrajectoryId("3|0|-1", 1, at), FleProgramTableImporter.TrajectoryId("3|1|-1", 1, at));
        Assert.NotEqual(FleProgramTableImporter.TrajectoryId("3|0|-1", 1, at), FleProgramTableImporter.TrajectoryId("3|0|-1", 2, at));
        Assert.NotEqual(FleProgramTableImporter.TrajectoryId("3|0|-1", 1, at), FleProgramTableImporter.TrajectoryId("3|0|-1", 1, at.AddSeconds(1)));
        // The scheme of earlier releases: kept so that their trajectories can be recognised (and tested).
        Assert.NotEqual(FleProgramTableImporter.LegacyTrajectoryId("1@x", "3|0|-1"), FleProgramTableImporter.TrajectoryId("3|0|-1", 1, at));
    }
}

using System.Text;
using System.Text.Json.Nodes;
using Fle.Core;
using Fle.Core.Configuration;
using Fle.Core.Import;
using Fle.Core.Storage;
using Fle.Tests.Infrastructure;
using Xunit;

namespace Fle.Tests.ProgramTable;

/// <summary>A Program the test writes through FLE's client, and what the import must make of it (a step number, or a skip).</summary>
public sealed class PlannedProgram(string run, long? step, Dictionary<string, object?> op, FleProgramSkipReason? skip = null)
{
    public string Run { get; } = run;
    public long? Step { get; } = step;
    public Dictionary<string, object?> Op { get; } = op;
    public FleProgramSkipReason? Skip { get; } = skip;
    public FleWrittenRow Written { get; set; } = null!;
}

/// <summary>A run of the plan: where it goes and what its trajectory must say.</summary>
public sealed record PlannedRun(string Name, string TaskId, FleTrajectoryStatus Status, FleStepNumbering Numbering, long? PositionFromStep);

/// <summary>
/// Import-FleProgramTable on tables that FLE's own Python client wrote (FLE's DDL, create_program, update_program,
/// GameState.to_raw()), from a SQLite file and from PostgreSQL (meta TEXT and JSONB, the database in a non-UTC time
/// zone), into both backends: NaN and ±Infinity, a refused row, a last row whose created_at is NULL, -WhatIf counts,
/// incremental imports against a fresh one, pruned and copied sources, trajectories of the previous release.
/// </summary>
public sealed class RealClientImportTests
{
    /// <summary>FLE_MAX_STATE_BYTES of the targets: the one state of 3,000 technologies is over it (a row the database refuses).</summary>
    private const long MaxState = 300_000;

    private static readonly Dictionary<string, PlannedRun> Runs = new()
    {
        ["A"] = new("A", "iron_plate_throughput", FleTrajectoryStatus.Completed, FleStepNumbering.HalvedDepth, null),
        ["B"] = new("B", "iron_plate_throughput", FleTrajectoryStatus.Failed, FleStepNumbering.Depth, 2),
        ["C"] = new("C", FleProgramTableImporter.UnknownTask, FleTrajectoryStatus.Completed, FleStepNumbering.Position, null),
        ["D"] = new("D", FleProgramTableImporter.UnknownTask, FleTrajectoryStatus.Completed, FleStepNumbering.HalvedDepth, null),
    };

    /// <summary>
    /// The trial of issue 12: four runs written in interleaved time order. A: halved depths with a gap (steps 1, 2, 4, 5),
    /// NaN/±Infinity in meta (TEXT meta only: jsonb cannot hold them) and in REAL columns. B: depth 1.0, then a depth
    /// that gives no whole number (by position from step 2), a step without state, its last row failed. C: no type line
    /// (task unknown), a state over FLE_MAX_STATE_BYTES and a NUL in code (SQLite) or a \u0000 escape in meta (PostgreSQL
    /// TEXT): refused, their numbers stay free. D: its last row failed, and its created_at is set to NULL afterwards:
    /// status and end time come from D's last imported row.
    /// </summary>
    private static List<PlannedProgram> Trial(FleSourceKind kind)
    {
        var text = kind != FleSourceKind.PostgresJsonb;
        var list = new List<PlannedProgram>();
        void Add(string run, long? step, Dictionary<string, object?> op, FleProgramSkipReason? skip = null) => list.Add(new(run, step, op, skip));
        Add("A", 1, FleOps.Program(3, 0, 0, 1, "print('A1')", 1));
        Add("B", 1, FleOps.Program(3, 1, 0, 2, "print('B1')", 11));
        Add("A", 2, FleOps.Program(3, 0, 0, 3, "print('A2')", 2, productionScore: text ? "__nan__" : 7.25, value: "__nan__", rawReward: "__inf__", holdout: "__-inf__"));
        Add("B", 2, FleOps.Program(3, 1, 0, 4, "print('B2')", null));
        Add("C", 1, FleOps.Program(4, 0, -1, 0, "print('C1')", 21, description: ""));
        Add("A", 4, FleOps.Program(3, 0, 0, 7, "print('A3')", 3, metaExtra: text ? new() { ["best"] = "__inf__", ["worst"] = "__-inf__" } : null));
        Add("B", 3, FleOps.Program(3, 1, 0, 4, "print('B3')", 13));
        Add("C", null, FleOps.Program(4, 0, -1, 2, "print('C2')", 22, description: "", technologies: 3000), FleProgramSkipReason.Rejected);
        Add("D", 1, FleOps.Program(4, 1, -1, 1, "print('D1')", 31, description: ""));
        Add("A", 5, FleOps.Program(3, 0, 0, 9, "print('A4')", 4));
        switch (kind)
        {
            case FleSourceKind.Sqlite:
                Add("C", null, FleOps.Program(4, 0, -1, 4, "print('C3')\0# a NUL", 23, description: ""), FleProgramSkipReason.Rejected);
                break;
            case FleSourceKind.PostgresText:
                Add("C", null, FleOps.Program(4, 0, -1, 4, "print('C3')", 23, description: "", metaExtra: new() { ["note"] = "a\0b" }), FleProgramSkipReason.Rejected);
                break;
            default:
                Add("C", 3, FleOps.Program(4, 0, -1, 4, "print('C3')", 23, description: ""));
                break;
        }
        Add("B", 4, FleOps.Program(3, 1, 0, 6, "print('B4')", 14, error: true, response: "Error: AssertionError('drill not working')"));
        Add("D", 2, FleOps.Program(4, 1, -1, 3, "print('D2')", 32, description: ""));
        Add("D", null, FleOps.Program(4, 1, -1, 5, "print('D3')", 33, description: "", error: true), FleProgramSkipReason.InvalidTimestamp);
        return list;
    }

    /// <summary>Write the plan through FLE's client, then set the last row's created_at to NULL (FLE's update_program on PostgreSQL).</summary>
    private static async Task WriteAsync(FleClientSource source, List<PlannedProgram> plan)
    {
        var written = await source.WriteAsync(plan.Select(p => (object)p.Op).ToArray());
        foreach (var (p, w) in plan.Zip(written)) p.Written = w;
        var undated = plan.Where(p => p.Skip == FleProgramSkipReason.InvalidTimestamp).Select(p => p.Written.Id).ToList();
        foreach (var id in undated)
        {
            if (source.IsPostgres) await source.WriteAsync(FleOps.Update(id, new Dictionary<string, object?> { ["created_at"] = null }));
            else await source.ExecAsync($"UPDATE programs SET created_at = NULL WHERE id = {id}");
        }
        if (source.IsPostgres) // timing metrics as FLE's update_program writes them
            await source.WriteAsync(FleOps.Update(plan[0].Written.Id, new { timing_metrics = new[] { new { operation_name = "step", start_time = 1.5, end_time = 2.25 } } }));
    }

    [FleClientFact]
    public Task Sqlite_written_by_FLE_into_sqlite() => TrialAsync(FleSourceKind.Sqlite, FleBackend.Sqlite);

    [FleClientTheory(postgres: true)]
    [InlineData(FleSourceKind.Sqlite, FleBackend.Postgres)]
    [InlineData(FleSourceKind.PostgresText, FleBackend.Sqlite)]
    [InlineData(FleSourceKind.PostgresText, FleBackend.Postgres)]
    [InlineData(FleSourceKind.PostgresJsonb, FleBackend.Postgres)]
    public Task Written_by_FLE_into_each_backend(FleSourceKind kind, FleBackend backend) => TrialAsync(kind, backend);

    private static async Task TrialAsync(FleSourceKind kind, FleBackend backend)
    {
        await using var source = await FleClientSource.CreateAsync(kind);
        var plan = Trial(kind);
        await WriteAsync(source, plan);
        await using var target = await source.NewTargetAsync(backend, maxStateBytes: MaxState);

        // -WhatIf first: the same reading and checks, nothing written, the same counts as the import after it.
        var whatIfSkips = new List<FleSkippedProgramRow>();
        var whatIf = await FleProgramTableImporter.ImportAsync(target, source.Options(_ => FleImportDecision.DryRun, whatIfSkips));
        Assert.True(whatIf.WhatIf);
        Assert.Empty(await target.GetAllTrajectoriesAsync());

        var skips = new List<FleSkippedProgramRow>();
        var r = await FleProgramTableImporter.ImportAsync(target, source.Options(skipped: skips));
        var imported = plan.Where(p => p.Step is not null).ToList();
        Assert.Equal(imported.Count, r.Steps);
        Assert.Equal(imported.Count(p => p.Written.StateJson is not null), r.Checkpoints);
        Assert.Equal(imported.Sum(p => (long)Encoding.UTF8.GetByteCount(p.Written.StateJson ?? "")), r.Bytes);
        Assert.Equal(plan.Where(p => p.Skip is not null).Select(p => (p.Written.Id, p.Skip!.Value)).Order(), r.SkippedRows.Select(s => (s.RowId, s.Reason)).Order());
        Assert.Equal(r.SkippedRows.Select(s => s.RowId).Order(), skips.Select(s => s.RowId).Order());
        Assert.Equal(4, r.Trajectories);
        Assert.Equal((r.Trajectories, r.Steps, r.Checkpoints, r.Bytes, r.SkippedCount), (whatIf.Trajectories, whatIf.Steps, whatIf.Checkpoints, whatIf.Bytes, whatIf.SkippedCount));
        Assert.Equal(r.SkippedRows.Select(s => (s.RowId, s.Reason)).Order(), whatIf.SkippedRows.Select(s => (s.RowId, s.Reason)).Order());
        Assert.Equal(r.SkippedRows.Select(s => s.RowId).Order(), whatIfSkips.Select(s => s.RowId).Order());

        await VerifyAsync(target, source, plan);

        // Again: nothing twice.
        var again = await FleProgramTableImporter.ImportAsync(target, source.Options());
        Assert.Equal((0, 0, 0L, (long)imported.Count), (again.Trajectories, again.TrajectoriesUpdated, again.Steps, again.AlreadyImported));

        // Non-finite numbers are plain JSON strings: an export file and Import-FleData carry them unchanged.
        var file = Path.Combine(source.Folder, "export.jsonl.gz");
        await target.ExportToFileAsync(new FleTrajectoryQuery(), file);
        await using var copy = await source.NewTargetAsync(FleBackend.Sqlite, "copy");
        await copy.ImportFileAsync(file);
        Assert.Equal(await StoreSnapshot.TakeAsync(target), await StoreSnapshot.TakeAsync(copy));
    }

    /// <summary>Every trajectory and step against what FLE's client wrote.</summary>
    private static async Task VerifyAsync(FleStore target, FleClientSource source, List<PlannedProgram> plan)
    {
        var all = await target.GetAllTrajectoriesAsync();
        foreach (var group in plan.GroupBy(p => p.Run))
        {
            var expected = Runs[group.Key];
            var rows = group.ToList();
            var op = rows[0].Op;
            var t = Assert.Single(all, x => Equals(x.Metadata["version"], Convert.ToInt64(op["version"])) && Equals(x.Metadata["process_id"], Convert.ToInt64(op["process_id"])));
            var steps = await FleStore.ToListAsync(target.GetStepsAsync(t.Id, default, includeGameState: true));
            var imported = rows.Where(p => p.Step is not null).ToList();
            Assert.Equal(imported.Select(p => p.Step!.Value), steps.Select(s => s.StepNumber));
            foreach (var (p, s) in imported.Zip(steps)) VerifyStep(source, p, s);

            var dated = rows.Where(p => p.Skip != FleProgramSkipReason.InvalidTimestamp).ToList();
            var last = imported[^1];
            Assert.Equal(expected.TaskId, t.TaskId);
            Assert.Equal(expected.Status, t.Status);
            Assert.Equal(last.Op["error_occurred"] is true ? FleTrajectoryStatus.Failed : FleTrajectoryStatus.Completed, t.Status); // the same row
            Assert.Equal(steps[^1].Timestamp, t.EndTime);
            Assert.Equal(steps[0].Timestamp, t.StartTime); // the first rows of these runs are imported
            var key = $"{op["version"]}|{op["process_id"]}|{op["instance"]}";
            Assert.Equal(FleProgramTableImporter.TrajectoryId(key, dated[0].Written.Id, t.StartTime), t.Id);
            Assert.Equal("gpt-4o", t.Metadata["model"]);
            Assert.Equal("unknown", t.Metadata["sweep_id"]); // FLE_SWEEP_ID unset, as in FLE
            Assert.Equal(Convert.ToInt64(op["instance"]), t.Metadata["instance"]);
            var from = Assert.IsType<Dictionary<string, object?>>(t.Metadata["imported_from"]);
            Assert.Equal("fle-programs", from["format"]);
            Assert.Equal(expected.Numbering.ToString(), from["step_numbering"]);
            Assert.Equal(expected.PositionFromStep, from.TryGetValue("position_from_step", out var pf) ? (long?)pf : null);
            Assert.Equal(dated[0].Written.Id, from["first_program_id"]);
            Assert.Equal((long)rows.Count, from["rows"]);
        }
        Assert.Equal(Runs.Count, all.Count);
    }

    private static void VerifyStep(FleClientSource source, PlannedProgram p, FleStep s)
    {
        var w = p.Written;
        Assert.Equal(p.Op["code"], s.AgentCode);
        Assert.Equal(p.Op["response"], s.EnvironmentFeedback);
        // created_at: SQLite's CURRENT_TIMESTAMP is UTC to the second; PostgreSQL's TIMESTAMP is the server's local time
        // (Asia/Kolkata here) to the microsecond. Either way it is the moment of FLE's insert.
        var lower = source.IsPostgres ? w.Before.AddMilliseconds(-2) : new DateTime(w.Before.Ticks - w.Before.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
        Assert.InRange(s.Timestamp, lower, w.After.AddMilliseconds(2));
        Assert.Equal(w.StateJson is not null, s.HasGameState);
        if (w.StateJson is not null) Assert.Equal(Encoding.UTF8.GetBytes(w.StateJson), Assert.IsType<FleCheckpoint>(s).GameState); // GameState.to_raw(), byte for byte

        var m = JsonNode.Parse(s.MetadataJson)!.AsObject();
        Assert.Equal(w.Id, (long)m["program_id"]!);
        Assert.Equal(w.Depth, (double)m["depth"]!);
        Assert.Equal(Convert.ToDouble(p.Op["token_usage"]), (double)m["token_usage"]!);
        Assert.Equal("gpt-4o", (string?)m["model"]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(w.ConversationJson), m["conversation"]), "conversation");
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(w.AchievementsJson), m["achievements"]), "achievements");
        // Non-finite numbers: Python's json.dumps writes NaN / Infinity / -Infinity; Fle keeps them as those strings.
        var meta = JsonNode.Parse(w.Meta.Replace("-Infinity", "\"-Infinity\"").Replace(" Infinity", " \"Infinity\"").Replace("NaN", "\"NaN\""));
        Assert.True(JsonNode.DeepEquals(meta, m["meta"]), $"meta: FLE wrote {w.Meta}, Fle stored {m["meta"]?.ToJsonString()}");
        if (p.Op["production_score"] is "__nan__") Assert.Equal("NaN", (string?)m["meta"]!["production_score"]);
        if (p.Op["value"] is "__nan__")
        {
            // A NaN REAL: PostgreSQL stores NaN (-> "NaN"); SQLite stores NULL for a NaN (-> null). ±Infinity stay on both.
            if (source.IsPostgres) Assert.Equal("NaN", (string?)m["value"]);
            else Assert.Null(m["value"]);
            Assert.Equal("Infinity", (string?)m["raw_reward"]);
            Assert.Equal("-Infinity", (string?)m["holdout_value"]);
        }
        if (p.Op["meta_extra"] is Dictionary<string, object?> extra && extra.ContainsKey("best"))
        {
            Assert.Equal("Infinity", (string?)m["meta"]!["best"]);
            Assert.Equal("-Infinity", (string?)m["meta"]!["worst"]);
        }
        if (source.IsPostgres && p.Op["code"] is "print('A1')")
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""[{"operation_name": "step", "start_time": 1.5, "end_time": 2.25}]"""), m["timing_metrics"]), "timing_metrics");
        else Assert.Null(m["timing_metrics"]); // create_program writes none
    }
}

using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Fle.Core.Codec;
using Fle.Core.Configuration;

namespace Fle.Core.Storage;

/// <summary>Optimisation, information and integrity checks.</summary>
public abstract partial class FleStore
{
    private static readonly Regex IndexStatement = new(@"^CREATE (UNIQUE )?INDEX (\w+) ON", RegexOptions.CultureInvariant);

    /// <summary>The schema's indexes as CREATE INDEX IF NOT EXISTS statements, with their names.</summary>
    internal IReadOnlyList<(string Name, string Sql)> SchemaIndexes()
    {
        var migrations = Backend == FleBackend.Sqlite ? Schema.Sqlite : Schema.Postgres;
        var list = new List<(string, string)>();
        foreach (var m in migrations)
        foreach (var sql in m.Statements)
        {
            var match = IndexStatement.Match(sql);
            if (match.Success) list.Add((match.Groups[2].Value, sql.Replace(" INDEX ", " INDEX IF NOT EXISTS ", StringComparison.Ordinal)));
        }
        return list;
    }

    private static readonly string[] FleTables = ["trajectories", "steps", "state_dictionaries", "game_states", "fle_schema_version"];

    /// <summary>Size on disk: the SQLite file plus -wal and -shm, or pg_database_size.</summary>
    public async Task<long> GetSizeOnDiskAsync(CancellationToken cancellationToken = default)
    {
        if (Backend == FleBackend.Sqlite)
            return FileLength(Settings.SqlitePath) + FileLength(Settings.SqlitePath + "-wal") + FileLength(Settings.SqlitePath + "-shm");
        return await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var cmd = Command(conn, "SELECT pg_database_size(current_database())");
            return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }, null, null, cancellationToken).ConfigureAwait(false);
    }

    private static long FileLength(string p) => File.Exists(p) ? new FileInfo(p).Length : 0;

    /// <summary>
    /// Optimize: SQLite — WAL, cache_size, the schema's indexes, ANALYZE, PRAGMA optimize, VACUUM, wal_checkpoint(TRUNCATE);
    /// PostgreSQL — the schema's indexes, VACUUM (ANALYZE) on Fle's tables.
    /// </summary>
    public async Task<FleOptimizeResult> OptimizeAsync(IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var sw = Stopwatch.StartNew();
        var before = await GetSizeOnDiskAsync(cancellationToken).ConfigureAwait(false);
        var actions = new List<string>();
        await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            var steps = new List<(string Label, string Sql)>();
            var existing = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            await using (var q = Command(conn, Backend == FleBackend.Sqlite
                ? "SELECT name FROM sqlite_master WHERE type = 'index'"
                : "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
            await using (var r = await q.ExecuteReaderAsync(ct).ConfigureAwait(false))
                while (await r.ReadAsync(ct).ConfigureAwait(false)) existing.Add(r.GetString(0));
            foreach (var (name, sql) in SchemaIndexes())
                steps.Add((existing.Contains(name) ? $"index {name}: present" : $"index {name}: created", sql));
            if (Backend == FleBackend.Sqlite)
            {
                steps.Insert(0, ("PRAGMA journal_mode=WAL", "PRAGMA journal_mode=WAL"));
                steps.Insert(1, ("PRAGMA cache_size=-64000 (64 MB)", "PRAGMA cache_size=-64000"));
                steps.Add(("ANALYZE", "ANALYZE"));
                steps.Add(("PRAGMA optimize", "PRAGMA optimize"));
                steps.Add(("VACUUM", "VACUUM"));
                steps.Add(("PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA wal_checkpoint(TRUNCATE)"));
            }
            else
            {
                foreach (var t in FleTables) steps.Add(($"VACUUM (ANALYZE) {t}", $"VACUUM (ANALYZE) {t}"));
            }
            for (var i = 0; i < steps.Count; i++)
            {
                progress?.Report(new FleProgress("Optimize-FleDatabase", steps[i].Label, 100 * i / steps.Count));
                await using var cmd = Command(conn, steps[i].Sql);
                cmd.CommandTimeout = 0;
                var result = await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false);
                var label = steps[i].Label;
                if (steps[i].Sql == "PRAGMA journal_mode=WAL") label = $"PRAGMA journal_mode=WAL -> {result}";
                actions.Add(label);
            }
            return 0;
        }, null, null, cancellationToken).ConfigureAwait(false);
        var after = await GetSizeOnDiskAsync(cancellationToken).ConfigureAwait(false);
        return new FleOptimizeResult { Backend = Backend, Location = Location, SizeBefore = before, SizeAfter = after, Actions = actions, Duration = sw.Elapsed };
    }

    /// <summary>Backend, location, schema version, sizes, counts, raw vs stored state bytes, journal mode.</summary>
    public async Task<FleDatabaseInfo> GetInfoAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            long[] n = new long[7];
            await using (var cmd = Command(conn,
                "SELECT (SELECT COUNT(*) FROM trajectories), (SELECT COUNT(*) FROM steps), (SELECT COUNT(*) FROM game_states), " +
                "(SELECT COUNT(*) FROM state_dictionaries), (SELECT COALESCE(SUM(raw_size), 0) FROM game_states), " +
                "(SELECT COALESCE(SUM(length(state_data)), 0) FROM game_states), (SELECT COALESCE(SUM(length(data)), 0) FROM state_dictionaries)"))
            await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                await r.ReadAsync(ct).ConfigureAwait(false);
                for (var i = 0; i < n.Length; i++) n[i] = Convert.ToInt64(r.GetValue(i), CultureInfo.InvariantCulture);
            }
            string? journal = null, version;
            long size;
            long? file = null, wal = null;
            if (Backend == FleBackend.Sqlite)
            {
                journal = await ScalarText(conn, "PRAGMA journal_mode", ct).ConfigureAwait(false);
                version = "SQLite " + await ScalarText(conn, "SELECT sqlite_version()", ct).ConfigureAwait(false);
                file = FileLength(Settings.SqlitePath);
                wal = FileLength(Settings.SqlitePath + "-wal");
                size = file.Value + wal.Value + FileLength(Settings.SqlitePath + "-shm");
            }
            else
            {
                version = "PostgreSQL " + await ScalarText(conn, "SHOW server_version", ct).ConfigureAwait(false);
                size = Convert.ToInt64(await ScalarText(conn, "SELECT pg_database_size(current_database())::text", ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            }
            return new FleDatabaseInfo
            {
                Backend = Backend, Location = Location, SchemaVersion = SchemaVersion, SizeOnDisk = size, FileSize = file, WalSize = wal,
                Trajectories = n[0], Steps = n[1], States = n[2], Dictionaries = n[3], RawStateBytes = n[4], StoredStateBytes = n[5] + n[6],
                JournalMode = journal, ServerVersion = version,
            };
        }, null, null, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<string?> ScalarText(DbConnection conn, string sql, CancellationToken ct)
    {
        await using var cmd = Command(conn, sql);
        return Convert.ToString(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// The integrity checks of an open database: SQLite integrity_check and foreign_key_check, journal mode, the schema's
    /// indexes, orphans (steps without trajectory, states without step, states whose keyframe dictionary is missing) and,
    /// with <paramref name="deep"/>, that every game state decodes to its recorded size.
    /// </summary>
    public async Task<List<FleDatabaseCheck>> CheckAsync(bool deep = false, IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var checks = new List<FleDatabaseCheck>();
        FleDatabaseCheck C(string name, FleCheckStatus st, string msg, long problems = 0) => new()
        {
            Check = name, Status = st, Message = msg, Problems = problems, Backend = Backend, Location = Location,
        };
        checks.Add(C("Schema", FleCheckStatus.Passed, $"Connected; schema version {SchemaVersion} (this Fle knows up to {Schema.CurrentVersion})."));
        await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            if (Backend == FleBackend.Sqlite)
            {
                var journal = await ScalarText(conn, "PRAGMA journal_mode", ct).ConfigureAwait(false);
                checks.Add(string.Equals(journal, "wal", StringComparison.OrdinalIgnoreCase)
                    ? C("JournalMode", FleCheckStatus.Passed, "WAL is on (readers do not block the writer).")
                    : C("JournalMode", FleCheckStatus.Warning, $"The journal mode is '{journal}', not WAL: concurrent agents will block each other. Run Optimize-FleDatabase to turn WAL on.", 1));

                var problems = new List<string>();
                await using (var cmd = Command(conn, "PRAGMA integrity_check"))
                {
                    cmd.CommandTimeout = 0;
                    await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    while (await r.ReadAsync(ct).ConfigureAwait(false)) problems.Add(r.GetString(0));
                }
                checks.Add(problems is ["ok"]
                    ? C("IntegrityCheck", FleCheckStatus.Passed, "PRAGMA integrity_check: ok.")
                    : C("IntegrityCheck", FleCheckStatus.Failed,
                        $"PRAGMA integrity_check found {problems.Count} problem(s), e.g. '{problems.FirstOrDefault()}'. The file is damaged: restore it with Restore-FleDatabase from a backup (or try: sqlite3 {Settings.SqlitePath} '.recover').",
                        problems.Count));

                var fk = 0L;
                string? firstFk = null;
                await using (var cmd = Command(conn, "PRAGMA foreign_key_check"))
                await using (var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
                    while (await r.ReadAsync(ct).ConfigureAwait(false)) { fk++; firstFk ??= $"{r.GetString(0)} row {r.GetValue(1)} -> {r.GetString(2)}"; }
                checks.Add(fk == 0
                    ? C("ForeignKeys", FleCheckStatus.Passed, "PRAGMA foreign_key_check: no violations.")
                    : C("ForeignKeys", FleCheckStatus.Failed, $"PRAGMA foreign_key_check found {fk} row(s) pointing at missing rows (first: {firstFk}). Remove the orphans or restore from a backup.", fk));
            }

            var indexes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            await using (var q = Command(conn, Backend == FleBackend.Sqlite
                ? "SELECT name FROM sqlite_master WHERE type = 'index'"
                : "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"))
            await using (var r = await q.ExecuteReaderAsync(ct).ConfigureAwait(false))
                while (await r.ReadAsync(ct).ConfigureAwait(false)) indexes.Add(r.GetString(0));
            var missing = SchemaIndexes().Select(i => i.Name).Where(n => !indexes.Contains(n)).ToList();
            checks.Add(missing.Count == 0
                ? C("Indexes", FleCheckStatus.Passed, "Every index of the schema is present.")
                : C("Indexes", FleCheckStatus.Warning, $"Missing index(es): {string.Join(", ", missing)}. Queries will be slow; run Optimize-FleDatabase to create them.", missing.Count));

            (string Name, string Sql, string What)[] orphans =
            [
                ("OrphanSteps", "SELECT COUNT(*) FROM steps s WHERE NOT EXISTS (SELECT 1 FROM trajectories t WHERE t.id = s.trajectory_id)", "step(s) whose trajectory is missing"),
                ("OrphanStates", "SELECT COUNT(*) FROM game_states g WHERE NOT EXISTS (SELECT 1 FROM steps s WHERE s.id = g.step_id)", "game state(s) whose step is missing"),
                ("MissingDictionaries", "SELECT COUNT(*) FROM game_states g WHERE (g.dictionary_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM state_dictionaries d WHERE d.id = g.dictionary_id)) OR (g.codec = 2 AND g.dictionary_id IS NULL)", "game state(s) whose keyframe dictionary is missing (they cannot be decoded)"),
                ("OrphanDictionaries", "SELECT COUNT(*) FROM state_dictionaries d WHERE NOT EXISTS (SELECT 1 FROM trajectories t WHERE t.id = d.trajectory_id)", "keyframe dictionar(ies) whose trajectory is missing"),
            ];
            foreach (var (name, sql, what) in orphans)
            {
                await using var cmd = Command(conn, sql);
                cmd.CommandTimeout = 0;
                var count = Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
                checks.Add(count == 0
                    ? C(name, FleCheckStatus.Passed, $"No {what}.")
                    : C(name, FleCheckStatus.Failed, $"{count} {what}. The database was changed outside Fle or is damaged: restore from a backup, or export the sound trajectories (Export-FleData) and import them into a new database.", count));
            }
            return 0;
        }, null, null, cancellationToken).ConfigureAwait(false);

        if (deep) checks.Add(await DecodeAllAsync(C, progress, cancellationToken).ConfigureAwait(false));
        return checks;
    }

    private async Task<FleDatabaseCheck> DecodeAllAsync(Func<string, FleCheckStatus, string, long, FleDatabaseCheck> c, IProgress<FleProgress>? progress, CancellationToken cancellationToken)
    {
        long total = 0, bad = 0;
        var examples = new List<string>();
        await RunAsync(async ct =>
        {
            await using var conn = await OpenConnectionAsync(ct).ConfigureAwait(false);
            long count;
            await using (var n = Command(conn, "SELECT COUNT(*) FROM game_states"))
                count = Math.Max(1, Convert.ToInt64(await n.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture));
            await using var cmd = Command(conn, "SELECT trajectory_id, step_number, codec, dictionary_id, raw_size, state_data FROM game_states ORDER BY id");
            cmd.CommandTimeout = 0;
            await using var r = await cmd.ExecuteReaderAsync(System.Data.CommandBehavior.SequentialAccess, ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false))
            {
                var tid = r.GetString(0);
                var step = r.GetInt64(1);
                var codec = (StateCodecKind)Convert.ToInt16(r.GetValue(2), CultureInfo.InvariantCulture);
                long? dict = r.IsDBNull(3) ? null : r.GetInt64(3);
                var size = Convert.ToInt32(r.GetValue(4), CultureInfo.InvariantCulture);
                var data = (byte[])r.GetValue(5);
                total++;
                try { Codec.Decode(codec, data, size, dict, LoadDictionaryData); }
                catch (FleException e)
                {
                    bad++;
                    if (examples.Count < 3) examples.Add($"{tid}#{step}: {e.Message}");
                }
                if (total % 200 == 0) progress?.Report(new FleProgress("Test-FleDatabase", $"Decoding game states: {total} of {count}", (int)(100 * total / count)));
            }
            return 0;
        }, null, null, cancellationToken).ConfigureAwait(false);
        return bad == 0
            ? c("GameStates", FleCheckStatus.Passed, $"All {total} game states decode to their recorded size.", 0)
            : c("GameStates", FleCheckStatus.Failed, $"{bad} of {total} game states do not decode (e.g. {string.Join("; ", examples)}). Restore those trajectories from a backup or an export file.", bad);
    }
}

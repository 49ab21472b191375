using System.Data;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Dapper;
using Fle.Core.Codec;

namespace Fle.Core.Storage;

/// <summary>Optimisation, information and integrity checks: what every backend shares; the provider adds its own steps and checks.</summary>
public sealed partial class FleStore
{
    private static readonly Regex IndexStatement = new(@"^CREATE (UNIQUE )?INDEX (\w+) ON", RegexOptions.CultureInvariant);

    /// <summary>The schema's indexes as CREATE INDEX IF NOT EXISTS statements, with their names.</summary>
    internal IReadOnlyList<(string Name, string Sql)> SchemaIndexes()
    {
        var list = new List<(string, string)>();
        foreach (var m in Provider.Migrations)
        foreach (var sql in m.Statements)
        {
            var match = IndexStatement.Match(sql);
            if (match.Success) list.Add((match.Groups[2].Value, sql.Replace(" INDEX ", " INDEX IF NOT EXISTS ", StringComparison.Ordinal)));
        }
        return list;
    }

    /// <summary>Size on disk: the SQLite file plus -wal and -shm, or pg_database_size.</summary>
    public Task<long> GetSizeOnDiskAsync(CancellationToken cancellationToken = default)
        => RunAsync(Provider.GetSizeOnDiskAsync, null, null, cancellationToken);

    /// <summary>What <see cref="OptimizeAsync"/> does on this backend, in a line.</summary>
    public string OptimizePlan => Provider.OptimizePlan;

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
        await DbAsync(async (conn, ct) =>
        {
            var existing = new HashSet<string>(await conn.QueryAsync<string>(Cmd(Provider.ListIndexesSql, null, ct)).ConfigureAwait(false), StringComparer.OrdinalIgnoreCase);
            var (first, last) = Provider.OptimizeSteps;
            var steps = first.Concat(SchemaIndexes().Select(i => (existing.Contains(i.Name) ? $"index {i.Name}: present" : $"index {i.Name}: created", i.Sql)))
                .Concat(last).ToList();
            for (var i = 0; i < steps.Count; i++)
            {
                progress?.Report(new FleProgress("Optimize", steps[i].Item1, 100 * i / steps.Count));
                var result = await conn.ExecuteScalarAsync<object>(new CommandDefinition(steps[i].Item2, commandTimeout: 0, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
                actions.Add(steps[i].Item2 == "PRAGMA journal_mode=WAL" ? $"PRAGMA journal_mode=WAL -> {result}" : steps[i].Item1);
            }
            return 0;
        }, null, cancellationToken).ConfigureAwait(false);
        var after = await GetSizeOnDiskAsync(cancellationToken).ConfigureAwait(false);
        return new FleOptimizeResult { Backend = Backend, Location = Location, SizeBefore = before, SizeAfter = after, Actions = actions, Duration = sw.Elapsed };
    }

    /// <summary>Backend, location, schema version, sizes, counts, raw vs stored state bytes, journal mode.</summary>
    public Task<FleDatabaseInfo> GetInfoAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return DbAsync(async (conn, ct) =>
        {
            var n = await conn.QuerySingleAsync<(long, long, long, long, long, long, long)>(Cmd(
                "SELECT (SELECT COUNT(*) FROM trajectories), (SELECT COUNT(*) FROM steps), (SELECT COUNT(*) FROM game_states), " +
                "(SELECT COUNT(*) FROM state_dictionaries), (SELECT COALESCE(SUM(raw_size), 0) FROM game_states), " +
                "(SELECT COALESCE(SUM(length(state_data)), 0) FROM game_states), (SELECT COALESCE(SUM(length(data)), 0) FROM state_dictionaries)", null, ct))
                .ConfigureAwait(false);
            var b = await Provider.DescribeAsync(conn, ct).ConfigureAwait(false);
            return new FleDatabaseInfo
            {
                Backend = Backend, Location = Location, SchemaVersion = SchemaVersion, SizeOnDisk = b.SizeOnDisk, FileSize = b.FileSize, WalSize = b.WalSize,
                Trajectories = n.Item1, Steps = n.Item2, States = n.Item3, Dictionaries = n.Item4, RawStateBytes = n.Item5, StoredStateBytes = n.Item6 + n.Item7,
                JournalMode = b.JournalMode, ServerVersion = b.ServerVersion,
            };
        }, null, cancellationToken);
    }

    /// <summary>
    /// The integrity checks of an open database: the backend's own (SQLite integrity_check, foreign_key_check, journal
    /// mode), the schema's indexes, orphans (steps without trajectory, states without step, states whose keyframe
    /// dictionary is missing) and, with <paramref name="deep"/>, that every game state decodes to its recorded size.
    /// </summary>
    public async Task<List<FleDatabaseCheck>> CheckAsync(bool deep = false, IProgress<FleProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var checks = new List<FleDatabaseCheck>();
        var c = CheckFactory();
        checks.Add(c("Schema", FleCheckStatus.Passed, $"Connected; schema version {SchemaVersion} (this Fle knows up to {Schema.CurrentVersion})."));
        await DbAsync(async (conn, ct) =>
        {
            checks.AddRange(await Provider.CheckIntegrityAsync(conn, c, ct).ConfigureAwait(false));
            var indexes = new HashSet<string>(await conn.QueryAsync<string>(Cmd(Provider.ListIndexesSql, null, ct)).ConfigureAwait(false), StringComparer.OrdinalIgnoreCase);
            var missing = SchemaIndexes().Select(i => i.Name).Where(n => !indexes.Contains(n)).ToList();
            checks.Add(missing.Count == 0
                ? c("Indexes", FleCheckStatus.Passed, "Every index of the schema is present.")
                : c("Indexes", FleCheckStatus.Warning, $"Missing index(es): {string.Join(", ", missing)}. Queries will be slow; optimizing the database creates them.", missing.Count));

            (string Name, string Sql, string What)[] orphans =
            [
                ("OrphanSteps", "SELECT COUNT(*) FROM steps s WHERE NOT EXISTS (SELECT 1 FROM trajectories t WHERE t.id = s.trajectory_id)", "step(s) whose trajectory is missing"),
                ("OrphanStates", "SELECT COUNT(*) FROM game_states g WHERE NOT EXISTS (SELECT 1 FROM steps s WHERE s.id = g.step_id)", "game state(s) whose step is missing"),
                ("MissingDictionaries", "SELECT COUNT(*) FROM game_states g WHERE (g.dictionary_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM state_dictionaries d WHERE d.id = g.dictionary_id)) OR (g.codec = 2 AND g.dictionary_id IS NULL)", "game state(s) whose keyframe dictionary is missing (they cannot be decoded)"),
                ("OrphanDictionaries", "SELECT COUNT(*) FROM state_dictionaries d WHERE NOT EXISTS (SELECT 1 FROM trajectories t WHERE t.id = d.trajectory_id)", "keyframe dictionar(ies) whose trajectory is missing"),
            ];
            foreach (var (name, sql, what) in orphans)
            {
                var count = await conn.ExecuteScalarAsync<long>(new CommandDefinition(sql, commandTimeout: 0, cancellationToken: ct, commandType: CommandType.Text)).ConfigureAwait(false);
                checks.Add(count == 0
                    ? c(name, FleCheckStatus.Passed, $"No {what}.")
                    : c(name, FleCheckStatus.Failed, $"{count} {what}. The database was changed outside Fle or is damaged: restore from a backup, or export the sound trajectories and import them into a new database.", count));
            }
            return 0;
        }, null, cancellationToken).ConfigureAwait(false);

        if (deep) checks.Add(await DecodeAllAsync(c, progress, cancellationToken).ConfigureAwait(false));
        return checks;
    }

    /// <summary>The checks of this database: each with its backend and location.</summary>
    internal CheckFactory CheckFactory() => (name, st, msg, problems) => new FleDatabaseCheck
    {
        Check = name, Status = st, Message = msg, Problems = problems, Backend = Backend, Location = Location,
    };

    private async Task<FleDatabaseCheck> DecodeAllAsync(CheckFactory c, IProgress<FleProgress>? progress, CancellationToken cancellationToken)
    {
        long total = 0, bad = 0;
        var examples = new List<string>();
        var count = Math.Max(1, await DbAsync((conn, ct) => conn.ExecuteScalarAsync<long>(Cmd("SELECT COUNT(*) FROM game_states", null, ct)), null, cancellationToken)
            .ConfigureAwait(false));
        // Hand-written reader: every state of the database, one at a time.
        await foreach (var (tid, step, codec, dict, size, data) in StreamAsync(
            "SELECT trajectory_id, step_number, codec, dictionary_id, raw_size, state_data FROM game_states ORDER BY id", [], System.Data.CommandBehavior.SequentialAccess, null,
            r => (r.GetString(0), r.GetInt64(1), (StateCodecKind)Convert.ToInt16(r.GetValue(2), CultureInfo.InvariantCulture), r.IsDBNull(3) ? (long?)null : r.GetInt64(3),
                Convert.ToInt32(r.GetValue(4), CultureInfo.InvariantCulture), (byte[])r.GetValue(5)), cancellationToken).ConfigureAwait(false))
        {
            total++;
            try { Codec.Decode(codec, data, size, dict, LoadDictionaryData); }
            catch (FleException e)
            {
                bad++;
                if (examples.Count < 3) examples.Add($"{tid}#{step}: {e.Message}");
            }
            if (total % 200 == 0) progress?.Report(new FleProgress("Check", $"Decoding game states: {total} of {count}", (int)(100 * total / count)));
        }
        return bad == 0
            ? c("GameStates", FleCheckStatus.Passed, $"All {total} game states decode to their recorded size.")
            : c("GameStates", FleCheckStatus.Failed, $"{bad} of {total} game states do not decode (e.g. {string.Join("; ", examples)}). Restore those trajectories from a backup or an export file.", bad);
    }
}

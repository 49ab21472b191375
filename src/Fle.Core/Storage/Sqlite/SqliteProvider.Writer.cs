using Fle.Core.Codec;
using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage.Sqlite;

/// <summary>
/// The hot write path: one writer connection per store with its statements prepared once (hand-written, not Dapper:
/// a save is BEGIN IMMEDIATE, up to three prepared inserts bound by position, COMMIT), and the WAL kept bounded.
/// </summary>
internal sealed partial class SqliteProvider
{
    private const int MaxBusyRetries = 8;

    /// <summary>A game state row, replacing the state of a step saved again (-Force).</summary>
    private static readonly string UpsertState = SqliteDialect.Instance.Text.InsertState + " ON CONFLICT (step_id) DO UPDATE SET " +
        TableDef.Excluded(["codec", "dictionary_id", "raw_size", "state_data", "timestamp"]) + " RETURNING id";

    public override async Task<(long StepId, long StateId, long? NewDictionaryId)> WriteStepAsync(
        FleStepInput input, string metadataJson, DateTime timestamp, EncodedState? state, CancellationToken ct)
    {
        // Retries are bounded by count and by the busy timeout overall, so a database that stays locked
        // reports FleDatabaseBusy after about that long, not after several timeouts in a row.
        var deadline = Environment.TickCount64 + Settings.BusyTimeoutSeconds * 1000L;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await WriteOnceAsync(input, metadataJson, timestamp, state, ct).ConfigureAwait(false);
            }
            catch (SqliteException e) when (IsBusy(e) && attempt < MaxBusyRetries && Environment.TickCount64 < deadline)
            {
                // The busy timeout already waited; back off with jitter and try the whole transaction again.
                await Task.Delay(Random.Shared.Next(10, 50) * (attempt + 1), ct).ConfigureAwait(false);
            }
        }
    }

    private async Task<(long, long, long?)> WriteOnceAsync(FleStepInput input, string meta, DateTime ts, EncodedState? state, CancellationToken ct)
    {
        // One writer connection per store with its statements prepared once (SQLite serialises writers anyway);
        // a checkpoint is BEGIN IMMEDIATE, up to three prepared inserts, COMMIT.
        await _writeGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // Closed meanwhile (the process is ending: SqliteOpenFiles closed it): nothing is written after the WAL was folded in.
            ObjectDisposedException.ThrowIf(_disposed, this);
            var w = _writer ??= new Writer(this);
            try
            {
                var result = w.Write(input, meta, TimeParameter(ts), state, ct);
                AfterCommit(w);
                return result;
            }
            catch (SqliteException e) when (!IsBusy(e) && e.SqliteErrorCode != 19)
            {
                // Anything but a lock or a constraint may have left the connection unusable: open a fresh one next time.
                e.Data[ErrnoKey] = w.LastErrno;
                _writer = null;
                w.Dispose();
                throw;
            }
            catch (DatabaseFileMovedException)
            {
                _writer = null;
                throw FileMoved(w, input);
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private Writer? _writer;

    // ------------------------------------------------------------------ WAL checkpoints off the write path
    //
    // SQLite copies the WAL back into the database file ("checkpoint", with two fsyncs) on the commit that takes the
    // WAL past 1,000 pages: with FLE-sized checkpoints one save in a few hundred stalled for several milliseconds. So
    // every CheckpointEveryCommits commits a PASSIVE checkpoint runs on a pooled connection on the thread pool,
    // alongside the writes (it never blocks them). A background checkpoint rarely catches up with a busy writer, though,
    // and only a checkpoint that has copied every frame lets the next write start the WAL from its beginning again. So
    // the writer counts its WAL's frames (SQLite's WAL hook) and, once they reach RestartFrames (16 MiB of the file's pages), waits for a background
    // checkpoint still running (it holds the checkpoint lock) and runs one itself after that commit: cheap then, the
    // background ones copied almost everything. Its next write starts the WAL over, and journal_size_limit cuts the
    // file back. The WAL stays near RestartFrames pages whatever the number of saves, and however slowly the thread
    // pool runs the background ones. (A reader that keeps an old snapshot open holds every checkpoint back, as in
    // SQLite.) When the last store of a file in this process closes, a TRUNCATE checkpoint leaves the database file
    // self-contained (see SqliteOpenFiles).

    private const int CheckpointEveryCommits = 64;
    internal const long RestartWalBytes = 16L << 20; // RestartFrames: 4,096 frames of 4 KiB pages, 16,384 of 1 KiB pages
    internal const long JournalSizeLimit = 16L << 20;
    private int _commitsSinceCheckpoint;
    private int _checkpointRunning;
    private Task _checkpoint = Task.CompletedTask;

    /// <summary>After each commit of the writer connection (under the write gate).</summary>
    private void AfterCommit(Writer w)
    {
        if (w.WalFrames >= w.RestartFrames)
        {
            try { _checkpoint.Wait(); } catch (AggregateException) { }
            w.Checkpoint();
            _commitsSinceCheckpoint = 0;
            return;
        }
        if (++_commitsSinceCheckpoint < CheckpointEveryCommits) return;
        _commitsSinceCheckpoint = 0;
        StartBackgroundCheckpoint();
    }

    private void StartBackgroundCheckpoint()
    {
        if (Interlocked.CompareExchange(ref _checkpointRunning, 1, 0) != 0) return;
        _checkpoint = Task.Run(BackgroundCheckpoint);
    }

    private void BackgroundCheckpoint()
    {
        try
        {
            using var conn = new SqliteConnection(_connectionString);
            conn.Open();
            // The PRAGMA, not sqlite3_wal_checkpoint_v2 on the fresh handle: a connection that has not read the database
            // yet has not opened its WAL either, and the C call then does nothing ("not in WAL mode", -1 frames).
            Checkpoint(conn, "PASSIVE");
        }
        catch (Exception e) when (e is SqliteException or InvalidOperationException or ObjectDisposedException)
        {
            // Only an optimisation: the writer's own checkpoints and the one on close still run.
        }
        finally
        {
            Volatile.Write(ref _checkpointRunning, 0);
        }
    }

    /// <summary>PRAGMA wal_checkpoint(mode): the frames in the WAL and how many of them are in the database file.</summary>
    internal static (int Log, int Checkpointed) Checkpoint(SqliteConnection conn, string mode)
    {
        using var cmd = conn.CreateCommand();
        cmd.CommandText = $"PRAGMA wal_checkpoint({mode})";
        using var r = cmd.ExecuteReader();
        return r.Read() ? (r.GetInt32(1), r.GetInt32(2)) : (0, 0);
    }

    /// <summary>The store's writer connection and its prepared statements (used under <see cref="_writeGate"/>).</summary>
    private sealed class Writer : IDisposable
    {
        private readonly SqliteConnection _conn;
        private readonly SqliteProvider _store;
        private readonly SqliteCommand _dict, _step, _overwrite, _state, _deleteState, _commit, _rootStored;

        /// <summary>The WAL frames after which the writer restarts the WAL itself: RestartWalBytes of this file's pages.</summary>
        public readonly int RestartFrames;

        public Writer(SqliteProvider store)
        {
            _store = store;
            _conn = (SqliteConnection)store.OpenConnection();
            try
            {
                // Parameters in the tables' column order (Tables): Run binds them by position.
                var sql = SqliteDialect.Instance.Text;
                _dict = Prepare(sql.InsertDictionary, Tables.StateDictionaries.Data);
                _step = Prepare(sql.InsertStep, Tables.Steps.Data);
                _overwrite = Prepare(sql.OverwriteStep, Tables.Steps.Data);
                _state = Prepare(UpsertState, Tables.GameStates.Data);
                _deleteState = Prepare("DELETE FROM game_states WHERE step_id = @step_id", ["step_id"]);
                _commit = Prepare("COMMIT", []);
                _rootStored = Prepare($"SELECT 1 FROM state_dictionaries WHERE id = @id AND raw_size = @raw_size AND trajectory_id IN {SqlText.LineageIds("@trajectory_id")}",
                    ["id", "trajectory_id", "raw_size"]);
                _walHook = SqliteNative.TrackWalFrames(_conn, _walFrames); // instead of SQLite's automatic checkpoints
                using var page = _conn.CreateCommand();
                page.CommandText = "PRAGMA page_size";
                RestartFrames = (int)(RestartWalBytes / Math.Max(512L, (long)page.ExecuteScalar()!));
            }
            catch
            {
                _conn.Dispose();
                throw;
            }
        }

        private SqliteCommand Prepare(string sql, IEnumerable<string> columns)
        {
            var cmd = _conn.CreateCommand();
            cmd.CommandText = sql;
            foreach (var c in columns) cmd.Parameters.Add(new SqliteParameter { ParameterName = "@" + c });
            return cmd;
        }

        private static long Run(SqliteCommand cmd, params object?[] values)
        {
            for (var i = 0; i < values.Length; i++) cmd.Parameters[i].Value = values[i] ?? DBNull.Value;
            var id = cmd.ExecuteScalar();
            for (var i = 0; i < values.Length; i++) cmd.Parameters[i].Value = DBNull.Value; // do not keep the caller's data alive
            return id is null or DBNull ? 0 : (long)id;
        }

        public (long, long, long?) Write(FleStepInput input, string meta, object time, EncodedState? state, CancellationToken ct)
        {
            // A file deleted or replaced under the session would take every later save with it (SQLite writes on into
            // the unlinked file): one stat per save finds it first.
            if (SqliteNative.HasMoved(_conn)) throw new DatabaseFileMovedException();
            // The transaction is the connection's own (BEGIN IMMEDIATE with the store's short-step lock wait).
            _store.BeginImmediate(_conn, ct);
            var committed = false;
            try
            {
                long? newDict = null;
                if (state?.NewDictionaryRoot is { } root && Run(_rootStored, root.Id, input.TrajectoryId, root.Content.Length) == 0)
                    throw new RootKeyframeGoneException();
                if (state?.NewDictionaryData is { } dictData)
                    newDict = Run(_dict, input.TrajectoryId, state.RawSize, dictData, time);
                var stepId = Run(input.Overwrite ? _overwrite : _step,
                    input.TrajectoryId, input.StepNumber, input.AgentCode, input.EnvironmentFeedback, time, meta);
                long stateId = 0;
                if (state is not null)
                    stateId = Run(_state, input.TrajectoryId, stepId, input.StepNumber, (short)state.Codec, newDict ?? state.DictionaryId, state.RawSize, state.Data, time);
                else if (input.Overwrite)
                    Run(_deleteState, stepId);
                _commit.ExecuteNonQuery();
                committed = true;
                return (stepId, stateId, newDict);
            }
            finally
            {
                if (!committed) SQLitePCL.raw.sqlite3_exec(_conn.Handle, "ROLLBACK");
            }
        }

        private readonly SqliteNative.WalFrames _walFrames = new();
        private readonly System.Runtime.InteropServices.GCHandle _walHook;

        /// <summary>Frames in the WAL after the last commit.</summary>
        public int WalFrames => _walFrames.Count;

        /// <summary>A PASSIVE checkpoint on the writer connection (between transactions; its WAL is open).</summary>
        public void Checkpoint()
        {
            SQLitePCL.raw.sqlite3_wal_checkpoint_v2(_conn.Handle, "main", SQLitePCL.raw.SQLITE_CHECKPOINT_PASSIVE, out _, out _);
            _walFrames.Count = 0; // the next commit says how many there are
        }

        /// <summary>errno of the connection's last failed system call.</summary>
        public int LastErrno => SqliteNative.LastErrno(_conn);

        /// <summary>Copy what this connection sees (the database as it was opened, with its WAL) into a new file.</summary>
        public void CopyTo(string path)
        {
            using var dst = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
            dst.Open();
            _conn.BackupDatabase(dst);
            using var cmd = dst.CreateCommand();
            cmd.CommandText = "PRAGMA journal_mode=DELETE";
            cmd.ExecuteScalar();
        }

        public void Dispose()
        {
            foreach (var c in new[] { _dict, _step, _overwrite, _state, _deleteState, _commit, _rootStored }) c?.Dispose();
            // The connection goes back to the pool: give it SQLite's automatic checkpoints back (they replace the hook).
            try { SqliteNative.StopTracking(_conn, _walHook, 1000); } catch (Exception e) when (e is SqliteException or InvalidOperationException or NullReferenceException) { }
            _conn.Dispose();
        }
    }

    /// <summary>
    /// BEGIN IMMEDIATE, waiting for the write lock in short jittered steps. SQLite's own busy handler sleeps ever
    /// longer (up to 100 ms a try): with several writer processes a waiting one sleeps while the lock is free, and
    /// 4 processes wrote 5 to 10 times slower than one. Bounded by the same busy timeout; on expiry SQLITE_BUSY,
    /// which <see cref="WriteStepAsync"/> retries a few times before FleDatabaseBusy reaches the caller.
    /// </summary>
    private void BeginImmediate(SqliteConnection conn, CancellationToken ct)
    {
        var db = conn.Handle!;
        SQLitePCL.raw.sqlite3_busy_timeout(db, 0);
        try
        {
            var deadline = Environment.TickCount64 + Settings.BusyTimeoutSeconds * 1000L;
            for (var tries = 0; ; tries++)
            {
                var rc = SQLitePCL.raw.sqlite3_exec(db, "BEGIN IMMEDIATE");
                if (rc == SQLitePCL.raw.SQLITE_OK) return;
                var ext = SQLitePCL.raw.sqlite3_extended_errcode(db);
                if ((rc & 0xFF) is not (SQLitePCL.raw.SQLITE_BUSY or SQLitePCL.raw.SQLITE_LOCKED) || Environment.TickCount64 >= deadline)
                    throw new SqliteException(SQLitePCL.raw.sqlite3_errmsg(db).utf8_to_string(), rc, ext);
                ct.ThrowIfCancellationRequested();
                if (tries < 3) Thread.Yield();
                else Thread.Sleep(1);
            }
        }
        finally
        {
            SQLitePCL.raw.sqlite3_busy_timeout(db, Settings.BusyTimeoutSeconds * 1000);
        }
    }
}

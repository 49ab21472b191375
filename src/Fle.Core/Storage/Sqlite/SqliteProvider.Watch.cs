using Microsoft.Data.Sqlite;

namespace Fle.Core.Storage.Sqlite;

/// <summary>Watching a trajectory: PRAGMA data_version on a connection of the watch, polled (no trigger, no table read).</summary>
internal sealed partial class SqliteProvider
{
    /// <summary>How often a watch asks whether the file changed: a step shows within this (plus its read).</summary>
    internal static readonly TimeSpan WatchPollInterval = TimeSpan.FromMilliseconds(100);

    public override Task<ChangeWatch> WatchAsync(string trajectoryId, CancellationToken ct)
    {
        var conn = (SqliteConnection)OpenConnection();
        try
        {
            return Task.FromResult<ChangeWatch>(new DataVersionWatch(conn));
        }
        catch
        {
            conn.Dispose();
            throw;
        }
    }

    /// <summary>
    /// PRAGMA data_version changes on a connection whenever another connection (of any process) commits to the file;
    /// reading it starts and ends a read transaction, a few microseconds, and holds nothing between polls (no snapshot
    /// that would hold back WAL checkpoints). It changes for a commit of any trajectory, so a busy file gives false
    /// alarms: each costs the engine one indexed read of the trajectory's row.
    /// </summary>
    private sealed class DataVersionWatch : ChangeWatch
    {
        private readonly SqliteConnection _conn;
        private readonly SqliteCommand _dataVersion;
        private long _seen;

        public DataVersionWatch(SqliteConnection conn)
        {
            _conn = conn;
            _dataVersion = conn.CreateCommand();
            _dataVersion.CommandText = "PRAGMA data_version";
            _seen = Read();
        }

        private long Read() => (long)_dataVersion.ExecuteScalar()!;

        public override async Task<bool> WaitAsync(TimeSpan maxWait, CancellationToken ct)
        {
            var deadline = Deadline(maxWait);
            while (true)
            {
                var version = Read();
                if (version != _seen)
                {
                    _seen = version;
                    return true;
                }
                var left = deadline - Environment.TickCount64;
                if (left <= 0) return false;
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(left, WatchPollInterval.TotalMilliseconds)), ct).ConfigureAwait(false);
            }
        }

        public override ValueTask DisposeAsync()
        {
            _dataVersion.Dispose();
            _conn.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}

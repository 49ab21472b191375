namespace Fle.Core.Storage.Sqlite;

/// <summary>Fle's schema on SQLite, as ordered forward migrations (released ones never change).</summary>
internal static class SqliteSchema
{
    public const string VersionTable =
        "CREATE TABLE IF NOT EXISTS fle_schema_version (version INTEGER NOT NULL PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)";

    // state_dictionaries.id is AUTOINCREMENT: stores cache keyframes by id, so an id must never name two
    // different keyframes (a plain INTEGER PRIMARY KEY reuses the id of a deleted last row). PostgreSQL
    // identity columns never reuse ids.
    public static readonly Schema.Migration[] Migrations =
    [
        new(1, "trajectories, steps, game states, keyframe dictionaries",
        [
            """
            CREATE TABLE trajectories (
                id TEXT NOT NULL PRIMARY KEY,
                task_id TEXT NOT NULL,
                start_time TEXT NOT NULL,
                end_time TEXT,
                status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'completed', 'failed')),
                metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))
            )
            """,
            "CREATE INDEX idx_trajectory_task ON trajectories (task_id)",
            "CREATE INDEX idx_trajectory_start ON trajectories (start_time)",
            """
            CREATE TABLE steps (
                id INTEGER PRIMARY KEY,
                trajectory_id TEXT NOT NULL REFERENCES trajectories (id) ON DELETE CASCADE,
                step_number INTEGER NOT NULL CHECK (step_number >= 0),
                agent_code TEXT NOT NULL,
                environment_feedback TEXT NOT NULL,
                timestamp TEXT NOT NULL,
                metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))
            )
            """,
            "CREATE UNIQUE INDEX idx_step_trajectory ON steps (trajectory_id, step_number)",
            "CREATE INDEX idx_step_timestamp ON steps (timestamp)",
            """
            CREATE TABLE state_dictionaries (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                trajectory_id TEXT NOT NULL REFERENCES trajectories (id) ON DELETE CASCADE,
                raw_size INTEGER NOT NULL,
                data BLOB NOT NULL,
                created_at TEXT NOT NULL
            )
            """,
            "CREATE INDEX idx_state_dictionary_trajectory ON state_dictionaries (trajectory_id, id)",
            """
            CREATE TABLE game_states (
                id INTEGER PRIMARY KEY,
                trajectory_id TEXT NOT NULL REFERENCES trajectories (id) ON DELETE CASCADE,
                step_id INTEGER NOT NULL UNIQUE REFERENCES steps (id) ON DELETE CASCADE,
                step_number INTEGER NOT NULL,
                codec INTEGER NOT NULL,
                dictionary_id INTEGER REFERENCES state_dictionaries (id) ON DELETE CASCADE,
                raw_size INTEGER NOT NULL,
                state_data BLOB NOT NULL,
                timestamp TEXT NOT NULL
            )
            """,
            "CREATE UNIQUE INDEX idx_game_state_trajectory_step ON game_states (trajectory_id, step_number)",
            "CREATE INDEX idx_game_state_dictionary ON game_states (dictionary_id)",
        ]),
        new(2, "trajectories that branch: parent and fork step",
        [
            // A fork reads its parent's steps 0..fork_step_number through the parent; deleting a parent that has forks is
            // refused by the foreign key (no ON DELETE action).
            "ALTER TABLE trajectories ADD COLUMN parent_id TEXT REFERENCES trajectories (id)",
            "ALTER TABLE trajectories ADD COLUMN fork_step_number INTEGER CHECK (fork_step_number >= 0)",
            "CREATE INDEX idx_trajectory_parent ON trajectories (parent_id)",
        ]),
    ];
}

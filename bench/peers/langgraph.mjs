// LangGraph's checkpointers on Fle's benchmark workload (issue 15): what a user would pick instead of Fle.
// node langgraph.mjs --backend sqlite|postgres --db <file | connection string> --workload <steps.jsonl>
//                    --runs 2 --samples 400 [--json out.json]
// Each run is a thread of the workload's steps; each step one durable put (SqliteSaver: better-sqlite3, WAL,
// synchronous=FULL, its default; PostgresSaver: one transaction per put). A step's checkpoint holds the step's agent code,
// environment feedback, game state and metadata as channel values, the way a LangGraph agent would keep them.
import { readFileSync, statSync, existsSync, writeFileSync } from "node:fs";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { uuid6 } from "@langchain/langgraph-checkpoint";
import pg from "pg";

const args = Object.fromEntries(process.argv.slice(2).reduce((a, x, i, all) => (x.startsWith("--") ? [...a, [x.slice(2), all[i + 1]]] : a), []));
const backend = args.backend, runs = Number(args.runs ?? 2), samples = Number(args.samples ?? 400);
const steps = readFileSync(args.workload, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const raw = steps.reduce((n, s) => n + Buffer.byteLength(s.code) + Buffer.byteLength(s.feedback) + Buffer.byteLength(s.state), 0) / steps.length;

let saver, pool;
if (backend === "sqlite") {
  saver = SqliteSaver.fromConnString(args.db);
  saver.setup();
} else {
  pool = new pg.Pool({ connectionString: args.db, max: 2 });
  saver = new PostgresSaver(pool);
  await saver.setup();
}

const channels = ["agent_code", "environment_feedback", "game_state", "metadata"];
const now = () => Number(process.hrtime.bigint()) / 1e6;
const latencies = [];
let written = 0;
const t0 = now();
for (let r = 0; r < runs; r++) {
  const thread = `fle-bench-${r}-${process.pid}`;
  let config = { configurable: { thread_id: thread, checkpoint_ns: "" } };
  for (const s of steps) {
    const version = s.n + 1;
    const checkpoint = {
      v: 4, id: uuid6(r * 100000 + s.n), ts: new Date().toISOString(),
      channel_values: { agent_code: s.code, environment_feedback: s.feedback, game_state: s.state, metadata: s.meta },
      channel_versions: Object.fromEntries(channels.map((c) => [c, version])), versions_seen: {},
    };
    const t = now();
    config = await saver.put(config, checkpoint, { source: "loop", step: s.n, parents: {} }, Object.fromEntries(channels.map((c) => [c, version])));
    latencies.push(now() - t);
    written++;
  }
}
const seconds = (now() - t0) / 1000;

// Latest checkpoint of a thread (what a resume reads), as a user calls it.
const reads = [];
for (let i = 0; i < samples; i++) {
  const t = now();
  const tuple = await saver.getTuple({ configurable: { thread_id: `fle-bench-${i % runs}-${process.pid}`, checkpoint_ns: "" } });
  reads.push(now() - t);
  if (!tuple || tuple.checkpoint.channel_values.game_state.length < 1000) throw new Error("getTuple returned no state");
}

let bytes;
if (backend === "sqlite") {
  saver.db.pragma("wal_checkpoint(TRUNCATE)");
  bytes = statSync(args.db).size + (existsSync(args.db + "-wal") ? statSync(args.db + "-wal").size : 0);
  saver.db.close();
} else {
  const res = await pool.query(`SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.relname LIKE 'checkpoint%'`);
  bytes = Number(res.rows[0].n);
  await pool.end();
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const out = {
  peer: `LangGraph ${backend === "sqlite" ? "SqliteSaver" : "PostgresSaver"}`, backend, runs, steps: steps.length,
  checkpoints_per_s: written / seconds, put_ms_median: pct(latencies, 0.5), put_ms_p99: pct(latencies, 0.99),
  latest_ms_median: pct(reads, 0.5), latest_ms_p99: pct(reads, 0.99),
  bytes_per_step: bytes / written, raw_payload_bytes_per_step: raw, fraction_of_raw: bytes / written / raw,
};
if (args.json) writeFileSync(args.json, JSON.stringify(out));
console.log(JSON.stringify(out));

// LangGraph's checkpointers on Fle's benchmark workload (issue 15): what a user would pick instead of Fle.
//
//   node langgraph.mjs --backend sqlite|postgres --db <file | connection string> --workload <steps.jsonl>
//                      [--synchronous full|normal] [--runs 2] [--samples 400] [--serve] [--json out.json]
//
// Each run is a thread of the workload's steps; each step one durable put (SqliteSaver: better-sqlite3, WAL; synchronous
// as SqliteSaver leaves it, NORMAL: better-sqlite3 builds SQLite with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, the same setting
// as Fle's; or what --synchronous says. PostgresSaver: one transaction per put). A step's checkpoint
// holds the step's agent code, environment feedback, game state and metadata as channel values, the way a LangGraph
// agent would keep them. Then the latest checkpoint of a thread (what a resume reads) is read --samples times, and the
// bytes on disk are measured.
//
// --serve (bench/Save-Loop.ps1): one process for the whole comparison, like the pwsh that runs Save-FleCheckpoint. It
// reads JSON lines on stdin and answers each with one line on stdout:
//   {"from": 0, "count": 90, "thread": "t"}  puts those steps of the workload on thread t -> {"checkpoints_per_s", ...}
//   {"measure": true, "samples": 400}         latest-checkpoint reads and bytes on disk  -> {"latest_ms_median", ...}
import { readFileSync, statSync, existsSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { uuid6 } from "@langchain/langgraph-checkpoint";
import pg from "pg";

const args = Object.fromEntries(process.argv.slice(2).reduce((a, x, i, all) =>
  (x.startsWith("--") ? [...a, [x.slice(2), all[i + 1] === undefined || all[i + 1].startsWith("--") ? "true" : all[i + 1]]] : a), []));
const backend = args.backend;
const workload = readFileSync(args.workload, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const rawOf = (s) => Buffer.byteLength(s.code) + Buffer.byteLength(s.feedback) + Buffer.byteLength(s.state);

let saver, pool;
if (backend === "sqlite") {
  saver = SqliteSaver.fromConnString(args.db);
  saver.setup();
  if (args.synchronous) saver.db.pragma(`synchronous=${args.synchronous.toUpperCase()}`);
} else {
  pool = new pg.Pool({ connectionString: args.db, max: 2 });
  saver = new PostgresSaver(pool);
  await saver.setup();
}
const synchronous = backend === "sqlite"
  ? "synchronous=" + ["OFF", "NORMAL", "FULL", "EXTRA"][saver.db.pragma("synchronous", { simple: true })]
  : "synchronous_commit=" + (await pool.query("SHOW synchronous_commit")).rows[0].synchronous_commit;
const peer = `LangGraph ${backend === "sqlite" ? "SqliteSaver" : "PostgresSaver"}`;

const channels = ["agent_code", "environment_feedback", "game_state", "metadata"];
const now = () => Number(process.hrtime.bigint()) / 1e6;
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const configs = new Map(); // thread -> the config of its last put (the parent of the next)

async function put(thread, steps, run = 0) {
  let config = configs.get(thread) ?? { configurable: { thread_id: thread, checkpoint_ns: "" } };
  const latencies = [];
  const t0 = now();
  for (const s of steps) {
    const version = s.n + 1;
    const checkpoint = {
      v: 4, id: uuid6(run * 100000 + s.n), ts: new Date().toISOString(),
      channel_values: { agent_code: s.code, environment_feedback: s.feedback, game_state: s.state, metadata: s.meta },
      channel_versions: Object.fromEntries(channels.map((c) => [c, version])), versions_seen: {},
    };
    const t = now();
    config = await saver.put(config, checkpoint, { source: "loop", step: s.n, parents: {} }, Object.fromEntries(channels.map((c) => [c, version])));
    latencies.push(now() - t);
  }
  configs.set(thread, config);
  return { seconds: (now() - t0) / 1000, latencies };
}

async function measure(samples) {
  // the latest checkpoint of a thread, as a user calls it, over every thread stored (a few untimed reads first)
  const threads = backend === "sqlite"
    ? saver.db.prepare("SELECT DISTINCT thread_id FROM checkpoints").all().map((r) => r.thread_id)
    : (await pool.query("SELECT DISTINCT thread_id FROM checkpoints")).rows.map((r) => r.thread_id);
  const reads = [];
  for (let i = 0; i < samples + 20; i++) {
    const t = now();
    const tuple = await saver.getTuple({ configurable: { thread_id: threads[i % threads.length], checkpoint_ns: "" } });
    if (i >= 20) reads.push(now() - t);
    if (!tuple || tuple.checkpoint.channel_values.game_state.length < 1000) throw new Error("getTuple returned no state");
  }
  let bytes, stored;
  if (backend === "sqlite") {
    stored = saver.db.prepare("SELECT COUNT(*) AS n FROM checkpoints").get().n;
    saver.db.pragma("wal_checkpoint(TRUNCATE)");
    bytes = statSync(args.db).size + (existsSync(args.db + "-wal") ? statSync(args.db + "-wal").size : 0);
  } else {
    stored = Number((await pool.query("SELECT COUNT(*) AS n FROM checkpoints")).rows[0].n);
    const res = await pool.query(`SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'r' AND n.nspname = current_schema() AND c.relname LIKE 'checkpoint%'`);
    bytes = Number(res.rows[0].n);
  }
  // every stored checkpoint is a step of the workload, each written once per thread
  const raw = workload.reduce((n, s) => n + rawOf(s), 0) / workload.length;
  return { threads: threads.length, stored, latest_ms_median: pct(reads, 0.5), latest_ms_p99: pct(reads, 0.99),
    bytes_per_step: bytes / stored, raw_payload_bytes_per_step: raw, fraction_of_raw: bytes / stored / raw };
}

async function close() {
  if (backend === "sqlite") saver.db.close(); else await pool.end();
}

if (args.serve === "true") {
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    let answer;
    if (cmd.measure) answer = { peer, backend, synchronous, ...(await measure(Number(cmd.samples ?? 400))) };
    else {
      const steps = workload.slice(cmd.from, cmd.from + cmd.count);
      const { seconds, latencies } = await put(cmd.thread, steps);
      answer = { peer, backend, synchronous, steps: steps.length, checkpoints_per_s: steps.length / seconds, put_ms_median: pct(latencies, 0.5), put_ms_p99: pct(latencies, 0.99) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
  await close();
} else {
  const runs = Number(args.runs ?? 2);
  const latencies = [];
  let seconds = 0;
  for (let r = 0; r < runs; r++) {
    const result = await put(`fle-bench-${r}-${process.pid}`, workload, r);
    seconds += result.seconds;
    latencies.push(...result.latencies);
  }
  const out = { peer, backend, synchronous, runs, steps: workload.length, checkpoints_per_s: runs * workload.length / seconds,
    put_ms_median: pct(latencies, 0.5), put_ms_p99: pct(latencies, 0.99), ...(await measure(Number(args.samples ?? 400))) };
  await close();
  if (args.json) writeFileSync(args.json, JSON.stringify(out));
  console.log(JSON.stringify(out));
}

#!/usr/bin/env python3
"""Writes FLE `programs` tables the way FLE itself does, for Fle's tests of Import-FleProgramTable.

FLE's own code is not part of this repository: it is extracted at run time from the git snapshot named by
FLE_SOURCE_GIT (default: /work/.mirror/JackHopkins+factorio-learning-environment/repo), `fle/commons` only, with
`fle/__init__.py` replaced by a stub that defines `__version__` (FLE's own imports the game and the LLM clients).
The table is created with FLE's DDL (create_default_sqlite_db / create_default_postgres_db) and every row is written
by FLE's client (DBClient.create_program; on PostgreSQL also update_program), from FLE's models (Program,
Conversation, GameState.to_raw()).

`fle_programs.py --check` only checks that all of that is there (prints "ok").

Input (stdin): one JSON object
    {"db": {"type": "sqlite", "file": PATH} | {"type": "postgres", "host", "port", "dbname", "user", "password"},
     "ops": [OP, ...]}
with OP one of
    {"op": "create_table"}                         FLE's DDL, through FLE's function
    {"op": "sql", "sql": TEXT, "params": [...]}    the user's own SQL (pruning, a JSONB column, a time zone)
    {"op": "program", ...}                         Program(...) -> create_program (see program() below); "parent": N
                                                   sets parent_id to the id of this input's Nth program op,
                                                   "parent_id": ID sets it to ID (FLE's search algorithms)
    {"op": "update", "id": N, "set": {...}}        update_program (FLE's SQLite client cannot: PostgreSQL only)
A float anywhere may be given as "__nan__", "__inf__" or "__-inf__" (JSON has no NaN): it becomes that float, which
json.dumps then writes as NaN, Infinity or -Infinity, as FLE does.

Output (stdout): a JSON list, one entry per "program" op: the row's id and created_at as FLE's client returned them,
its parent_id, the wall clock (time.time()) just before and after the call, and the exact texts FLE's client sent for the JSON
columns (state_json = GameState.to_raw(), conversation_json, meta, achievements_json) and the stored depth.

Exit code 3, with a line "FLE client unavailable: <what is missing>" on stderr, when FLE's source, a Debian package
or pydantic 2 is missing; anything else that fails is exit code 1 with the traceback.
"""

import asyncio
import base64
import contextlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zlib

DEFAULT_SOURCE = "/work/.mirror/JackHopkins+factorio-learning-environment/repo"
DEBIAN = "/usr/lib/python3/dist-packages"
PACKAGES = {"tenacity": "python3-tenacity", "psycopg2": "python3-psycopg2", "numpy": "python3-numpy", "PIL": "python3-pil", "dotenv": "python3-dotenv"}
MAX_OPS = 20000


def unavailable(what):
    print(f"FLE client unavailable: {what}", file=sys.stderr)
    sys.exit(3)


def prepare(workdir):
    """Extract FLE's fle/commons, stub fle/__init__.py, link Debian's packages; check pydantic 2."""
    if sys.version_info < (3, 10):
        unavailable(f"{sys.executable} is Python {sys.version.split()[0]}; FLE's client needs Python >= 3.10")
    try:
        import pydantic
    except ImportError:
        unavailable(f"{sys.executable} has no pydantic; FLE's models need pydantic 2 (the machine's default python3 has it)")
    if not pydantic.VERSION.startswith("2."):
        unavailable(f"{sys.executable} has pydantic {pydantic.VERSION}; FLE's models need pydantic 2 (Debian's python3-pydantic 1.10 is too old)")
    missing = [deb for name, deb in PACKAGES.items() if not os.path.isdir(os.path.join(DEBIAN, name))]
    if missing:
        unavailable("Debian packages " + ", ".join(missing) + f" are not installed (no {DEBIAN}/<name>): "
                    "./build.ps1 -Task Test installs them when run as root, or run: apt-get install -y " + " ".join(missing))
    source = os.environ.get("FLE_SOURCE_GIT") or DEFAULT_SOURCE
    if not os.path.exists(source):
        unavailable(f"FLE's source: FLE_SOURCE_GIT ({source}) does not exist; point it at a git clone (or bare snapshot) of "
                    "JackHopkins/factorio-learning-environment 0.4.x")
    git = shutil.which("git")
    if git is None:
        unavailable("git is not on PATH (needed to extract FLE's source from FLE_SOURCE_GIT)")
    archive = subprocess.run([git, f"--git-dir={source}" if not os.path.isdir(os.path.join(source, ".git")) else f"--git-dir={source}/.git",
                              "archive", "HEAD", "fle/commons"], capture_output=True)
    if archive.returncode != 0 or not archive.stdout:
        unavailable(f"FLE's source: 'git archive HEAD fle/commons' failed in {source}: {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", workdir], input=archive.stdout, check=True)
    if not os.path.isfile(os.path.join(workdir, "fle", "commons", "db_client.py")):
        unavailable(f"FLE's source in {source} has no fle/commons/db_client.py")
    with open(os.path.join(workdir, "fle", "__init__.py"), "w") as f:
        f.write('__version__ = "0.4.3"\n')
    deps = os.path.join(workdir, "deps")
    os.mkdir(deps)
    for name in PACKAGES:
        os.symlink(os.path.join(DEBIAN, name), os.path.join(deps, name))
    sys.path[:0] = [workdir, deps]


def special(v):
    """'__nan__' / '__inf__' / '__-inf__' -> float, recursively."""
    if isinstance(v, str) and v in ("__nan__", "__inf__", "__-inf__"):
        return {"__nan__": float("nan"), "__inf__": float("inf"), "__-inf__": float("-inf")}[v]
    if isinstance(v, dict):
        return {k: special(x) for k, x in v.items()}
    if isinstance(v, list):
        return [special(x) for x in v]
    return v


def game_state(spec):
    """A GameState as FLE builds it: entities a base64 zlib blob, inventories, research, pickled namespaces."""
    from fle.commons.models.game_state import GameState
    from fle.commons.models.research_state import ResearchState
    from fle.commons.models.technology_state import TechnologyState

    tick = int(spec.get("tick", 0))
    agents = int(spec.get("agents", 1))
    techs = int(spec.get("technologies", 40))
    entities = [{"name": "burner-mining-drill", "position": {"x": i + 0.5, "y": -61.0 + tick % 7}, "direction": i % 4,
                 "status": "working" if (i + tick) % 3 else "no_fuel", "fuel": {"coal": (tick * 3 + i) % 50}} for i in range(3 + tick % 5)]
    technologies = {f"tech-{t}": TechnologyState(name=f"tech-{t}", researched=t < tick, enabled=True, level=1, research_unit_count=10 * t,
                                                 research_unit_energy=30.0, prerequisites=[f"tech-{t - 1}"] if t else [],
                                                 ingredients=[{"automation-science-pack": 1}]) for t in range(techs)}
    research = ResearchState(technologies=technologies, current_research="automation", research_progress=0.25 * (tick % 4),
                             research_queue=["automation"], progress={})
    return GameState(
        entities=base64.b64encode(zlib.compress(json.dumps(entities).encode())).decode(),
        inventories=[{"iron-plate": 10 * tick + a, "coal": 50, "wooden-chest": a} for a in range(agents)],
        research=research,
        timestamp=1735725600.25 + tick,
        namespaces=[pickle.dumps({"drills": tick, "agent": a, "note": "Ünïcödé ✓"}) for a in range(agents)],
        agent_messages=[[] for _ in range(agents)],
    )


def program(op, parent_id=None):
    """Program(...) as FLE's trajectory runner builds it (meta: model, process_id, error_occurred, sweep_id, production_score),
    or with "meta": "search" as FLE's search algorithms do (MCTS._generate_programs_batch: meta text_response and model, no
    process_id; a parent_id), or with "meta": "none" as chunked MCTS does (no meta: {})."""
    from fle.commons.models.conversation import Conversation
    from fle.commons.models.program import Program

    conversation = Conversation()
    conversation.set_system_message("You are an agent playing Factorio. Write Python.\nÜnïcödé ✓")
    for s in range(int(op.get("turns", 1))):
        conversation.add_result(f"print(inspect_inventory())  # turn {s}", f"{s}: ('Inventory: {{\"coal\": 50}}')")
    kind = op.get("meta", "runner")
    if kind == "search":
        meta = {"text_response": op.get("text_response", f"I will run {op['code']!r}."), "model": op.get("meta_model", op.get("model", "gpt-4o"))}
    elif kind == "none":
        meta = {}
    else:
        meta = {
            "model": op.get("meta_model", op.get("model", "gpt-4o")),
            "process_id": op.get("process_id", 0),
            "error_occurred": bool(op.get("error_occurred", False)),
            "sweep_id": op.get("sweep_id", "unknown"),
            "production_score": special(op.get("production_score", 0.0)),
        }
    meta.update(special(op.get("meta_extra", {})))
    return Program(
        code=op["code"],
        conversation=conversation,
        response=op.get("response"),
        token_usage=op.get("token_usage"),
        completion_token_usage=op.get("completion_token_usage"),
        prompt_token_usage=op.get("prompt_token_usage"),
        version=int(op.get("version", 1)),
        instance=int(op.get("instance", -1)),
        model=op.get("model", "gpt-4o"),
        version_description=op.get("version_description", ""),
        value=special(op.get("value", 0.0)),
        raw_reward=special(op.get("raw_reward")),
        holdout_value=special(op.get("holdout_value")),
        advantage=special(op.get("advantage", 0.0)),
        ticks=int(op.get("ticks", 0)),
        state=game_state(op["state"]) if op.get("state") is not None else None,
        achievements=special(op.get("achievements", {})),
        meta=meta,
        depth=int(op.get("depth", 0)),
        parent_id=parent_id,
    )


async def run(spec):
    from fle.commons import db_client as fle

    db = spec["db"]
    if db["type"] == "sqlite":
        config = {"database_file": db["file"]}
        client = fle.SQLliteDBClient(max_conversation_length=40, min_connections=1, max_connections=2, **config)
    else:
        config = {k: db[k] for k in ("host", "port", "dbname", "user", "password")}
        client = fle.PostgresDBClient(max_conversation_length=40, min_connections=1, max_connections=2, **config)
    out = []
    ops = spec.get("ops", [])
    if len(ops) > MAX_OPS:
        raise ValueError(f"{len(ops)} operations; at most {MAX_OPS}")
    try:
        for op in ops:
            kind = op["op"]
            if kind == "create_table":
                if db["type"] == "sqlite":
                    fle.create_default_sqlite_db(db["file"])
                else:
                    fle.create_default_postgres_db(**config)
            elif kind == "sql":
                sql(db, config, op["sql"], op.get("params", []))
            elif kind == "program":
                parent_id = out[int(op["parent"])]["id"] if op.get("parent") is not None else op.get("parent_id")
                p = program(op, int(parent_id) if parent_id is not None else None)
                t0 = time.time()
                saved = await client.create_program(p)
                t1 = time.time()
                out.append({
                    "id": saved.id, "created_at": str(saved.created_at), "t0": t0, "t1": t1, "parent_id": p.parent_id,
                    # the texts create_program sent, computed as it computes them
                    "state_json": p.state.to_raw() if p.state else None,
                    "conversation_json": json.dumps(p.conversation.dict()),
                    "meta": json.dumps(p.meta),
                    "achievements_json": json.dumps(p.achievements),
                    "depth": p.depth / 2,
                })
            elif kind == "update":
                if db["type"] != "postgres":
                    raise ValueError("FLE's SQLite client cannot update_program (its cursor is no context manager): use an 'sql' op")
                try:
                    await client.update_program(int(op["id"]), special(op["set"]))
                except TypeError:
                    # FLE 0.4.3 commits the UPDATE, then fails to build the Program it returns (Program.from_row hands the
                    # conversation_json text to Conversation.parse_raw, which wants a dict): the row is updated.
                    pass
            else:
                raise ValueError(f"unknown op {kind!r}")
    finally:
        await client.cleanup()
    return out


def sql(db, config, text, params):
    if db["type"] == "sqlite":
        import sqlite3
        conn = sqlite3.connect(db["file"])
        try:
            conn.execute(text, params)
            conn.commit()
        finally:
            conn.close()
    else:
        import psycopg2
        conn = psycopg2.connect(**config)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(text, params or None)
        finally:
            conn.close()


def main():
    if sys.argv[1:] == ["--check"]:
        workdir = tempfile.mkdtemp(prefix="fle-client-")
        try:
            with contextlib.redirect_stdout(sys.stderr):
                prepare(workdir)
                try:
                    import fle.commons.db_client  # noqa: F401  (FLE's client imports with what is there)
                except ImportError as e:
                    unavailable(f"FLE's client (fle.commons.db_client) does not import: {e}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print("ok")
        return
    spec = json.load(sys.stdin)
    out = sys.stdout
    workdir = tempfile.mkdtemp(prefix="fle-client-")
    # FLE's client prints ("Creating SQLite database schema ..."): keep stdout for the result.
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # pydantic 2 on FLE's conversation.dict()
    try:
        with contextlib.redirect_stdout(sys.stderr):
            prepare(workdir)
            result = asyncio.run(run(spec))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    json.dump(result, out)


if __name__ == "__main__":
    main()

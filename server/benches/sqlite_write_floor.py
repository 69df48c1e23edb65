#!/usr/bin/env python3
"""What SQLite alone spends on the rows the ingest benchmark's SETs leave.

Not part of Riskline: a measurement for the README's Performance section.
It takes the database of an ingest run kept with RISKLINE_BENCH_KEEP=1,
removes its last N `detections` rows, and writes them again the way the
SET writer does (batches of 45, the size of a full-speed group commit: the
batch's users read, one multi-row insert, one update of the users' risk),
through Python's sqlite3 module with prepared statements, on one core. The
CPU time per SET is what SQLite's B-trees, WAL and checkpoints cost for
that work with no Rust, no sqlx and no HTTP around them; the variants
without some indexes, or without the users' update, show which part of it
each costs.

    python3 server/benches/sqlite_write_floor.py /tmp/riskline-ingest-…/bench.db

Pin it as the bench pins the server: `taskset -c 0 python3 …`. It works on
copies; the database given is not changed.
"""
import os
import shutil
import sqlite3
import sys
import tempfile

SECONDARY = ["detections_user", "detections_at", "detections_reported", "detections_source"]
VARIANTS = [
    ("as Riskline stores them", [], True),
    ("without the four secondary indexes", SECONDARY, True),
    ("... and without the dedupe index", SECONDARY + ["detections_set"], True),
    ("without the users' update", [], False),
    ("append only: no index, no update", SECONDARY + ["detections_set"], False),
]


def run(source, n, batch, drop, update):
    work = tempfile.mkdtemp(prefix="sqlite-floor-")
    path = os.path.join(work, "bench.db")
    try:
        src = sqlite3.connect(source)
        src.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dst = sqlite3.connect(path)
        src.backup(dst)
        src.close()
        cols = [r[1] for r in dst.execute("PRAGMA table_info(detections)")]
        rows = dst.execute(
            f"SELECT {','.join(cols)} FROM detections ORDER BY seq DESC LIMIT ?", (n,)
        ).fetchall()[::-1]
        contributions = dict(dst.execute("SELECT id, risk_contributions FROM users"))
        dst.execute("DELETE FROM detections WHERE seq >= ?", (rows[0][0],))
        for index in drop:
            dst.execute(f"DROP INDEX {index}")
        dst.commit()
        dst.execute("VACUUM")
        dst.close()

        db = sqlite3.connect(path, isolation_level=None)
        # As the writer connection: WAL, not synced by the commit (Riskline
        # syncs it from a thread of its own, about 3 µs a SET), an 8 MiB cache.
        for pragma in ["journal_mode=WAL", "synchronous=NORMAL", "cache_size=-8192", "temp_store=MEMORY"]:
            db.execute("PRAGMA " + pragma).fetchall()
        user, level, at = cols.index("user_id"), cols.index("new_level"), cols.index("at_ms")
        insert = (f"INSERT OR FAIL INTO detections ({','.join(cols)}) VALUES "
                  + ",".join(["(" + ",".join("?" * len(cols)) + ")"] * batch))
        update = ("UPDATE users SET risk_level = v.column2, risk_since_ms = v.column3, "
                  "risk_reason = v.column4, updated_ms = v.column5, risk_contributions = v.column6 "
                  "FROM (VALUES " + ",".join(["(?,?,?,?,?,?)"] * batch) + ") AS v WHERE users.id = v.column1")
        select = "SELECT id, login, risk_level, risk_contributions FROM users WHERE id IN (" + ",".join("?" * batch) + ")"
        before = os.times()
        done = 0
        for start in range(0, len(rows) - batch + 1, batch):
            chunk = rows[start:start + batch]
            db.execute("BEGIN IMMEDIATE")
            db.execute(select, [r[user] or "" for r in chunk]).fetchall()
            db.execute(insert, [v for r in chunk for v in r])
            if update:
                # One row per user, as the writer folds a batch's SETs for one user.
                latest = {r[user]: (r[user], r[level] or "LOW", r[at], "reason", r[at],
                                    contributions.get(r[user], "{}")) for r in chunk if r[user]}
                values = list(latest.values())
                values += [("", "LOW", 0, "", 0, "{}")] * (batch - len(values))
                db.execute(update, [v for t in values for v in t])
            db.execute("COMMIT")
            done += batch
        after = os.times()
        db.close()
        cpu = (after.user - before.user) + (after.system - before.system)
        kernel = after.system - before.system
        return cpu / done * 1e6, done, kernel / done * 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    n = int(os.environ.get("FLOOR_SETS", "20000"))
    batch = int(os.environ.get("FLOOR_BATCH", "45"))
    repeat = int(os.environ.get("FLOOR_REPEAT", "3"))
    print(f"SQLite {sqlite3.sqlite_version}, the last {n} detection rows in batches of {batch}; "
          f"µs of CPU per SET, the median of {repeat} runs (in the kernel)")
    for name, drop, update in VARIANTS:
        runs = sorted(run(sys.argv[1], n, batch, drop, update) for _ in range(repeat))
        per_set, _, kernel = runs[len(runs) // 2]
        spread = f"{runs[0][0]:.1f}–{runs[-1][0]:.1f}"
        print(f"  {name:38s} {per_set:6.1f} ({kernel:.1f})   runs {spread}")


if __name__ == "__main__":
    main()

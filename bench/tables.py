"""The plain table that tipg and stock pygeoapi serve: the same rows OneMap serves for dltb.

OneMap keeps each layer in one table partitioned by drawer entry (``onemap.dltb``, list
partitions by ``plan_id``) and answers a collection with the plans in force. Servers
without drawer semantics get those rows as an ordinary table instead::

    CREATE TABLE bench.dltb AS SELECT <every column> FROM onemap.dltb WHERE plan_id IN (<surveys in force>);
    ALTER TABLE bench.dltb ADD PRIMARY KEY (fid);  CREATE INDEX ... USING gist (geom);  ANALYZE

Same columns (upper-case names as in the national specification), same ``fid`` ids, same
``geometry(MultiPolygon, 4490)``. Only the ``bench`` schema is written; a table that
already holds the right row count is kept.
"""

from __future__ import annotations

import time

SCHEMA = "bench"
LAYER = "dltb"
# the demo's land survey in force today: kept per county (三调 is built county by county)
SURVEYS_IN_FORCE = tuple(f"{c}-county-survey-2023" for c in ("990102", "990121", "990122", "990123"))


def _connect(url: str):
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def ensure_plain_table(url: str, plan_ids: tuple[str, ...] = SURVEYS_IN_FORCE) -> dict:
    """Create (or keep) ``bench.dltb``; returns its row count and the seconds spent."""
    t0 = time.monotonic()
    conn = _connect(url)
    try:
        cur = conn.cursor()
        ids = list(plan_ids)
        cur.execute("SELECT count(*) FROM onemap.dltb WHERE plan_id = ANY(%s)", (ids,))
        want = int(cur.fetchone()[0])
        if want == 0:
            raise RuntimeError(f"onemap.dltb has no rows of {', '.join(ids)}: load the demo region first")
        cur.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.{LAYER}",))
        if cur.fetchone()[0] is not None:
            cur.execute(f"SELECT count(*), min(fid), max(fid) FROM {SCHEMA}.{LAYER}")
            have, lo, hi = cur.fetchone()
            cur.execute("SELECT count(*), min(fid), max(fid) FROM onemap.dltb WHERE plan_id = ANY(%s)", (ids,))
            if (have, lo, hi) == tuple(cur.fetchone()):
                return {"rows": have, "seconds": round(time.monotonic() - t0, 1), "created": False}
            cur.execute(f"DROP TABLE {SCHEMA}.{LAYER}")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        # every column of the layer table, in its order (the partition key plan_id included)
        cur.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'onemap.dltb'::regclass "
                    "AND attnum > 0 AND NOT attisdropped ORDER BY attnum")
        cols = ", ".join('"' + r[0].replace('"', '""') + '"' for r in cur.fetchall())
        cur.execute(f"CREATE TABLE {SCHEMA}.{LAYER} AS SELECT {cols} FROM onemap.dltb WHERE plan_id = ANY(%s) "
                    "ORDER BY fid", (ids,))
        cur.execute(f"ALTER TABLE {SCHEMA}.{LAYER} ADD PRIMARY KEY (fid)")
        cur.execute(f"CREATE INDEX {LAYER}_geom_idx ON {SCHEMA}.{LAYER} USING gist (geom)")
        cur.execute(f"ANALYZE {SCHEMA}.{LAYER}")
        return {"rows": want, "seconds": round(time.monotonic() - t0, 1), "created": True}
    finally:
        conn.close()


def settle(url: str) -> float:
    """VACUUM (ANALYZE) the whole database after a load: otherwise autovacuum visits the freshly
    written tables a minute later, in the middle of whichever server is being measured."""
    t0 = time.monotonic()
    conn = _connect(url)
    try:
        conn.autocommit = True  # VACUUM cannot run inside a transaction
        conn.cursor().execute("VACUUM (ANALYZE)")
    finally:
        conn.close()
    return time.monotonic() - t0

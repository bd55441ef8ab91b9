"""Process jobs kept in the store's database, so that any worker on any host can run them.

A job is a row: accepted -> running -> successful | failed | dismissed. A worker claims an
accepted job with a lease and renews it while it reports progress; a job whose lease runs out
(its worker died) is put back for another try, or failed after the last one. Results are
stored in the row, not in local files. Synchronous executions are jobs too and are deleted
after a retention period.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Store

JOB_COLUMNS = ("id", "process_id", "mode", "status", "message", "progress", "created", "started", "updated",
               "finished", "request", "mimetype", "worker", "lease_until", "attempts")


@dataclass
class Job:
    id: str
    process_id: str
    mode: str  # sync | async
    status: str
    message: str | None
    progress: int
    created: float
    started: float | None
    updated: float
    finished: float | None
    request: dict
    mimetype: str | None
    worker: str | None
    lease_until: float | None
    attempts: int

    @classmethod
    def from_row(cls, row: tuple) -> Job:
        rec = dict(zip(JOB_COLUMNS, row))
        rec["request"] = json.loads(rec["request"])
        return cls(**rec)


class JobStore:
    """Job rows on either backend: the SQL is shared, the dialect says how a backend spells its
    placeholder, binary values and a claim that skips rows other workers hold."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.t = store._table_sql("jobs")
        self.p = store.dialect.param
        self.d = store.dialect

    def _select(self) -> str:
        return f"SELECT {', '.join(JOB_COLUMNS)} FROM {self.t}"

    def create(self, process_id: str, mode: str, request: dict, status: str = "accepted",
               message: str = "accepted") -> Job:
        now = time.time()
        job = Job(id=str(uuid.uuid4()), process_id=process_id, mode=mode, status=status, message=message,
                  progress=0, created=now, started=None, updated=now, finished=None, request=request,
                  mimetype=None, worker=None, lease_until=None, attempts=0)
        values = [getattr(job, c) if c != "request" else json.dumps(request, ensure_ascii=False)
                  for c in JOB_COLUMNS]
        with self.store.write_cursor() as cur:
            cur.execute(f"INSERT INTO {self.t} ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join([self.p] * len(values))})",
                        values)
        return job

    def get(self, job_id: str) -> Job | None:
        rows = self.store._rows(f"{self._select()} WHERE id = {self.p}", [job_id])
        return Job.from_row(rows[0]) if rows else None

    def list(self, limit: int = 100, offset: int = 0) -> tuple[list[Job], int]:
        rows = self.store._rows(f"{self._select()} ORDER BY created DESC LIMIT {self.p} OFFSET {self.p}",
                                [limit, offset])
        total = self.store._rows(f"SELECT count(*) FROM {self.t}", [])[0][0]
        return [Job.from_row(r) for r in rows], int(total)

    def result(self, job_id: str) -> tuple[str | None, bytes | None]:
        rows = self.store._rows(f"SELECT mimetype, result FROM {self.t} WHERE id = {self.p}", [job_id])
        if not rows:
            return None, None
        data = rows[0][1]
        return rows[0][0], bytes(data) if data is not None else None

    def update(self, job_id: str, **fields: Any) -> None:
        fields["updated"] = time.time()
        sets = ", ".join(f"{k} = {self.p}" for k in fields)
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.t} SET {sets} WHERE id = {self.p}", [*fields.values(), job_id])

    def progress(self, job_id: str, worker: str, percent: int, message: str, lease_seconds: float) -> str:
        """Record progress and renew the lease; returns the job's status (dismissed = stop)."""
        now = time.time()
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.t} SET progress = {self.p}, message = {self.p}, updated = {self.p}, "
                        f"lease_until = {self.p} WHERE id = {self.p} AND worker = {self.p} AND status = 'running'",
                        [percent, message, now, now + lease_seconds, job_id, worker])
            cur.execute(f"SELECT status FROM {self.t} WHERE id = {self.p}", [job_id])
            row = cur.fetchone()
        return row[0] if row else "dismissed"

    def finish(self, job_id: str, worker: str | None, status: str, message: str,
               mimetype: str | None = None, result: bytes | None = None) -> None:
        now = time.time()
        blob = self._blob(result)
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.t} SET status = {self.p}, message = {self.p}, mimetype = {self.p}, "
                        f"result = {self.p}, finished = {self.p}, updated = {self.p}, lease_until = NULL, "
                        f"progress = CASE WHEN {self.p} = 'successful' THEN 100 ELSE progress END "
                        f"WHERE id = {self.p} AND status <> 'dismissed'",
                        [status, message, mimetype, blob, now, now, status, job_id])

    def _blob(self, data: bytes | None) -> Any:
        return self.d.binary(data) if data is not None else None

    def claim(self, worker: str, lease_seconds: float, max_attempts: int) -> Job | None:
        """Take the oldest accepted async job; first put back (or fail) jobs whose worker died."""
        now = time.time()
        with self.store.write_cursor() as cur:
            # a running job whose lease ran out lost its worker
            gone = "the worker running this job stopped and no attempts are left"
            body = json.dumps({"code": "NoApplicableCode", "type": "NoApplicableCode", "status": 500,
                               "description": gone}).encode()
            cur.execute(f"UPDATE {self.t} SET status = 'failed', finished = {self.p}, updated = {self.p}, "
                        f"message = {self.p}, mimetype = 'application/json', result = {self.p}, lease_until = NULL "
                        f"WHERE status = 'running' AND lease_until < {self.p} AND attempts >= {self.p}",
                        [now, now, gone, self._blob(body), now, max_attempts])
            cur.execute(f"UPDATE {self.t} SET status = 'accepted', worker = NULL, lease_until = NULL, "
                        f"updated = {self.p}, message = {self.p} WHERE status = 'running' AND lease_until < {self.p}",
                        [now, "requeued: the worker running this job stopped", now])
            cur.execute(f"SELECT id FROM {self.t} WHERE status = 'accepted' AND mode = 'async' "
                        f"ORDER BY created LIMIT 1{self.d.skip_locked}")
            row = cur.fetchone()
            if row is None:
                return None
            cur.execute(f"UPDATE {self.t} SET status = 'running', worker = {self.p}, lease_until = {self.p}, "
                        f"attempts = attempts + 1, started = {self.p}, updated = {self.p}, message = {self.p} "
                        f"WHERE id = {self.p}", [worker, now + lease_seconds, now, now, "running", row[0]])
        return self.get(row[0])

    def dismiss(self, job_id: str) -> bool:
        """Dismiss a job: a running one stops at its next progress report; results are dropped."""
        job = self.get(job_id)
        if job is None:
            return False
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.t} SET status = 'dismissed', message = 'dismissed', result = NULL, "
                        f"updated = {self.p}, lease_until = NULL WHERE id = {self.p}", [time.time(), job_id])
        return True

    def purge(self, sync_older_than: float, async_older_than: float) -> int:
        """Retention: delete finished jobs past their keep time."""
        now = time.time()
        with self.store.write_cursor() as cur:
            cur.execute(f"DELETE FROM {self.t} WHERE status IN ('successful', 'failed', 'dismissed') AND "
                        f"((mode = 'sync' AND updated < {self.p}) OR (mode = 'async' AND updated < {self.p}))",
                        [now - sync_older_than, now - async_older_than])
            return max(getattr(cur, "rowcount", 0) or 0, 0)

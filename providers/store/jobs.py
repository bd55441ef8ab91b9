"""Process jobs kept in the store's database, so that any worker on any host can run them.

A job is a row: accepted -> running -> successful | failed | dismissed. A worker claims an
accepted job with a lease and renews it while it reports progress; a job whose lease runs out
(its worker died) is put back for another try, or failed after the last one. Results are
stored in the row, not in local files. Synchronous executions are jobs too, with a lease their
server process renews while it runs them: one whose process died is failed (its client is gone
with the process); they are deleted after a retention period.
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
               "finished", "request", "mimetype", "worker", "lease_until", "attempts", "owner")


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
    owner: str | None = None  # the signed-in user who started it (jobs belong to whoever made them)

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
               message: str = "accepted", worker: str | None = None, lease_seconds: float | None = None,
               owner: str | None = None) -> Job:
        """A new job row of ``owner``; ``worker`` and ``lease_seconds``: one created running, held by that worker."""
        now = time.time()
        job = Job(id=str(uuid.uuid4()), process_id=process_id, mode=mode, status=status, message=message,
                  progress=0, created=now, started=now if worker else None, updated=now, finished=None,
                  request=request, mimetype=None, worker=worker,
                  lease_until=now + lease_seconds if lease_seconds is not None else None, attempts=0,
                  owner=owner)
        values = [getattr(job, c) if c != "request" else json.dumps(request, ensure_ascii=False)
                  for c in JOB_COLUMNS]
        with self.store.write_cursor() as cur:
            cur.execute(f"INSERT INTO {self.t} ({', '.join(JOB_COLUMNS)}) VALUES ({', '.join([self.p] * len(values))})",
                        values)
        return job

    def get(self, job_id: str) -> Job | None:
        rows = self.store._rows(f"{self._select()} WHERE id = {self.p}", [job_id])
        return Job.from_row(rows[0]) if rows else None

    def list(self, limit: int = 100, offset: int = 0, owner: str | None = None,
             everyone: bool = False) -> tuple[list[Job], int]:
        """A page of the jobs of ``owner`` (``everyone``: of all owners), newest first, and their count."""
        where, params = ("", []) if everyone else (f" WHERE owner = {self.p}", [owner])
        rows = self.store._rows(f"{self._select()}{where} ORDER BY created DESC LIMIT {self.p} OFFSET {self.p}",
                                [*params, limit, offset])
        total = self.store._rows(f"SELECT count(*) FROM {self.t}{where}", params)[0][0]
        return [Job.from_row(r) for r in rows], int(total)

    def started_since(self, owner: str, since: float) -> int:
        """How many jobs ``owner`` started since ``since`` (a quota's count)."""
        rows = self.store._rows(f"SELECT count(*) FROM {self.t} WHERE owner = {self.p} AND created >= {self.p}",
                                [owner, since])
        return int(rows[0][0])

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

    def renew(self, job_id: str, worker: str, lease_seconds: float) -> None:
        """Extend the lease of a job this worker is running (its process is alive)."""
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.t} SET lease_until = {self.p} WHERE id = {self.p} AND worker = {self.p} "
                        "AND status = 'running'", [time.time() + lease_seconds, job_id, worker])

    def _fail_abandoned_sync(self, cur: Any, now: float, stale_before: float | None = None) -> None:
        """Fail synchronous executions whose server process died (their lease ran out): nobody waits
        for them any more, so they are not tried again. ``stale_before``: also those without a lease
        (kept by an older version) not updated since then."""
        gone = "the server process running it stopped"
        body = json.dumps({"code": "NoApplicableCode", "type": "NoApplicableCode", "status": 500,
                           "description": gone}).encode()
        lost = f"lease_until < {self.p}"
        params: list[Any] = [now, now, gone, self._blob(body), now]
        if stale_before is not None:
            lost = f"({lost} OR (lease_until IS NULL AND updated < {self.p}))"
            params.append(stale_before)
        cur.execute(f"UPDATE {self.t} SET status = 'failed', finished = {self.p}, updated = {self.p}, "
                    f"message = {self.p}, mimetype = 'application/json', result = {self.p}, lease_until = NULL "
                    f"WHERE status = 'running' AND mode = 'sync' AND {lost}", params)

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
            self._fail_abandoned_sync(cur, now)
            # a running job whose lease ran out lost its worker
            gone = "the worker running this job stopped and no attempts are left"
            body = json.dumps({"code": "NoApplicableCode", "type": "NoApplicableCode", "status": 500,
                               "description": gone}).encode()
            cur.execute(f"UPDATE {self.t} SET status = 'failed', finished = {self.p}, updated = {self.p}, "
                        f"message = {self.p}, mimetype = 'application/json', result = {self.p}, lease_until = NULL "
                        f"WHERE status = 'running' AND mode = 'async' AND lease_until < {self.p} "
                        f"AND attempts >= {self.p}", [now, now, gone, self._blob(body), now, max_attempts])
            cur.execute(f"UPDATE {self.t} SET status = 'accepted', worker = NULL, lease_until = NULL, "
                        f"updated = {self.p}, message = {self.p} WHERE status = 'running' AND mode = 'async' "
                        f"AND lease_until < {self.p}", [now, "requeued: the worker running this job stopped", now])
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
        """Retention: delete finished jobs past their keep time (first failing abandoned synchronous ones)."""
        now = time.time()
        with self.store.write_cursor() as cur:
            self._fail_abandoned_sync(cur, now, now - sync_older_than)
            cur.execute(f"DELETE FROM {self.t} WHERE status IN ('successful', 'failed', 'dismissed') AND "
                        f"((mode = 'sync' AND updated < {self.p}) OR (mode = 'async' AND updated < {self.p}))",
                        [now - sync_older_than, now - async_older_than])
            return max(getattr(cur, "rowcount", 0) or 0, 0)

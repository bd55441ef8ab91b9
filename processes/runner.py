"""Running processes: synchronously in the request, or as queued jobs any worker can take.

Jobs live in the store (``Store.jobs``, providers/store/jobs.py). Each server process runs a few job threads
(``ONEMAP_JOB_WORKERS``); ``onemap worker`` runs the same loop alone, on this host or another
one sharing the PostGIS database. A job whose worker dies is taken back when its lease runs
out and tried again, or failed after the last attempt: never left ``accepted`` forever. A
synchronous execution holds a lease too, renewed by a heartbeat while it runs: when its server
process dies, the next claim (or purge) of any worker fails it, never leaving it ``running``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from onemap.config.errors import InvalidInput, NotFound, OneMapError, ServiceUnavailable
from onemap.config.settings import Settings
from onemap.providers.store import Store
from onemap.providers.store.jobs import Job, JobStore

from .base import JobCancelled, OneMapProcessor, Output, Reader, RunContext
from .slots import HeavySlots

LOG = logging.getLogger("onemap.jobs")
POLL_SECONDS = 0.5
STORE_AWAY_SECONDS = 5.0  # a job thread finding the store away looks again after this long
DELIVERY_EVERY = 5.0  # seconds between two looks for webhook deliveries that are due
# a synchronous execution waits this long for a slot for heavy work (its web worker waits with it) before a 503
SYNC_SLOT_WAIT = 0.5


def encode_outputs(outputs: dict[str, Output], response: str) -> tuple[str, bytes]:
    """How results are stored and answered: one raw output as itself, else a JSON document."""
    if response == "raw" and len(outputs) == 1:
        out = next(iter(outputs.values()))
        value = out.value
        if out.media_type.endswith("json"):
            return out.media_type, json.dumps(value, ensure_ascii=False, default=str).encode()
        return out.media_type, value if isinstance(value, bytes) else str(value).encode()
    doc: dict[str, Any] = {}
    for name, out in outputs.items():
        if out.media_type.endswith("json"):
            doc[name] = out.value
        elif isinstance(out.value, bytes) and not _is_text(out.media_type):
            # binary outputs (a GeoPackage) travel base64-encoded in a JSON document
            doc[name] = {"value": base64.b64encode(out.value).decode("ascii"), "encoding": "base64",
                         "mediaType": out.media_type}
        else:
            text = out.value.decode() if isinstance(out.value, bytes) else str(out.value)
            doc[name] = {"value": text, "mediaType": out.media_type}
    return "application/json", json.dumps(doc, ensure_ascii=False, default=str).encode()


def _is_text(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base.startswith("text/") or base.endswith(("json", "xml"))


def error_result(err: Exception) -> tuple[str, bytes, str]:
    """(media type, body, message) of a failed job: an OGC exception, never a traceback."""
    if isinstance(err, OneMapError):
        body = err.to_dict()
        body["status"] = int(err.status)
    else:
        body = {"code": "NoApplicableCode", "type": "NoApplicableCode", "status": 500,
                "description": "the process failed; the operators can find the details in the server log"}
    return "application/json", json.dumps(body, ensure_ascii=False).encode(), body["description"]


class _Leases:
    """Renews the leases of the synchronous executions one runner is running, from one thread of its
    own (a process computing longer than a lease keeps it; a dead server process renews nothing)."""

    def __init__(self, jobs: JobStore, worker: str, lease_seconds: float) -> None:
        self.jobs, self.worker, self.lease = jobs, worker, lease_seconds
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def holding(self, job_id: str) -> Iterator[None]:
        """Keep ``job_id``'s lease while the block runs."""
        with self._lock:
            self._held.add(job_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._beat, name="onemap-leases", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                self._held.discard(job_id)

    def _beat(self) -> None:
        while True:
            # a third of the lease: two renewals may fail (a slow database) before it runs out
            time.sleep(self.lease / 3)
            with self._lock:
                held = sorted(self._held)
                if not held:  # nothing running: the next execution starts a thread again
                    self._thread = None
                    return
            for job_id in held:
                try:
                    self.jobs.renew(job_id, self.worker, self.lease)
                except Exception as err:  # noqa: BLE001  (the next beat tries again; the run goes on)
                    LOG.warning("job %s: its lease could not be renewed (%s)", job_id, err)


@dataclass
class Submission:
    process: OneMapProcessor
    inputs: dict[str, Any]
    outputs: dict[str, str]
    response: str  # raw | document
    owner: str | None = None  # the signed-in user who asked (the job is theirs)
    tiers: tuple[str, ...] | None = None  # the tiers the caller reaches (None: no access check ran)


class JobRunner:
    """Executes processes for one server process (or one ``onemap worker``)."""

    def __init__(self, store: Store, settings: Settings, processes: dict[str, OneMapProcessor],
                 use_slots: bool = True) -> None:
        """``use_slots``: executions take this host's slots for heavy work (a server process; a dedicated
        ``onemap worker`` runs its own threads' count instead)."""
        self.store = store
        self.settings = settings
        self.processes = processes
        self.jobs = store.jobs
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._last_purge = 0.0
        self._last_delivery = -DELIVERY_EVERY
        self._leases = _Leases(self.jobs, self.worker_id, settings.jobs.lease_seconds)
        self.use_slots = use_slots
        self.slots = HeavySlots(settings.data_dir / "run", settings.access.heavy_slots)

    # ---- submitting -------------------------------------------------------------------------
    def prepare(self, process_id: str, body: Any, owner: str | None = None, reader: Reader | None = None,
                tiers: tuple[str, ...] | None = None) -> Submission:
        """Check an execute request of ``owner`` completely before anything runs (400 on any mistake); with
        ``reader``, what the caller may read first (a layer above their tier answers 404 before any other
        check could say something about it); ``tiers`` (what the caller reaches) go with the run, for
        processes that answer only with what the caller may read."""
        process = self.processes.get(process_id)
        if process is None:
            raise NotFound(f"no process {process_id!r}")
        if not isinstance(body, dict):
            raise InvalidInput("the execute request must be a JSON object with 'inputs'")
        extra = sorted(set(body) - {"inputs", "outputs", "response", "subscriber"})
        if extra:
            raise InvalidInput(f"unknown member {extra[0]!r} in the execute request")
        response = body.get("response", "raw")
        if response not in ("raw", "document"):
            raise InvalidInput("'response' must be raw or document")
        inputs = process.validate(body.get("inputs", {}))
        outputs = process.outputs_requested(body.get("outputs"))
        if reader is not None:
            process.authorize(inputs, self.store, reader)
        process.check(inputs, self.settings, self.store)
        return Submission(process, inputs, outputs, response, owner, tiers)

    def run_sync(self, sub: Submission) -> tuple[Job, str, bytes, bool]:
        """Run now, in this request; the execution is kept as a job for the retention period. A heavy
        one first takes one of the host's slots for heavy work (a 503 when none comes free at once)."""
        self._maybe_purge()
        if not (self.use_slots and sub.process.heavy(sub.inputs, self.settings)):
            return self._run_sync(sub)
        with self.slots.hold(SYNC_SLOT_WAIT):
            return self._run_sync(sub)

    def _run_sync(self, sub: Submission) -> tuple[Job, str, bytes, bool]:
        lease = self.settings.jobs.lease_seconds
        job = self.jobs.create(sub.process.id, "sync", self._request(sub), status="running", message="running",
                               worker=self.worker_id, lease_seconds=lease, owner=sub.owner)
        ctx = RunContext(self.store, self.settings, time.monotonic() + self.settings.jobs.time_limit,
                         owner=sub.owner, tiers=sub.tiers)
        try:
            with self._leases.holding(job.id):
                outputs = sub.process.run(ctx, sub.inputs, sub.outputs)
        except Exception as err:  # noqa: BLE001  (reported as the job's OGC exception, logged in full)
            if not isinstance(err, OneMapError):
                LOG.error("sync job %s failed:\n%s", job.id, traceback.format_exc())
            media, body, message = error_result(err)
            self.jobs.finish(job.id, self.worker_id, "failed", message, media, body)
            return self._finished(job.id), media, body, False
        media, body = encode_outputs(outputs, sub.response)
        self.jobs.finish(job.id, self.worker_id, "successful", "done", media, body)
        return self._finished(job.id), media, body, True

    def _finished(self, job_id: str) -> Job:
        """A sync job read back as it has just finished."""
        job = self.jobs.get(job_id)
        if job is None:
            raise OneMapError(f"the job {job_id} vanished from the job store")
        return job

    def submit(self, sub: Submission) -> Job:
        """Queue an asynchronous job; a job thread here or any worker elsewhere takes it."""
        self._maybe_purge()
        job = self.jobs.create(sub.process.id, "async", self._request(sub), owner=sub.owner)
        self.start_threads()
        return job

    @staticmethod
    def _request(sub: Submission) -> dict:
        req = {"inputs": sub.inputs, "outputs": sub.outputs, "response": sub.response}
        if sub.tiers is not None:  # an async job runs later, maybe on another host: what its caller reaches goes with it
            req["tiers"] = list(sub.tiers)
        return req

    # ---- working ---------------------------------------------------------------------------------
    def start_threads(self, count: int | None = None) -> None:
        """Start this process's job threads (lazily, on the first async job)."""
        n = self.settings.jobs.workers if count is None else count
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while len(self._threads) < n:
                t = threading.Thread(target=self.loop, name=f"onemap-job-{len(self._threads)}", daemon=True)
                t.start()
                self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()

    def loop(self, once: bool = False) -> None:
        """Take and run jobs until stopped (``once``: until the queue is empty)."""
        while not self._stop.is_set():
            try:
                ran = self.work_one()
                if not ran:
                    self.deliver()
            except ServiceUnavailable as err:  # the store is away: wait for it quietly, then go on
                LOG.warning("job loop: %s", err.description)
                self._stop.wait(STORE_AWAY_SECONDS)
                ran = False
            except Exception:
                LOG.exception("job loop error")
                ran = False
            if not ran:
                if once:
                    return
                self._stop.wait(POLL_SECONDS)

    def deliver(self, every: float = DELIVERY_EVERY) -> int:
        """Post the webhook deliveries that are due (first attempts and retries), at most every ``every`` seconds:
        any job loop on any host takes them, each under a lease."""
        if time.monotonic() - self._last_delivery < every:
            return 0
        self._last_delivery = time.monotonic()
        from onemap.config.warnings import get_warning_rules
        from onemap.providers.webhooks import WebhookPolicy, deliver_due

        return deliver_due(self.store, get_warning_rules(self.settings.warning_rules),
                           WebhookPolicy(self.settings.webhook_allow), self.worker_id)

    def work_one(self) -> bool:
        """Claim and run one job; none is claimed while this host's slots for heavy work are all taken."""
        slot = self.slots.take() if self.use_slots else None
        if self.use_slots and slot is None:
            return False
        try:
            job = self.jobs.claim(self.worker_id, self.settings.jobs.lease_seconds, self.settings.jobs.max_attempts)
            if job is None:
                return False
            self.execute_claimed(job)
            return True
        finally:
            if slot is not None:
                slot.release()

    def execute_claimed(self, job: Job) -> None:
        process = self.processes.get(job.process_id)
        if process is None:
            self.jobs.finish(job.id, self.worker_id, "failed", f"this worker does not know process {job.process_id}")
            return
        req = job.request

        def report(percent: int, message: str) -> str:
            return self.jobs.progress(job.id, self.worker_id, percent, message, self.settings.jobs.lease_seconds)

        tiers = req.get("tiers")
        ctx = RunContext(self.store, self.settings, time.monotonic() + self.settings.jobs.time_limit, report,
                         owner=job.owner, tiers=None if tiers is None else tuple(tiers))
        try:
            report(1, "started")
            outputs = process.run(ctx, req["inputs"], req["outputs"])
        except JobCancelled:
            LOG.info("job %s was dismissed while running", job.id)
            return
        except Exception as err:  # noqa: BLE001  (the job fails with an OGC exception; logged in full)
            if not isinstance(err, OneMapError):
                LOG.error("job %s failed:\n%s", job.id, traceback.format_exc())
            media, body, message = error_result(err)
            self.jobs.finish(job.id, self.worker_id, "failed", message, media, body)
            return
        media, body = encode_outputs(outputs, req["response"])
        self.jobs.finish(job.id, self.worker_id, "successful", "done", media, body)

    def _maybe_purge(self) -> None:
        if time.time() - self._last_purge > 600:
            self._last_purge = time.time()
            self.jobs.purge(self.settings.jobs.keep_sync_hours * 3600, self.settings.jobs.keep_async_days * 86400)

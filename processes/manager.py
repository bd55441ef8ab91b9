"""OneMap's job manager for pygeoapi: pygeoapi's ``BaseManager`` over OneMap's job store and runner.

A stock ``pygeoapi serve`` on ``onemap config``'s output executes OneMap's processes through
this manager: inputs are checked as ``onemap serve`` checks them (``JobRunner.prepare``), a
synchronous execution runs in the request and is kept as a job, an asynchronous one is
queued in the store, where this process's job threads or any ``onemap worker`` take it.
Manager definition keys: ``name``, ``connection`` (the store URL), ``processes``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pygeoapi.process.base import JobNotFoundError, JobResultNotFoundError
from pygeoapi.process.manager.base import BaseManager
from pygeoapi.util import JobStatus, RequestedProcessExecutionMode

from onemap.config.errors import OneMapError
from onemap.config.settings import get_settings
from onemap.providers.store import get_store
from onemap.providers.store.jobs import Job

from .base import OneMapExecuteError, OneMapProcessor
from .runner import JobRunner


def _iso(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if ts else None


def job_dict(job: Job) -> dict[str, Any]:
    """A job as pygeoapi's processes API reads it."""
    return {"type": "process", "identifier": job.id, "process_id": job.process_id, "status": job.status,
            "message": job.message, "progress": job.progress, "created": _iso(job.created),
            "started": _iso(job.started) or _iso(job.created), "finished": _iso(job.finished),
            "updated": _iso(job.updated), "mimetype": job.mimetype, "location": None}


class OneMapManager(BaseManager):
    """pygeoapi's process manager interface, answered by OneMap's ``JobRunner``."""

    def __init__(self, manager_def: dict) -> None:
        super().__init__(manager_def)
        self.is_async = True
        self.supports_subscribing = False
        self._runner: JobRunner | None = None

    @property
    def runner(self) -> JobRunner:
        """Built on first use: pygeoapi builds its manager when it starts, the store may come later."""
        if self._runner is None:
            settings = get_settings()
            store = get_store(self.connection or settings.store_url)
            processors: dict[str, OneMapProcessor] = {}
            for pid in self.processes:
                p = self.get_processor(pid)
                if isinstance(p, OneMapProcessor):
                    processors[pid] = p
            self._runner = JobRunner(store, settings, processors)
        return self._runner

    # ---- execution ----------------------------------------------------------------------------------------
    def execute_process(self, process_id: str, data_dict: dict, execution_mode: Any = None,
                        requested_outputs: dict | None = None, subscriber: Any = None,
                        requested_response: str | None = "raw") -> tuple[str, str | None, Any, JobStatus, dict]:
        body = {"inputs": data_dict, "response": requested_response or "raw"}
        if requested_outputs:
            body["outputs"] = requested_outputs
        try:
            sub = self.runner.prepare(process_id, body)
        except OneMapError as err:
            raise OneMapExecuteError(err) from err
        supports_async = "async-execute" in sub.process.metadata["jobControlOptions"]
        if execution_mode == RequestedProcessExecutionMode.respond_async and supports_async:
            job = self.runner.submit(sub)
            return job.id, "application/json", None, JobStatus.accepted, {"Preference-Applied": "respond-async"}
        job, media, content, ok = self.runner.run_sync(sub)
        headers = {"Preference-Applied": "wait"} if execution_mode is not None else {}
        if not ok:
            failure = json.loads(content)
            error = OneMapError(failure.get("description", "the process failed"), code=failure.get("code"))
            error.status = failure.get("status", 500)
            raise OneMapExecuteError(error)
        value: Any = json.loads(content) if media.endswith("json") else content
        return job.id, media, value, JobStatus.successful, headers

    # ---- the job store ---------------------------------------------------------------------------------
    def get_jobs(self, status: JobStatus | None = None, limit: int | None = None,
                 offset: int | None = None) -> dict:
        jobs, total = self.runner.jobs.list(limit or 100, offset or 0)
        if status is not None:
            jobs = [j for j in jobs if j.status == JobStatus(status).value]
        return {"jobs": [job_dict(j) for j in jobs], "numberMatched": total}

    def get_job(self, job_id: str) -> dict:
        job = self.runner.jobs.get(job_id) if len(job_id) <= 64 else None
        if job is None:
            raise JobNotFoundError()
        return job_dict(job)

    def get_job_result(self, job_id: str) -> tuple[str, Any]:
        self.get_job(job_id)
        media, content = self.runner.jobs.result(job_id)
        if content is None:
            raise JobResultNotFoundError()
        if media and media.endswith("json"):
            return "application/json", json.loads(content)
        return media or "application/octet-stream", content

    def delete_job(self, job_id: str) -> bool:
        self.get_job(job_id)
        return bool(self.runner.jobs.dismiss(job_id))

    def add_job(self, job_metadata: dict) -> str:
        raise NotImplementedError("OneMap's runner creates its jobs")

    def update_job(self, job_id: str, update_dict: dict) -> bool:
        raise NotImplementedError("OneMap's runner updates its jobs")

    def __repr__(self) -> str:
        return f"<OneMapManager {self.connection}>"

"""OGC API - Processes: /processes, execution (sync and async), /jobs, results, dismissal.

pygeoapi's processor plugins define the processes; these endpoints replace pygeoapi 0.24's
processes API, which does not validate inputs, answers a failed job as a 400, keeps async jobs
as threads of the web worker that accepted them and results in local files. Here inputs are
checked before anything runs and jobs live in the store (processes/runner.py).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from flask import Response

from onemap.config.errors import InvalidInput, NotFound, PayloadTooLarge, TooManyRequests, UnsupportedMediaType
from onemap.processes.base import OneMapProcessor, Reader
from onemap.processes.runner import JobRunner
from onemap.providers.params import LANG, F, Param, parse_int
from onemap.providers.store.jobs import Job

from .access import reaches, tiers_of
from .http import JSON, json_response
from .links import Links
from .pygeoapi_bridge import Pygeoapi
from .routing import APIFactory, Call, Instance, Route

CONFORMS_TO = (
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
)
MAX_BODY = 30 * 1024 * 1024
MAX_OFFSET = 1_000_000_000
EXECUTE = "http://www.opengis.net/def/rel/ogc/1.0/execute"
OK_JSON = {"200": {"description": "OK", "content": {JSON: {"schema": {"type": "object"}}}}}
JOB_ID = {"jobId": {"type": "string", "maxLength": 64}}
JOBS_LIMIT = Param("limit", "At most this many jobs (1 to 1000).", {"type": "integer", "minimum": 1, "maximum": 1000},
                   parse_int("limit", 1, 1000), default=100, key="jobs-limit")
JOBS_OFFSET = Param("offset", "Number of jobs to skip.", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                    parse_int("offset", 0, MAX_OFFSET), default=0, key="jobs-offset")
PROCESSES_LIMIT = Param("limit", "At most this many processes.", {"type": "integer", "minimum": 1},
                        parse_int("limit", 1), key="processes-limit")
PREFER = {"name": "Prefer", "in": "header", "schema": {"type": "string"},
          "description": "respond-async: run as a job and answer 201 with its status"}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any, lang: str) -> Any:
    if isinstance(value, dict) and set(value) <= {"zh", "en"}:
        return value.get(lang) or value.get("zh")
    return value


def _oas30(schema: Any) -> Any:
    """A process input's JSON Schema in OpenAPI 3.0's dialect (the process description keeps
    the JSON Schema form OGC API - Processes uses)."""
    if isinstance(schema, list):
        return [_oas30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _oas30(v) for k, v in schema.items() if k not in ("contentEncoding", "contentMediaType")}
    if schema.get("contentEncoding") == "base64":
        out["format"] = "byte"
    return out


def operation(process_id: str) -> str:
    return "".join(w.capitalize() for w in process_id.split("-"))


class ProcessesAPI(APIFactory):
    """OGC API - Processes over OneMap's processors and its job store."""

    conforms_to = CONFORMS_TO
    tags = ({"name": "processes", "description": "OGC API - Processes"},)

    def __init__(self, processes: dict[str, OneMapProcessor], runner: JobRunner, links: Links, pg: Pygeoapi,
                 visible: Callable[[Any, str], bool] = lambda principal, pid: True,
                 readable: Callable[[Any, str], bool] = lambda principal, layer_id: True) -> None:
        self.visible = visible  # may this caller see (and run) this process?
        self.readable = readable  # may this caller read this collection (the layers a process's inputs name)?
        self.processes = processes
        self.runner = runner
        self.links = links
        self.pg = pg

    def _instances(self) -> list[Instance]:
        return [Instance({"processId": pid}, "processes", pid, operation(pid)) for pid in self.processes]

    def _execute_body(self, pid: str) -> dict[str, Any]:
        proc = self.processes[pid]
        inputs: dict[str, Any] = {"type": "object",
                                  "properties": {k: _oas30(v["schema"]) for k, v in proc.metadata["inputs"].items()}}
        required = [k for k, v in proc.metadata["inputs"].items() if v.get("minOccurs", 1) > 0]
        if required:  # OpenAPI 3.0: an empty 'required' list is invalid
            inputs["required"] = required
        return {"required": True, "content": {JSON: {"schema": {
            "type": "object", "required": ["inputs"], "properties": {
                "inputs": inputs, "outputs": {"type": "object"},
                "response": {"type": "string", "enum": ["raw", "document"]}}}}}}

    def routes(self) -> list[Route]:
        meta = (F, LANG)
        pid = {"processId": {"type": "string"}}
        return [
            Route("/processes", self.list_processes, "getProcesses", "Processes", ("processes",),
                  query=(*meta, PROCESSES_LIMIT), responses=OK_JSON, formats=("json", "html")),
            Route("/processes/{processId}", self.describe_process, "describe{op}", "Describe {title}",
                  ("processes",), query=meta, path_params=pid, responses=OK_JSON, formats=("json", "html"),
                  instances=self._instances, guard="process"),
            Route("/processes/{processId}/execution", self.execute, "execute{op}",
                  "Execute {title} (Prefer: respond-async for a job)", ("processes",), method="POST",
                  query=meta, path_params=pid, headers=(PREFER,), scope="execute", instances=self._instances,
                  guard="process",
                  request_body_for=lambda v: self._execute_body(v["processId"]),
                  responses={"200": {"description": "Results (synchronous execution)."},
                             "201": {"description": "Job created (asynchronous execution).",
                                     "content": {JSON: {"schema": {"type": "object"}}}}}),
            Route("/jobs", self.list_jobs, "getJobs", "Jobs (the caller's own; an admin's: all)", ("processes",),
                  query=(*meta, JOBS_LIMIT, JOBS_OFFSET), responses=OK_JSON, formats=("json", "html"), guard="user"),
            Route("/jobs/{jobId}", self.get_job, "getJob", "Job status", ("processes",), query=meta,
                  path_params=JOB_ID, responses=OK_JSON, formats=("json", "html"), guard="user"),
            Route("/jobs/{jobId}", self.dismiss, "dismissJob", "Dismiss a job", ("processes",), method="DELETE",
                  query=meta, path_params=JOB_ID, responses=OK_JSON, scope="execute", guard="user"),
            Route("/jobs/{jobId}/results", self.job_results, "getJobResults", "Job results", ("processes",),
                  query=meta, path_params=JOB_ID, guard="user",
                  responses={"200": {"description": "The results (JSON, or the output's own media type)."}}),
        ]

    # ---- documents --------------------------------------------------------------------------------------
    def status_info(self, job: Job) -> dict[str, Any]:
        """The OGC statusInfo document of a job."""
        links = [self.links.link("self", JSON, "jobs", job.id, title="job status"),
                 self.links.link("up", JSON, "jobs", title="job list")]
        if job.status == "successful":
            links.append(self.links.link("http://www.opengis.net/def/rel/ogc/1.0/results", job.mimetype or JSON,
                                         "jobs", job.id, "results", title="results"))
        return {"type": "process", "processID": job.process_id, "jobID": job.id, "status": job.status,
                "message": job.message, "progress": job.progress, "created": _iso(job.created),
                "started": _iso(job.started), "finished": _iso(job.finished), "updated": _iso(job.updated),
                "x-onemap": {"mode": job.mode, "attempts": job.attempts, "owner": job.owner}, "links": links}

    def _summary(self, pid: str, lang: str) -> dict[str, Any]:
        md = self.processes[pid].metadata
        return {
            "id": pid, "version": md["version"], "title": _text(md["title"], lang),
            "description": _text(md["description"], lang), "keywords": md.get("keywords", []),
            "jobControlOptions": md["jobControlOptions"], "outputTransmission": md["outputTransmission"],
            "links": [self.links.link("self", JSON, "processes", pid),
                      self.links.link(EXECUTE, JSON, "processes", pid, "execution", title="execute")],
        }

    def _process(self, process_id: str) -> OneMapProcessor:
        proc = self.processes.get(process_id)
        if proc is None:
            raise NotFound(f"no process {process_id!r}")
        return proc

    def list_processes(self, call: Call) -> Response:
        lang = call.args["lang"]
        pids = [pid for pid in self.processes if self.visible(call.principal, pid)][: call.args.get("limit") or None]
        doc = {"processes": [self._summary(pid, lang) for pid in pids],
               "links": [self.links.link("self", JSON, "processes")]}
        if call.args["f"] == "html":
            return self.pg.render("processes/index.html", doc, lang)
        return json_response(doc)

    def describe_process(self, call: Call, processId: str) -> Response:
        md = self._process(processId).metadata
        lang = call.args["lang"]
        doc = self._summary(processId, lang)
        doc["inputs"] = {k: {kk: _text(vv, lang) for kk, vv in v.items()} for k, v in md["inputs"].items()}
        doc["outputs"] = {k: {kk: _text(vv, lang) for kk, vv in v.items() if kk != "default"}
                          for k, v in md["outputs"].items()}
        if "example" in md:
            doc["example"] = md["example"]
        if call.args["f"] == "html":
            data = dict(doc)
            data["jobControlOptions"] = md["jobControlOptions"]
            return self.pg.render("processes/process.html", data, lang)
        return json_response(doc)

    def execute(self, call: Call, processId: str) -> Response:
        self._process(processId)
        req = call.request
        if not (req.mimetype == JSON or req.mimetype.endswith("+json")):
            # a JSON body needs a CORS preflight: no page of another origin can make one with a form
            raise UnsupportedMediaType("send the execute request as JSON (Content-Type: application/json)")
        if (req.content_length or 0) > MAX_BODY:
            raise PayloadTooLarge(f"the execute request is larger than {MAX_BODY // (1024 * 1024)} MB")
        raw = req.get_data(cache=False)
        if len(raw) > MAX_BODY:
            raise PayloadTooLarge(f"the execute request is larger than {MAX_BODY // (1024 * 1024)} MB")
        try:
            body = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidInput("the execute request is not valid JSON") from None
        except RecursionError:  # json recurses once per level of nesting
            raise InvalidInput("the execute request is nested too deeply to be read") from None
        if body is None:
            raise InvalidInput("the execute request needs a JSON body with 'inputs'")
        sub = self.runner.prepare(processId, body, owner=_owner(call), reader=self.reader(call), tiers=_tiers(call))
        self._within_quota(call)
        prefer = req.headers.get("Prefer", "").lower()
        supports_async = "async-execute" in sub.process.metadata["jobControlOptions"]
        if "respond-async" in prefer and supports_async:
            job = self.runner.submit(sub)
            return json_response(self.status_info(job), status=201, headers={
                "Location": self.links.url("jobs", job.id), "Preference-Applied": "respond-async"})
        job, media, content, ok = self.runner.run_sync(sub)
        headers = {"Link": f'<{self.links.url("jobs", job.id)}>; rel="monitor"'}
        if "wait" in prefer or "respond-sync" in prefer:
            headers["Preference-Applied"] = "wait"
        if not ok:
            err = json.loads(content)
            return Response(content, status=err.get("status", 500), mimetype=media, headers=headers)
        return Response(content, status=200, mimetype=media, headers=headers)

    def reader(self, call: Call) -> Reader:
        """What this caller may read (everything where no access check ran, as in a test of one factory)."""
        p = call.principal
        return Reader(lambda layer_id: self.readable(p, layer_id), p is None or reaches(p, "internal"))

    def _within_quota(self, call: Call) -> None:
        """A caller starts at most ``jobs_per_day`` executions in 24 hours (an admin: any number)."""
        p = call.principal
        if p is None or p.name is None or p.role == "admin":
            return
        per_day = self.runner.settings.access.jobs_per_day
        if self.runner.jobs.started_since(p.name, time.time() - 86400) >= per_day:
            raise TooManyRequests(f"{p.name} has started {per_day} executions in the last 24 hours, "
                                  "the most one caller may", retry_after=3600)

    def check_plan(self, call: Call, plan_id: str) -> Response:
        """A quality check of a drawer entry, queued as a ``plan-qc`` job of the caller (lifecycle step)."""
        sub = self.runner.prepare("plan-qc", {"inputs": {"plan_id": plan_id}, "response": "document"},
                                  owner=_owner(call), tiers=_tiers(call))
        self._within_quota(call)
        job = self.runner.submit(sub)
        return json_response(self.status_info(job), status=201, headers={"Location": self.links.url("jobs", job.id)})

    def _job(self, call: Call, job_id: str) -> Job:
        """The job, if it is the caller's (an admin's: any); another's is answered as missing."""
        job = self.runner.jobs.get(job_id) if len(job_id) <= 64 else None
        if job is None or not (_sees_every_job(call) or (job.owner is not None and job.owner == _owner(call))):
            raise NotFound(f"no job {job_id!r}", code="no-such-job")
        return job

    def list_jobs(self, call: Call) -> Response:
        limit, offset = call.args["limit"], call.args["offset"]
        jobs, total = self.runner.jobs.list(limit, offset, owner=_owner(call), everyone=_sees_every_job(call))
        doc: dict[str, Any] = {"jobs": [self.status_info(j) for j in jobs], "numberMatched": total,
               "links": [self.links.link("self", JSON, "jobs")]}
        if offset + limit < total:
            doc["links"].append(self.links.link("next", JSON, "jobs", query={"limit": limit, "offset": offset + limit}))
        if call.args["f"] == "html":
            return self.pg.render("jobs/index.html", {"jobs": doc, "offset": offset, "now": _now()}, call.args["lang"])
        return json_response(doc)

    def get_job(self, call: Call, jobId: str) -> Response:
        info = self.status_info(self._job(call, jobId))
        if call.args["f"] == "html":
            return self.pg.render("jobs/job.html", {"jobs": info, "now": _now()}, call.args["lang"])
        return json_response(info)

    def job_results(self, call: Call, jobId: str) -> Response:
        job = self._job(call, jobId)
        if job.status in ("accepted", "running"):
            raise NotFound(f"job {jobId} is {job.status}; results are not ready", code="result-not-ready")
        if job.status == "dismissed":
            raise NotFound(f"job {jobId} was dismissed", code="no-such-job")
        media, content = self.runner.jobs.result(jobId)
        if content is None:
            raise NotFound(f"job {jobId} has no results", code="result-not-ready")
        if job.status == "failed":
            status = json.loads(content).get("status", 500) if media == JSON else 500
            return Response(content, status=status, mimetype=media or JSON)
        return Response(content, status=200, mimetype=media or JSON)

    def dismiss(self, call: Call, jobId: str) -> Response:
        self._job(call, jobId)
        self.runner.jobs.dismiss(jobId)
        return json_response(self.status_info(self._job(call, jobId)))


def _owner(call: Call) -> str | None:
    """Whose the jobs of this request are (None: no access check ran, as in a test of one factory)."""
    p = call.principal
    return p.name if p is not None else None


def _tiers(call: Call) -> tuple[str, ...] | None:
    """The catalogue tiers the caller reaches, for processes that answer with what the caller may read (None: no
    access check ran, as in a test of one factory)."""
    return tiers_of(call.principal) if call.principal is not None else None


def _sees_every_job(call: Call) -> bool:
    """An administrator (or a call no access check ran for) reads every owner's jobs."""
    return call.principal is None or call.principal.role == "admin"

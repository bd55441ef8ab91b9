"""OGC API - Processes: /processes, execution (sync and async), /jobs, results, dismissal.

pygeoapi's processor plugins define the processes; these endpoints replace pygeoapi 0.24's
processes API, which does not validate inputs, answers a failed job as a 400, keeps async jobs
as threads of the web worker that accepted them and results in local files. Here inputs are
checked before anything runs and jobs live in the store (processes/runner.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from flask import Response, request

from onemap.config.errors import InvalidInput, NotFound, PayloadTooLarge
from onemap.providers.store.jobs import Job

from .http import json_response, output_format
from .params import check_known

if TYPE_CHECKING:
    from .app import OneMap

CONFORMS_TO = [
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/ogc-process-description",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/dismiss",
]
MAX_BODY = 30 * 1024 * 1024
MAX_OFFSET = 1_000_000_000
EXECUTE = "http://www.opengis.net/def/rel/ogc/1.0/execute"


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _text(value: Any, lang: str) -> Any:
    if isinstance(value, dict) and set(value) <= {"zh", "en"}:
        return value.get(lang) or value.get("zh")
    return value


def status_info(om: "OneMap", job: Job) -> dict[str, Any]:
    """The OGC statusInfo document of a job."""
    base = f"{om.base_url}/jobs/{job.id}"
    links = [{"rel": "self", "type": "application/json", "href": base, "title": "job status"},
             {"rel": "up", "type": "application/json", "href": f"{om.base_url}/jobs", "title": "job list"}]
    if job.status == "successful":
        links.append({"rel": "http://www.opengis.net/def/rel/ogc/1.0/results", "type": job.mimetype or "application/json",
                      "href": f"{base}/results", "title": "results"})
    return {"type": "process", "processID": job.process_id, "jobID": job.id, "status": job.status,
            "message": job.message, "progress": job.progress, "created": _iso(job.created),
            "started": _iso(job.started), "finished": _iso(job.finished), "updated": _iso(job.updated),
            "x-onemap": {"mode": job.mode, "attempts": job.attempts}, "links": links}


def _summary(om: "OneMap", pid: str, lang: str) -> dict[str, Any]:
    md = om.processes[pid].metadata
    return {
        "id": pid, "version": md["version"], "title": _text(md["title"], lang),
        "description": _text(md["description"], lang), "keywords": md.get("keywords", []),
        "jobControlOptions": md["jobControlOptions"], "outputTransmission": md["outputTransmission"],
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{om.base_url}/processes/{pid}"},
            {"rel": EXECUTE, "type": "application/json", "href": f"{om.base_url}/processes/{pid}/execution",
             "title": "execute"},
        ],
    }


def list_processes(om: "OneMap") -> Response:
    check_known(request.args, frozenset({"f", "lang", "limit"}))
    fmt = output_format(request)
    doc = {"processes": [_summary(om, pid, om.lang()) for pid in om.processes],
           "links": [{"rel": "self", "type": "application/json", "href": f"{om.base_url}/processes"}]}
    if fmt == "html":
        return om.render("processes/index.html", doc)
    return json_response(doc)


def describe_process(om: "OneMap", process_id: str) -> Response:
    check_known(request.args, frozenset({"f", "lang"}))
    fmt = output_format(request)
    if process_id not in om.processes:
        raise NotFound(f"no process {process_id!r}")
    lang = om.lang()
    md = om.processes[process_id].metadata
    doc = _summary(om, process_id, lang)
    doc["inputs"] = {k: {kk: _text(vv, lang) for kk, vv in v.items()} for k, v in md["inputs"].items()}
    doc["outputs"] = {k: {kk: _text(vv, lang) for kk, vv in v.items() if kk != "default"}
                      for k, v in md["outputs"].items()}
    if "example" in md:
        doc["example"] = md["example"]
    if fmt == "html":
        data = dict(doc)
        data["jobControlOptions"] = md["jobControlOptions"]
        return om.render("processes/process.html", data)
    return json_response(doc)


def execute(om: "OneMap", process_id: str) -> Response:
    check_known(request.args, frozenset({"f", "lang"}))
    if process_id not in om.processes:
        raise NotFound(f"no process {process_id!r}")
    if (request.content_length or 0) > MAX_BODY:
        raise PayloadTooLarge(f"the execute request is larger than {MAX_BODY // (1024 * 1024)} MB")
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"the execute request is larger than {MAX_BODY // (1024 * 1024)} MB")
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("the execute request is not valid JSON") from None
    if body is None:
        raise InvalidInput("the execute request needs a JSON body with 'inputs'")
    sub = om.runner.prepare(process_id, body)
    prefer = request.headers.get("Prefer", "").lower()
    supports_async = "async-execute" in sub.process.metadata["jobControlOptions"]
    if "respond-async" in prefer and supports_async:
        job = om.runner.submit(sub)
        return json_response(status_info(om, job), status=201, headers={
            "Location": f"{om.base_url}/jobs/{job.id}", "Preference-Applied": "respond-async"})
    job, media, content, ok = om.runner.run_sync(sub)
    headers = {"Link": f'<{om.base_url}/jobs/{job.id}>; rel="monitor"'}
    if "wait" in prefer or "respond-sync" in prefer:
        headers["Preference-Applied"] = "wait"
    if not ok:
        err = json.loads(content)
        return Response(content, status=err.get("status", 500), mimetype=media, headers=headers)
    return Response(content, status=200, mimetype=media, headers=headers)


def _job(om: "OneMap", job_id: str) -> Job:
    job = om.runner.jobs.get(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise NotFound(f"no job {job_id!r}", code="no-such-job")
    return job


def list_jobs(om: "OneMap") -> Response:
    check_known(request.args, frozenset({"f", "lang", "limit", "offset"}))
    fmt = output_format(request)
    try:
        limit = min(max(int(request.args.get("limit", 100)), 1), 1000)
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise InvalidInput("limit and offset must be integers") from None
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInput(f"offset must be between 0 and {MAX_OFFSET}")
    jobs, total = om.runner.jobs.list(limit, offset)
    doc = {"jobs": [status_info(om, j) for j in jobs], "numberMatched": total,
           "links": [{"rel": "self", "type": "application/json", "href": f"{om.base_url}/jobs"}]}
    if offset + limit < total:
        doc["links"].append({"rel": "next", "type": "application/json",
                             "href": f"{om.base_url}/jobs?limit={limit}&offset={offset + limit}"})
    if fmt == "html":
        return om.render("jobs/index.html", {"jobs": doc, "offset": offset, "now": _now()})
    return json_response(doc)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def get_job(om: "OneMap", job_id: str) -> Response:
    check_known(request.args, frozenset({"f", "lang"}))
    fmt = output_format(request)
    info = status_info(om, _job(om, job_id))
    if fmt == "html":
        return om.render("jobs/job.html", {"jobs": info, "now": _now()})
    return json_response(info)


def job_results(om: "OneMap", job_id: str) -> Response:
    check_known(request.args, frozenset({"f", "lang"}))
    job = _job(om, job_id)
    if job.status in ("accepted", "running"):
        raise NotFound(f"job {job_id} is {job.status}; results are not ready", code="result-not-ready")
    if job.status == "dismissed":
        raise NotFound(f"job {job_id} was dismissed", code="no-such-job")
    media, content = om.runner.jobs.result(job_id)
    if content is None:
        raise NotFound(f"job {job_id} has no results", code="result-not-ready")
    if job.status == "failed":
        status = json.loads(content).get("status", 500) if media == "application/json" else 500
        return Response(content, status=status, mimetype=media or "application/json")
    return Response(content, status=200, mimetype=media or "application/json")


def dismiss(om: "OneMap", job_id: str) -> Response:
    check_known(request.args, frozenset({"f", "lang"}))
    _job(om, job_id)
    om.runner.jobs.dismiss(job_id)
    return json_response(status_info(om, _job(om, job_id)))


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


def openapi_paths(om: "OneMap", paths: dict, tags: list) -> None:
    """The processes endpoints in the OpenAPI document."""
    from .openapi import _errors, _p

    tags.append({"name": "processes", "description": "OGC API - Processes"})
    jid = {"name": "jobId", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}
    ok_json = {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}}
    paths["/processes"] = {"get": {"tags": ["processes"], "summary": "Processes", "operationId": "getProcesses",
                                   "parameters": [_p("f"), _p("lang")], "responses": {**ok_json, **_errors(False)}}}
    paths["/jobs"] = {"get": {"tags": ["processes"], "summary": "Jobs", "operationId": "getJobs",
                              "parameters": [_p("f"), {"name": "limit", "in": "query", "schema": {
                                  "type": "integer", "minimum": 1, "maximum": 1000}}, {
                                  "name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0,
                                                                              "maximum": MAX_OFFSET}}],
                              "responses": {**ok_json, **_errors(False)}}}
    paths["/jobs/{jobId}"] = {
        "get": {"tags": ["processes"], "summary": "Job status", "operationId": "getJob",
                "parameters": [jid, _p("f")], "responses": {**ok_json, **_errors()}},
        "delete": {"tags": ["processes"], "summary": "Dismiss a job", "operationId": "dismissJob",
                   "parameters": [jid], "responses": {**ok_json, **_errors()}}}
    paths["/jobs/{jobId}/results"] = {"get": {
        "tags": ["processes"], "summary": "Job results", "operationId": "getJobResults", "parameters": [jid],
        "responses": {"200": {"description": "The results (JSON, or the output's own media type)."},
                      **_errors()}}}
    for pid, proc in om.processes.items():
        op = "".join(w.capitalize() for w in pid.split("-"))
        inputs: dict[str, Any] = {"type": "object",
                                  "properties": {k: _oas30(v["schema"]) for k, v in proc.metadata["inputs"].items()}}
        required = [k for k, v in proc.metadata["inputs"].items() if v.get("minOccurs", 1) > 0]
        if required:  # OpenAPI 3.0: an empty 'required' list is invalid
            inputs["required"] = required
        schema = {"type": "object", "required": ["inputs"], "properties": {
            "inputs": inputs, "outputs": {"type": "object"},
            "response": {"type": "string", "enum": ["raw", "document"]}}}
        paths[f"/processes/{pid}"] = {"get": {"tags": ["processes"], "summary": f"Describe {pid}",
                                              "operationId": f"describe{op}", "parameters": [_p("f"), _p("lang")],
                                              "responses": {**ok_json, **_errors()}}}
        paths[f"/processes/{pid}/execution"] = {"post": {
            "tags": ["processes"], "summary": f"Execute {pid} (Prefer: respond-async for a job)",
            "operationId": f"execute{op}",
            "parameters": [{"name": "Prefer", "in": "header", "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {"200": {"description": "Results (synchronous execution)."},
                          "201": {"description": "Job created (asynchronous execution).",
                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                          **_errors()}}}

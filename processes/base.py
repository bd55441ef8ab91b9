"""The base of OneMap's processes: published input schemas enforced, a run context with
progress, dismissal and a time limit, and outputs in several media types.

Each process is a pygeoapi processor (``BaseProcessor``), so stock pygeoapi can run it too;
OneMap's own endpoints (server/processes_ep.py) and job runner (processes/runner.py) add what
pygeoapi 0.24 lacks: inputs validated before anything runs, jobs kept in the database.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar

import jsonschema
from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from onemap.config.errors import InvalidInput, OneMapError
from onemap.config.settings import Settings
from onemap.domain.dates import today
from onemap.providers.store import Store, get_store


class OneMapExecuteError(ProcessorExecuteError):
    """A OneMap error carried through pygeoapi with its own status and code."""

    def __init__(self, err: OneMapError) -> None:
        super().__init__(user_msg=err.description)
        self.http_status_code = HTTPStatus(int(err.status))
        self.ogc_exception_code = err.code


class JobCancelled(Exception):
    """The job was dismissed while it ran."""


class JobTimeLimit(OneMapError):
    """The job ran past its time limit."""

    status = 500
    code = "TimeLimitExceeded"


@dataclass
class RunContext:
    """What a running process sees: the store, the settings, progress and its deadline."""

    store: Store
    settings: Settings
    deadline: float  # time.monotonic() value
    report: Callable[[int, str], str] | None = None  # returns the job's status ("dismissed" = stop)
    notes: list[str] = field(default_factory=list)
    owner: str | None = None  # the signed-in user the run is for (certificates and registry moves name them)
    # the catalogue tiers the caller reaches, for processes that answer only with what the caller may read
    # (the evaluations list only the indicators whose layers it reads); None: a run with no caller (the CLI, tests)
    tiers: tuple[str, ...] | None = None

    def reaches(self, tier: str) -> bool:
        """May the caller the run is for read what the catalogue gives this tier?"""
        return self.tiers is None or tier in self.tiers

    def progress(self, percent: int, message: str) -> None:
        """Report progress; stops the run when the job was dismissed or its time is up."""
        if time.monotonic() > self.deadline:
            raise JobTimeLimit("the job ran past its time limit and was stopped")
        if self.report is not None and self.report(max(0, min(99, int(percent))), message) == "dismissed":
            raise JobCancelled()


@dataclass(frozen=True)
class Reader:
    """What the caller of an execution may read (server/access.py's tiers, for ``OneMapProcessor.authorize``)."""

    sees_layer: Callable[[str], bool]  # may the caller read this collection?
    unfiled: bool  # does the caller see drawer entries under review (internal callers)?



@dataclass
class Output:
    media_type: str
    value: Any  # a JSON-able value for application/json outputs, bytes or str otherwise


def input_date(inputs: dict[str, Any], settings: Settings) -> dt.date:
    """A process's ``date`` input (YYYY-MM-DD); today where the plans are in force when absent."""
    if not inputs.get("date"):
        return today(settings.timezone)
    try:
        return dt.date.fromisoformat(inputs["date"])
    except ValueError:
        raise InvalidInput(f"input 'date': {inputs['date']!r} is not a date (YYYY-MM-DD)") from None


def _fmt_path(path: Any) -> str:
    return "/".join(str(p) for p in path) if path else ""


class OneMapProcessor(BaseProcessor):
    """A OneMap process. Subclasses set ``METADATA`` and implement ``run``."""

    METADATA: ClassVar[dict[str, Any]] = {}

    def __init__(self, processor_def: dict, process_metadata: dict | None = None) -> None:
        super().__init__(processor_def, process_metadata or self.METADATA)
        self.processor_def = processor_def
        self.supports_outputs = True

    @property
    def id(self) -> str:
        return self.metadata["id"]

    def validate(self, inputs: Any) -> dict[str, Any]:
        """Inputs checked against the published schema; a mistake is a 400 naming the input."""
        if not isinstance(inputs, dict):
            raise InvalidInput("'inputs' must be an object of named inputs")
        declared = self.metadata["inputs"]
        unknown = sorted(set(inputs) - set(declared))
        if unknown:
            raise InvalidInput(f"unknown input {unknown[0]!r}; this process takes {', '.join(declared)}")
        out: dict[str, Any] = {}
        for name, spec in declared.items():
            if name not in inputs or inputs[name] is None:
                if spec.get("minOccurs", 1) > 0:
                    raise InvalidInput(f"input {name!r} is required ({spec['title']})")
                if "default" in spec.get("schema", {}):
                    out[name] = spec["schema"]["default"]
                continue
            value = inputs[name]
            if isinstance(value, dict) and set(value) == {"value"}:
                value = value["value"]  # the qualified-value form of OGC API - Processes
            try:
                jsonschema.validate(value, spec["schema"])
            except jsonschema.ValidationError as err:
                where = _fmt_path(err.absolute_path)
                raise InvalidInput(f"input {name!r}{' at ' + where if where else ''}: {err.message}") from None
            out[name] = value
        return out

    def outputs_requested(self, outputs: Any) -> dict[str, str]:
        """Requested outputs and their media types (all outputs, default type, when none asked)."""
        declared = self.metadata["outputs"]
        if not outputs:
            return {name: spec["schema"]["contentMediaType"] for name, spec in declared.items()
                    if spec.get("default", True)}
        if not isinstance(outputs, dict):
            raise InvalidInput("'outputs' must be an object naming the outputs wanted")
        out = {}
        for name, req in outputs.items():
            if name not in declared:
                raise InvalidInput(f"unknown output {name!r}; this process gives {', '.join(declared)}")
            media = ((req or {}).get("format") or {}).get("mediaType") or declared[name]["schema"]["contentMediaType"]
            allowed = declared[name].get("formats", [declared[name]["schema"]["contentMediaType"]])
            if media not in allowed:
                raise InvalidInput(f"output {name!r} is offered as {', '.join(allowed)}, not {media}")
            out[name] = media
        return out

    def check(self, inputs: dict[str, Any], settings: Settings, store: Store | None = None) -> None:
        """Checks that need more than the schema, done before a job is queued (400 on a mistake)."""

    def authorize(self, inputs: dict[str, Any], store: Store, reader: Reader) -> None:
        """What the inputs name that the caller may not read (a layer above their tier) is refused, before a
        job is queued and before any other check, as if it did not exist (404): ``JobRunner.prepare`` calls it with
        what the caller of the execution may read."""

    def heavy(self, inputs: dict[str, Any], settings: Settings) -> bool:
        """Does this run take one of the host's slots for heavy work (processes/slots.py)? By default
        yes; a process whose small runs are cheap says which of its runs are."""
        return True

    def run(self, ctx: RunContext, inputs: dict[str, Any], outputs: dict[str, str]) -> dict[str, Output]:
        """Run the process; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")

    # ---- pygeoapi's processor interface (any pygeoapi manager may call it) ---------------------------
    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, Any]:
        """Checked and run as ``JobRunner`` does for ``onemap serve``, without keeping a job."""
        from onemap.config.settings import get_settings

        settings = get_settings()
        store = get_store(self.processor_def["data"])
        try:
            inputs = self.validate(data)
            wanted = self.outputs_requested(outputs)
            self.check(inputs, settings, store)
            result = self.run(RunContext(store, settings, time.monotonic() + settings.jobs.time_limit), inputs, wanted)
        except OneMapError as err:
            raise OneMapExecuteError(err) from err
        if len(result) == 1:
            only = next(iter(result.values()))
            return only.media_type, only.value
        return "application/json", {k: v.value for k, v in result.items()}

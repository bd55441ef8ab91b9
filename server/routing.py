"""Routes declared once, and the factories that group them per API.

A ``Route`` holds everything about one operation: its path (OpenAPI form), its query
parameters (``providers.params.Param`` objects), its OpenAPI summary and responses, the
access scope it needs, its per-route dependencies and the handler. ``register`` turns the
routes of every factory into Flask views that check the parameters before the handler runs
(an unknown or malformed one is a 400) and call the dependencies in between;
``openapi.build`` writes the same routes into the OpenAPI document. Nothing else declares a
parameter.

Dependencies (titiler's ``route_dependencies``) are callables given the ``Call``; they raise
a ``OneMapError`` to refuse a request. Factories may carry their own; ``create_app`` takes
more for any route matched by path, method or scope (access checks and limits plug in there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Request, Response, request

from onemap.config.errors import NotFound
from onemap.providers.params import LANG, Args, Param, ParamContext, ParamSet

from .http import wants_html

Handler = Callable[..., Response]


@dataclass(frozen=True)
class Instance:
    """One concrete path of a templated route in the OpenAPI document (a route per collection)."""

    values: Mapping[str, str]  # path parameter -> value
    tag: str
    title: str
    operation: str  # operationId stem, e.g. "Dltb"
    extra: tuple[Param, ...] = ()  # the collection's own query parameters (its queryables)
    description: str = ""


@dataclass
class Call:
    """One request as the route sees it: the route, its path values and its parsed parameters."""

    route: Route
    path: dict[str, str]
    args: Args
    request: Request
    principal: Any = None  # who calls (server/access.py sets it before the handler runs)


Dependency = Callable[[Call], None]


@dataclass
class Route:
    """One operation (path and method) of the API."""

    path: str  # OpenAPI form: /collections/{collectionId}/items
    handler: Handler  # handler(call, **path values) -> Response
    operation_id: str
    summary: str
    tags: tuple[str, ...]
    method: str = "GET"
    query: tuple[Param, ...] = ()
    path_params: Mapping[str, dict[str, Any]] = field(default_factory=dict)  # name -> OpenAPI schema
    responses: Mapping[str, Any] = field(default_factory=dict)
    request_body: Mapping[str, Any] | None = None
    request_body_for: Callable[[Mapping[str, str]], Mapping[str, Any]] | None = None  # per instance
    headers: tuple[dict[str, Any], ...] = ()  # OpenAPI header parameters
    formats: tuple[str, ...] = ("json",)  # what ``f`` negotiates between when it is absent
    scope: str = "read"  # what the route does: read, execute, write (limits and CORS go by it)
    guard: str = "open"  # what the caller must reach: open, collection, process, user, internal, admin
    checked: bool = True  # False: the handler (pygeoapi) reads the query parameters itself
    extra_query: Callable[[Mapping[str, str]], Mapping[str, Param]] | None = None
    applies: Callable[[Mapping[str, str]], bool] | None = None  # which of several routes on one path
    instances: Callable[[], Iterable[Instance]] | None = None  # OpenAPI: one path per instance
    description: str = ""
    dependencies: list[Dependency] = field(default_factory=list)
    documented: bool = True
    served: bool = True  # False: documented only (served by a catch-all route of the same factory)
    flask_path: str = ""  # the Flask rule where it is not the path's plain form (``<path:...>``)

    @property
    def rule(self) -> str:
        return self.flask_path or re.sub(r"\{(\w+)\}", r"<\1>", self.path)


class APIFactory:
    """A group of routes: one OGC API (or one page) with its conformance classes and tags."""

    conforms_to: tuple[str, ...] = ()
    tags: tuple[dict[str, str], ...] = ()

    def routes(self) -> list[Route]:
        raise NotImplementedError


@dataclass(frozen=True)
class RouteDependency:
    """A dependency for every route matching ``paths`` (OpenAPI form), ``methods`` and ``scopes``
    (an empty tuple matches all)."""

    dependency: Dependency
    paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()

    def matches(self, route: Route) -> bool:
        return ((not self.paths or route.path in self.paths) and (not self.methods or route.method in self.methods)
                and (not self.scopes or route.scope in self.scopes))


def negotiated_format(route: Route, args: Args, req: Request) -> str:
    """``f`` as given, else HTML for a browser where the route offers it, else the first format."""
    f = args.get("f")
    if f is not None:
        return str(f)
    if "html" in route.formats and wants_html(req):
        return "html"
    return route.formats[0]


def negotiated_lang(req: Request) -> str:
    """``zh`` or ``en`` from Accept-Language (Chinese by default)."""
    best = req.accept_languages.best_match(["zh", "zh-CN", "en", "en-US"])
    return "en" if best and best.startswith("en") else "zh"


class Reader:
    """How one route reads a request: its parameters worked out once at registration."""

    def __init__(self, route: Route, ctx: ParamContext) -> None:
        self.route = route
        self.ctx = ctx
        self.params = ParamSet(route.query, ctx)
        self.has_format = "f" in self.params.declared
        self.has_lang = "lang" in self.params.declared or not route.checked

    def __call__(self, path: dict[str, str]) -> Call:
        route = self.route
        if route.checked:
            extra = route.extra_query(path) if route.extra_query else None
            args = self.params.parse(request.args, extra)
        else:
            args = Args({}, [], request.args)
        if self.has_format:
            args["f"] = negotiated_format(route, args, request)
        if self.has_lang and not args.get("lang"):  # Accept-Language is parsed only where it is read
            raw = request.args.get("lang")
            args["lang"] = LANG.parse(raw, self.ctx) if raw else negotiated_lang(request)
        return Call(route, path, args, request)


def register(app: Flask, factories: Sequence[APIFactory], ctx: ParamContext,
             dependencies: Sequence[RouteDependency] = ()) -> list[Route]:
    """Add every factory's routes to the app; returns them (the OpenAPI document is built from them)."""
    routes = [r for factory in factories for r in factory.routes()]
    for r in routes:
        r.dependencies = [d.dependency for d in dependencies if d.matches(r)] + list(r.dependencies)
    by_path: dict[str, dict[str, list[Route]]] = {}
    for r in routes:
        if not r.served:
            continue
        by_path.setdefault(r.rule, {}).setdefault(r.method, []).append(r)
    for rule, methods in by_path.items():
        app.add_url_rule(rule, endpoint=rule, view_func=_view(methods, ctx),
                         methods=sorted(methods))
    return routes


def _view(methods: dict[str, list[Route]], ctx: ParamContext) -> Callable[..., Response]:
    readers = {id(r): Reader(r, ctx) for routes in methods.values() for r in routes}

    def view(**path: str) -> Response:
        candidates = methods.get(request.method) or methods.get("GET", [])  # HEAD is GET
        route = next((r for r in candidates if r.applies is None or r.applies(path)), None)
        if route is None:
            cid = path.get("collectionId")
            raise NotFound(f"collection {cid!r} does not exist" if cid else f"no such resource: {request.path}")
        call = readers[id(route)](path)
        for dependency in route.dependencies:
            dependency(call)
        return route.handler(call, **path)

    return view

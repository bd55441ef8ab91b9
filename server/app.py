"""The WSGI application: one factory per API, registered on one Flask app.

``create_app(settings)`` is a factory (pygeoapi's own Flask binding is a module-level
singleton configured at import time, which cannot serve two stores in one process). Each
API is a factory of routes (server/routing.py); pygeoapi answers the landing page, the
collection documents and the operator's overlay resources (server/pygeoapi_bridge.py).
docs/ARCHITECTURE.md says which requests go where, and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Flask
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix

from onemap.config import pygeoapi_config
from onemap.config.catalogue import Catalogue, get_catalogue
from onemap.config.errors import ConfigError
from onemap.config.settings import Settings, get_settings
from onemap.providers import crs as crsmod
from onemap.providers.features import FeatureService
from onemap.providers.indicator_provider import COLLECTION_ID as INDICATORS_COLLECTION
from onemap.providers.indicator_provider import indicators_resource
from onemap.providers.params import ParamContext
from onemap.providers.store import Store, get_store
from onemap.providers.vector_tiles import VectorTileService
from onemap.providers.warning_provider import COLLECTION_ID as WARNINGS_COLLECTION
from onemap.providers.warning_provider import MONITORING_ID as MONITORING_COLLECTION
from onemap.providers.warning_provider import monitoring_resource, warnings_resource

from . import openapi as openapi_mod
from .access import ANONYMOUS, ROLE_RANK, Access, Identity, Limits, Policy, Principal
from .audit_ep import AuditAPI
from .basemaps import MOUNT as BASEMAPS_MOUNT
from .basemaps import BasemapsAPI
from .cached_tiles import CachedTiles
from .core_ep import CoreAPI
from .cors import Cors
from .drawers_ep import DrawersAPI
from .features_ep import FeaturesAPI
from .http import install
from .indicators_ep import IndicatorsAPI
from .lifecycle_ep import PlansAPI
from .links import Links
from .map_ep import MapPage
from .map_render import MapRenderer
from .maps_ep import MapsAPI
from .processes_ep import ProcessesAPI
from .pygeoapi_bridge import TEMPLATES, OverlayAPI, Pygeoapi, load_overlay
from .routing import APIFactory, Instance, Route, RouteDependency, register
from .statistics_ep import StatisticsAPI
from .tiles_ep import TilesAPI
from .warnings_ep import WarningsAPI


class OneMap:
    """What one running application holds: settings, catalogue, store, services, pygeoapi and the APIs."""

    def __init__(self, settings: Settings, catalogue: Catalogue | None = None, store: Store | None = None) -> None:
        from onemap.processes import PROCESSES, check_rule_files, load_processors
        from onemap.processes.runner import JobRunner

        self.settings = settings
        self.catalogue = catalogue or get_catalogue(settings.catalogue, settings.codes_dir)
        check_rule_files(settings, self.catalogue)  # a broken rule file stops the start, not a request later
        self.store = store or get_store(settings.store_url, self.catalogue, **settings.store_options())
        if not self.store.is_initialised():
            raise ConfigError(
                f"the store at {settings.store_url if settings.backend == 'gpkg' else 'ONEMAP_DATABASE_URL'} "
                "has no OneMap schema: run `onemap demo` (or `onemap db init`) first")
        self.store.ensure_schema()
        self.links = Links(settings.public_url)
        self.features = FeatureService(self.store, self.catalogue, settings.timezone)
        self.tiles = VectorTileService(self.store, settings.data_dir / "tiles" if settings.tile_cache else None,
                                       settings.timezone)
        self.processes = load_processors(settings.store_url)
        self.runner = JobRunner(self.store, settings, self.processes)
        extents = {lid: self.store.layer_extent(layer) for lid, layer in self.catalogue.collections.items()}
        known = [e for lid, e in extents.items() if e and lid in self.catalogue.layers]
        self.gk_epsg = crsmod.gk3_zone_epsg((min(e[0] for e in known) + max(e[2] for e in known)) / 2) if known else None
        self.crs_list = crsmod.supported_crs(self.gk_epsg)
        crsmod.warm_up(self.crs_list)
        self.params = ParamContext(tuple(self.crs_list), settings.timezone, settings.default_items, settings.max_items)
        overlay = load_overlay(settings.pygeoapi_overlay, set(self.catalogue.collections) | set(PROCESSES)
                               | {INDICATORS_COLLECTION, WARNINGS_COLLECTION, MONITORING_COLLECTION}) if settings.pygeoapi_overlay else {}
        # the indicators by region: OneMap's own resource, served by pygeoapi as an overlay's are
        overlay = {INDICATORS_COLLECTION: indicators_resource(settings.store_url, str(settings.catalogue),
                                                              str(settings.codes_dir), settings.timezone),
                   WARNINGS_COLLECTION: warnings_resource(settings.store_url, str(settings.catalogue),
                                                          str(settings.codes_dir), str(settings.warning_rules)),
                   MONITORING_COLLECTION: monitoring_resource(settings.store_url, str(settings.catalogue),
                                                              str(settings.codes_dir)),
                   **overlay}
        self.maps = MapRenderer(self.catalogue, self.tiles, self.features,
                                settings.data_dir / "tiles-maps" if settings.tile_cache else None, self.params)
        self.basemaps = BasemapsAPI(settings, self.store, self.links, renderer=self.maps)
        self.policy = Policy(self.catalogue, overlay)
        limits = settings.access
        self.access = Access(Identity(self.store, settings), self.policy,
                             Limits(limits.rate_limit, limits.rate_limit_execute, limits.rate_limit_storage))
        self.pg_config = pygeoapi_config.build(
            settings, self.catalogue, self.links.configured_base, self.crs_list,
            {k: list(v) if v else None for k, v in extents.items()}, PROCESSES, overlay, str(TEMPLATES),
            map_url=self.links.configured_base + self.basemaps.xyz_path)
        # one OpenAPI document per role (a caller is shown what it may use), filled by document()
        self.openapi_docs: dict[str, dict[str, Any]] = {role: {} for role in ROLE_RANK}
        self.pg = Pygeoapi(self.pg_config, lambda role: self.openapi_docs[role], self.links, overlay,
                           settings.pretty_print, self.pygeoapi_visible)
        self._processes_api = ProcessesAPI(self.processes, self.runner, self.links, self.pg,
                                           lambda p, pid: self.policy.sees_process(p or ANONYMOUS, pid),
                                           lambda p, lid: self.policy.sees_collection(p or ANONYMOUS, lid))
        self.factories: list[APIFactory] = [
            CoreAPI(self.store, self.links, self.pg, lambda: self.conformance, lambda role: self.openapi_docs[role]),
            FeaturesAPI(self.catalogue, self.store, self.features, settings, self.params, self.links, self.pg),
            StatisticsAPI(self.catalogue, self.store, settings),
            tiles_api := TilesAPI(self.catalogue, self.store, self.tiles, self.links, self.pg),
            MapsAPI(self.catalogue, self.store, self.maps, tiles_api, self.links),
            self._processes_api,
            DrawersAPI(self.catalogue, self.store, settings, self.links),
            MapPage(self.catalogue, self.store, settings, self.links, self.basemaps.xyz_path),
            PlansAPI(self.store, settings, self.links, self._processes_api.check_plan, self.queue_scan),
            AuditAPI(self.store, self.links),
            IndicatorsAPI(self.catalogue, self.store, self.links, settings.timezone),
            WarningsAPI(self.store, settings, self.links),
            self.basemaps,
            OverlayAPI(self.pg),
        ]
        self.conformance = sorted({c for f in self.factories for c in f.conforms_to})
        self.routes: list[Route] = []

    def queue_scan(self, who: str) -> None:
        """After a filing: a warnings scan as a job, and this process's job threads to take it."""
        from onemap.processes.warning_scan import queue_scan

        queue_scan(self.store, who)
        self.runner.start_threads()

    @property
    def api(self) -> Any:
        """pygeoapi's API object (over everything)."""
        return self.pg.api

    @property
    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of everything (an administrator's)."""
        return self.openapi_docs["admin"]

    def pygeoapi_visible(self, role: str, rid: str, res: dict[str, Any]) -> bool:
        """Does ``role`` see this pygeoapi resource (a collection or a process)?"""
        who = Principal(None, role)
        if res.get("type") == "process":
            return self.policy.sees_process(who, rid)
        return self.policy.sees_collection(who, rid)

    def _route_visible(self, role: str) -> Any:
        who = Principal(None, role)

        def visible(route: Route, inst: Instance | None) -> bool:
            values = inst.values if inst is not None else {}
            if route.guard == "collection" and "collectionId" in values:
                return self.policy.sees_collection(who, values["collectionId"])
            if route.guard == "process" and "processId" in values:
                return self.policy.sees_process(who, values["processId"])
            if route.guard in ("internal", "admin"):
                return ROLE_RANK[role] >= ROLE_RANK[route.guard]
            if route.guard == "user":
                return role != "public"
            return True

        return visible

    def document(self) -> None:
        """Write the OpenAPI document from the registered routes (pygeoapi's API holds the same dict)."""
        md = self.pg_config["metadata"]
        info = {
            "title": md["identification"]["title"]["zh"] + " / " + md["identification"]["title"]["en"],
            "description": md["identification"]["description"]["en"],
            "version": "0.1.0",
            "license": {"name": md["license"]["name"], "url": md["license"]["url"]},
            "contact": {"name": md["contact"]["name"], "email": md["contact"]["email"]},
        }
        for role, target in self.openapi_docs.items():
            overlay = {rid: res for rid, res in self.pg.overlay.items() if self.pygeoapi_visible(role, rid, res)}
            doc = openapi_mod.build(self.factories, self.routes, self.params, info, self.links.configured_base,
                                    self.pg_config, overlay, self._route_visible(role))
            target.clear()
            target.update(doc)


def create_app(settings: Settings | None = None, store: Store | None = None,
               route_dependencies: Sequence[RouteDependency] = ()) -> Flask:
    """The OneMap WSGI application for these settings; ``route_dependencies`` run before the
    handlers of the routes they match (access checks, limits)."""
    settings = settings or get_settings()
    om = OneMap(settings, store=store)
    app = Flask(__name__, static_folder=None)
    app.url_map.strict_slashes = False
    app.extensions["onemap"] = om
    install(app, settings.gzip_min_bytes, Cors(settings.access.cors_origins, lambda: om.links.base))
    # who calls, and whether the route's resource is theirs to reach: on every route, before the others
    access = RouteDependency(om.access.dependency)
    om.routes = register(app, om.factories, om.params, [access, *route_dependencies])
    app.after_request(om.access.after)
    om.document()
    # cached tiles and basemaps are answered in front of Flask, where no dependency runs: only while none
    # guards them (Flask's documented way to add WSGI middleware; its types declare wsgi_app a method)
    def guarded(prefix: str) -> bool:
        return any(d.matches(r) for d in route_dependencies for r in om.routes if r.path.startswith(prefix))

    if not guarded(BASEMAPS_MOUNT):
        om.basemaps.flask_app = app.wsgi_app
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {BASEMAPS_MOUNT: om.basemaps})  # type: ignore[method-assign]
    if not guarded("/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/"):
        app.wsgi_app = CachedTiles(app.wsgi_app, om)  # type: ignore[method-assign]
    if settings.trusted_proxies:
        # the client's address (rate limits, the audit trail) from the proxies the operator trusts
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies)  # type: ignore[method-assign]
    return app


def wsgi_app() -> Flask:
    """Entry point for gunicorn (``onemap.server.app:wsgi_app()``)."""
    return create_app()


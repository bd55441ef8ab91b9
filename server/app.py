"""The WSGI application: pygeoapi's API and templates, OneMap's endpoints, one Flask app.

``create_app(settings)`` is a factory (pygeoapi's own Flask binding is a module-level
singleton configured at import time, which cannot serve two stores in one process).
pygeoapi answers the landing page, collections, schemas and HTML; OneMap answers the
items, queryables, conformance and OpenAPI endpoints itself (see items.py for why).
"""

from __future__ import annotations

import logging
from pathlib import Path
from functools import cached_property
from typing import Any, Callable

import orjson
import pygeoapi
from flask import Flask, Response, request, send_from_directory
from pygeoapi import l10n
from pygeoapi.api import API, APIRequest
import pygeoapi.api as core_api
from pygeoapi.util import render_j2_template

from onemap.config import pygeoapi_config
from onemap.config.catalogue import Catalogue, Layer, get_catalogue
from onemap.config.errors import ConfigError, NotFound
from onemap.config.settings import Settings, get_settings
from onemap.providers import crs as crsmod
from onemap.providers.features import FeatureService
from onemap.providers.store import Store, get_store
from onemap.providers.vector_tiles import VectorTileService

from . import collections as collections_ep
from . import items as items_ep
from . import drawers_ep, processes_ep, tiles_ep
from . import openapi as openapi_mod
from . import pygeoapi_compat
from .cached_tiles import CachedTiles
from .http import JSON, install, json_response, output_format
from .params import COMMON, check_known

LOG = logging.getLogger("onemap")
PYGEOAPI_STATIC = Path(pygeoapi.__file__).parent / "static"
TEMPLATES = Path(__file__).parent / "templates"  # overrides of pygeoapi's templates

CORE_CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/landing-page",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/json",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
]


class OneMapAPIRequest(APIRequest):
    """pygeoapi's request wrapper; an unusable ``lang``/Accept-Language means the default locale.

    pygeoapi 0.24 raises (a 500) when Babel cannot build a locale it matched, e.g. for
    ``lang=zh-CN`` against the configured ``zh-CN``.
    """

    def _get_locale(self, headers: dict, supported_locales: Any) -> tuple:
        try:
            return super()._get_locale(headers, supported_locales)
        except Exception:
            return None, l10n.str2locale(supported_locales[0])


class OneMap:
    """Everything one running application holds: settings, catalogue, store, pygeoapi API."""

    def __init__(self, settings: Settings, catalogue: Catalogue | None = None, store: Store | None = None) -> None:
        self.settings = settings
        self.catalogue = catalogue or get_catalogue(settings.catalogue, settings.codes_dir)
        self.store = store or get_store(settings.store_url, self.catalogue, **settings.store_options())
        if not self.store.is_initialised():
            raise ConfigError(
                f"the store at {settings.store_url if settings.backend == 'gpkg' else 'ONEMAP_DATABASE_URL'} "
                "has no OneMap schema: run `onemap demo` (or `onemap db init`) first")
        self.store.ensure_schema()
        self.features = FeatureService(self.store, self.catalogue, settings.timezone)
        self.tiles = VectorTileService(self.store, settings.data_dir / "tiles" if settings.tile_cache else None,
                                       settings.timezone)
        from onemap.processes import load_processors
        from onemap.processes.runner import JobRunner

        self.processes = load_processors(settings.store_url)
        self.runner = JobRunner(self.store, settings, self.processes)
        self.openapi_extensions = [lambda paths, tags: tiles_ep.openapi_paths(self, paths, tags),
                                   lambda paths, tags: processes_ep.openapi_paths(self, paths, tags),
                                   lambda paths, tags: drawers_ep.openapi_paths(self, paths, tags)]
        self.base_url = settings.public_url or "http://127.0.0.1:5000"
        extents = {lid: self.store.layer_extent(layer) for lid, layer in self.catalogue.collections.items()}
        known = [e for lid, e in extents.items() if e and lid in self.catalogue.layers]
        self.gk_epsg = None
        if known:
            minx = min(e[0] for e in known)
            maxx = max(e[2] for e in known)
            self.gk_epsg = crsmod.gk3_zone_epsg((minx + maxx) / 2)
        self.crs_list = crsmod.supported_crs(self.gk_epsg)
        crsmod.warm_up(self.crs_list)
        self.pg_config = pygeoapi_config.build(
            settings, self.catalogue, self.base_url, self.crs_list,
            {k: list(v) if v else None for k, v in extents.items()}, str(TEMPLATES))
        pygeoapi_compat.install()
        # pygeoapi's HTML rendering walks the whole config as a language struct and warns on
        # every key that is not a locale; those warnings carry no information.
        logging.getLogger("pygeoapi.l10n").setLevel(logging.ERROR)
        self.openapi = openapi_mod.build(self)
        self.api = API(self.pg_config, self.openapi)
        self.conformance = sorted(set(CORE_CONFORMANCE + items_ep.CONFORMS_TO + tiles_ep.CONFORMS_TO
                                      + processes_ep.CONFORMS_TO))

    # ---- helpers used by the endpoint modules -----------------------------------------
    def layer(self, collection_id: str) -> Layer:
        layer = self.catalogue.collections.get(collection_id)
        if layer is None:
            raise NotFound(f"collection {collection_id!r} does not exist")
        return layer

    def amend_landing(self, doc: dict) -> dict:
        """Links pygeoapi does not know: our tile endpoints."""
        rel = "http://www.opengis.net/def/rel/ogc/1.0/"
        doc["links"] = [link for link in doc.get("links", []) if "tilematrixsets" not in link.get("rel", "")]
        doc["links"] += [
            {"rel": rel + "tiling-schemes", "type": JSON, "title": "Tile matrix sets",
             "href": f"{self.base_url}/tileMatrixSets"},
            {"rel": rel + "tilesets-vector", "type": JSON, "title": "Vector tiles of the one map",
             "href": f"{self.base_url}/tiles"},
        ]
        return doc

    def tiled_layer(self, collection_id: str) -> Layer:
        """A data layer that has tiles (the registry collection has none)."""
        layer = self.catalogue.layers.get(collection_id)
        if layer is None:
            raise NotFound(f"collection {collection_id!r} has no tiles" if collection_id in self.catalogue.collections
                           else f"collection {collection_id!r} does not exist")
        return layer

    def lang(self) -> str:
        """``zh`` or ``en``, from ``lang`` or Accept-Language (Chinese by default)."""
        raw = request.args.get("lang")
        if raw:
            return "en" if raw.lower().startswith("en") else "zh"
        best = request.accept_languages.best_match(["zh", "zh-CN", "en", "en-US"])
        return "en" if best and best.startswith("en") else "zh"

    @property
    def locale(self) -> Any:
        return l10n.str2locale("en-US" if self.lang() == "en" else "zh-CN")

    def call_pygeoapi(self, fn: Callable, *args: Any, post: Callable[[dict], dict] | None = None) -> Response:
        """Run a pygeoapi API function on the current request; ``post`` may amend its JSON."""
        api_req = OneMapAPIRequest.from_flask(request, self.api.locales)
        if not api_req.is_valid():
            headers, status, content = self.api.get_format_exception(api_req)
        else:
            headers, status, content = fn(self.api, api_req, *args)
        if post is not None and status == 200 and api_req.format in (None, "json"):
            doc = post(orjson.loads(content))
            return json_response(doc, status=status, media_type=headers.get("Content-Type", JSON),
                                 headers={k: v for k, v in headers.items() if k.lower() != "content-type"},
                                 pretty=self.settings.pretty_print)
        resp = Response(content, status=status)
        for k, v in headers.items():
            resp.headers[k] = v
        return resp

    def render(self, template: str, data: dict) -> Response:
        html = render_j2_template(self.api.tpl_config, self.api.config["server"]["templates"], template,
                                  data, self.locale)
        return Response(html, mimetype="text/html")

    def render_items_html(self, layer: Layer, doc: dict, offset: int) -> Response:
        data = dict(doc)
        data.update({
            "title": layer.t("title", self.lang()), "itemtype": "feature", "offset": offset,
            "items_path": f"{self.base_url}/collections/{layer.id}/items",
            "dataset_path": f"{self.base_url}/collections/{layer.id}",
            "collections_path": f"{self.base_url}/collections", "id_field": "fid",
        })
        return self.render("collections/items/index.html", data)

    def render_item_html(self, layer: Layer, feat: dict) -> Response:
        data = dict(feat)
        data.update({
            "title": layer.t("title", self.lang()), "itemtype": "feature", "id_field": "fid",
            "collections_path": f"{self.base_url}/collections",
            "dataset_path": f"{self.base_url}/collections/{layer.id}",
            "items_path": f"{self.base_url}/collections/{layer.id}/items",
            "prev": None, "next": None,
        })
        return self.render("collections/items/item.html", data)

    @cached_property
    def openapi_json(self) -> bytes:
        return orjson.dumps(self.openapi)


def create_app(settings: Settings | None = None, store: Store | None = None) -> Flask:
    """The OneMap WSGI application for these settings."""
    settings = settings or get_settings()
    om = OneMap(settings, store=store)
    app = Flask(__name__, static_folder=None)
    app.url_map.strict_slashes = False
    app.extensions["onemap"] = om
    install(app, settings.gzip_min_bytes)

    def simple(allowed: frozenset[str] = COMMON) -> None:
        check_known(request.args, allowed)

    @app.get("/")
    def landing() -> Response:
        simple()
        return om.call_pygeoapi(core_api.landing_page, post=om.amend_landing)

    @app.get("/conformance")
    def conformance() -> Response:
        simple()
        doc = {"conformsTo": om.conformance}
        if output_format(request) == "html":
            return om.render("conformance.html", doc)
        return json_response(doc)

    @app.get("/openapi")
    def openapi() -> Response:
        simple()
        if output_format(request) == "html":
            return om.call_pygeoapi(core_api.openapi_)
        return Response(om.openapi_json, mimetype="application/vnd.oai.openapi+json;version=3.0")

    @app.get("/healthz")
    def healthz() -> Response:
        simple()
        plans = om.store.plans()
        return json_response({"status": "ok", "backend": om.store.backend, "plans": len(plans)},
                             headers={"Cache-Control": "no-store"})

    @app.get("/collections")
    def collections() -> Response:
        simple()
        return collections_ep.collections(om)

    @app.get("/collections/<collection_id>")
    def collection(collection_id: str) -> Response:
        simple()
        return collections_ep.collection(om, collection_id)

    @app.get("/collections/<collection_id>/queryables")
    def queryables(collection_id: str) -> Response:
        simple()
        return collections_ep.queryables(om, collection_id)

    @app.get("/collections/<collection_id>/schema")
    def schema(collection_id: str) -> Response:
        simple()
        return collections_ep.schema(om, collection_id)

    @app.route("/collections/<collection_id>/items", methods=["GET", "POST"])
    def items(collection_id: str) -> Response:
        return items_ep.items(om, collection_id)

    @app.get("/collections/<collection_id>/items/<feature_id>")
    def item(collection_id: str, feature_id: str) -> Response:
        return items_ep.item(om, collection_id, feature_id)

    @app.get("/processes")
    def processes() -> Response:
        return processes_ep.list_processes(om)

    @app.get("/processes/<process_id>")
    def process(process_id: str) -> Response:
        return processes_ep.describe_process(om, process_id)

    @app.post("/processes/<process_id>/execution")
    def execute(process_id: str) -> Response:
        return processes_ep.execute(om, process_id)

    @app.get("/jobs")
    def jobs() -> Response:
        return processes_ep.list_jobs(om)

    @app.get("/jobs/<job_id>")
    def job(job_id: str) -> Response:
        return processes_ep.get_job(om, job_id)

    @app.delete("/jobs/<job_id>")
    def dismiss_job(job_id: str) -> Response:
        return processes_ep.dismiss(om, job_id)

    @app.get("/jobs/<job_id>/results")
    def job_results(job_id: str) -> Response:
        return processes_ep.job_results(om, job_id)

    @app.route("/governing", methods=["GET", "POST"])
    def governing() -> Response:
        return drawers_ep.governing(om)

    @app.get("/plans/<plan_id>/trace")
    def plan_trace(plan_id: str) -> Response:
        return drawers_ep.trace(om, plan_id)

    @app.get("/certificates")
    def certificates() -> Response:
        return drawers_ep.certificates(om)

    @app.get("/certificates/<cert_id>")
    def certificate(cert_id: str) -> Response:
        return drawers_ep.certificate(om, cert_id)

    @app.get("/tileMatrixSets")
    def tile_matrix_sets() -> Response:
        return tiles_ep.tile_matrix_sets(om)

    @app.get("/tileMatrixSets/<tms_id>")
    def tile_matrix_set(tms_id: str) -> Response:
        return tiles_ep.tile_matrix_set(om, tms_id)

    @app.get("/collections/<collection_id>/tiles")
    def collection_tilesets(collection_id: str) -> Response:
        return tiles_ep.collection_tilesets(om, collection_id)

    @app.get("/collections/<collection_id>/tiles/<tms_id>")
    def collection_tileset(collection_id: str, tms_id: str) -> Response:
        return tiles_ep.collection_tileset(om, collection_id, tms_id)

    @app.get("/collections/<collection_id>/tiles/<tms_id>/<z>/<row>/<col>")
    def collection_tile(collection_id: str, tms_id: str, z: str, row: str, col: str) -> Response:
        return tiles_ep.collection_tile(om, collection_id, tms_id, z, row, col)

    @app.get("/tiles")
    def dataset_tilesets() -> Response:
        return tiles_ep.dataset_tilesets(om)

    @app.get("/tiles/<tms_id>")
    def dataset_tileset(tms_id: str) -> Response:
        return tiles_ep.dataset_tileset(om, tms_id)

    @app.get("/tiles/<tms_id>/<z>/<row>/<col>")
    def dataset_tile(tms_id: str, z: str, row: str, col: str) -> Response:
        return tiles_ep.dataset_tile(om, tms_id, z, row, col)

    @app.get("/static/<path:filename>")
    def static_files(filename: str) -> Response:
        return send_from_directory(PYGEOAPI_STATIC, filename, max_age=86400)

    from . import basemaps
    basemaps.mount(app, om)
    from . import map_ep
    map_ep.register(app, om)
    app.wsgi_app = CachedTiles(app.wsgi_app, om)  # type: ignore[method-assign]
    return app


def wsgi_app() -> Flask:
    """Entry point for gunicorn (``onemap.server.app:wsgi_app()``)."""
    return create_app()

"""``GET /collections/{collectionId}/statistics``: the statistics process's simple cases as a URL.

The same question and answer as the ``statistics`` process (processes/statistics.py) with a region code
for the area; a bureau's spreadsheet or a dashboard links it (``f=csv``, ``f=xlsx``). The collection's
tier is the route's guard, as for its items.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response

from onemap.config.catalogue import Catalogue
from onemap.config.errors import InvalidParameterValue
from onemap.config.settings import Settings
from onemap.processes.base import Reader
from onemap.processes.statistics import CSV_MEDIA, XLSX_MEDIA, answer, check_readable, encode, parse_day, question
from onemap.providers.crs import CRS84
from onemap.providers.params import STATISTICS, bbox_to_storage, parse_filter
from onemap.providers.store import Store

from .access import reaches
from .features_ep import operation
from .http import JSON, json_response
from .routing import APIFactory, Call, Instance, Route

MEDIA = {"json": JSON, "csv": CSV_MEDIA, "xlsx": XLSX_MEDIA}
RESPONSE = {"description": "Area (m², ha, mu) and count per group, and their total; CSV and XLSX as attachments.",
            "content": {JSON: {"schema": {"type": "object", "required": ["layer", "datetime", "group_by", "rows",
                                                                         "total"]}},
                        "text/csv": {"schema": {"type": "string"}},
                        XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}}}}


class StatisticsAPI(APIFactory):
    """Statistics of the one-map layers (查询统计) by GET."""

    def __init__(self, catalogue: Catalogue, store: Store, settings: Settings) -> None:
        self.catalogue = catalogue
        self.store = store
        self.settings = settings

    def _ours(self, path: Mapping[str, str]) -> bool:
        layer = self.catalogue.collections.get(path.get("collectionId", ""))
        return layer is not None and layer.drawer

    def _instances(self) -> list[Instance]:
        return [Instance({"collectionId": lid}, lid, layer.t("title"), operation(lid))
                for lid, layer in self.catalogue.collections.items() if layer.drawer]

    def routes(self) -> list[Route]:
        return [
            Route("/collections/{collectionId}/statistics", self.statistics, "get{op}Statistics",
                  "{title}: area and count per group (查询统计)", (), query=STATISTICS,
                  path_params={"collectionId": {"type": "string"}}, responses={"200": RESPONSE},
                  formats=("json",), applies=self._ours, instances=self._instances,
                  guard="collection"),
        ]

    def statistics(self, call: Call, collectionId: str) -> Response:
        args = call.args
        p = call.principal
        check_readable(self.store, collectionId, args.get("plan_id"),
                       Reader(lambda layer_id: True, p is None or reaches(p, "internal")))  # the guard read the tier
        when = args.get("datetime")
        day = when.day("statistics answer") if when is not None else parse_day(None, self.settings.timezone)
        text = args.get("filter")
        bbox = args.get("bbox")
        if args.get("bbox-crs") is not None and bbox is None:
            raise InvalidParameterValue("bbox-crs is given without bbox")
        q = question(self.store, self.settings, collectionId, group_by=args["group_by"], area=args.get("area"),
                     day=day, filter_ast=parse_filter(text, args.get("filter-lang") or "cql2-text", None),
                     filter_text=text, plan_id=args.get("plan_id"), recorded=args.get("recorded"),
                     bbox=bbox_to_storage(bbox, args.get("bbox-crs") or CRS84) if bbox is not None else None)
        doc = answer(self.store, q, args["lang"])
        fmt = args["f"]
        out = encode(doc, MEDIA[fmt], self.catalogue)
        if fmt == "json":
            return json_response(out.value, pretty=self.settings.pretty_print)
        name = f"{collectionId}-statistics-{doc['datetime']}.{fmt}"
        return Response(out.value, mimetype=out.media_type,
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

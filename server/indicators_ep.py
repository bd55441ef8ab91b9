"""指标 over HTTP: the indicator model and an indicator's time series (or value on a date) for a region.
The values of every region, with their outlines, are the ``indicators`` collection
(providers/indicator_provider.py).

An indicator is offered to a caller who may read every layer its formula measures (the red line's
area is as restricted as the red line).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response

from onemap.config.catalogue import Catalogue
from onemap.config.errors import InvalidParameterValue, NotFound
from onemap.config.indicators import IndicatorDef
from onemap.domain.dates import When
from onemap.providers.indicators import STATUS, readable, shared_service
from onemap.providers.params import DATETIME, LANG, Param, parse_region
from onemap.providers.regions import Regions
from onemap.providers.store import Store

from .access import reaches
from .http import JSON, json_response
from .links import Links
from .routing import APIFactory, Call, Route

REGION = Param("region", "Administrative division code (6 or 9 digits) the indicator is computed for.",
               {"type": "string", "pattern": "^[0-9]{6,12}$"}, parse_region, key="indicator-region")


def _day(when: When | None) -> dt.date | None:
    return None if when is None else when.day("indicators are computed")


class IndicatorsAPI(APIFactory):
    """The indicator model (config/indicators.yaml) and its values."""

    tags = ({"name": "indicators", "description": "指标: indicators, targets and status (实施监督)"},)

    def __init__(self, catalogue: Catalogue, store: Store, links: Links, timezone: str) -> None:
        self.catalogue = catalogue
        self.service = shared_service(store)
        self.store = store
        self.links = links
        self.tz = timezone

    def routes(self) -> list[Route]:
        doc = {"200": {"description": "JSON.", "content": {JSON: {"schema": {"type": "object"}}}}}
        return [
            Route("/indicators", self.model, "getIndicators", "The indicator model: every indicator the caller may "
                  "read, with unit, binding type, levels and source, and those that need data not held",
                  ("indicators",), query=(LANG,), responses=doc),
            Route("/indicators/{code}", self.values, "getIndicator", "An indicator for a region: one value per "
                  "survey year held (its time series), or its value on one date (datetime); each with the target of "
                  "the governing upper plan, the gap and a status (达标/预警/超标)", ("indicators",),
                  path_params={"code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]{1,30}$"}},
                  query=(REGION, DATETIME, LANG), responses=doc),
        ]

    # ---- access ----------------------------------------------------------------------------------------
    def _readable(self, d: IndicatorDef, principal: Any) -> bool:
        return readable(d, self.catalogue, lambda tier: reaches(principal, tier))

    def _definition(self, code: str, principal: Any) -> IndicatorDef:
        d = self.service.definition(code)
        if not self._readable(d, principal):
            raise NotFound(f"no indicator {code!r}")  # as for a collection the caller does not reach
        return d

    def _describe(self, d: IndicatorDef, lang: str) -> dict[str, Any]:
        return {"code": d.code, "title": d.title.get(lang, d.title["zh"]), "name": d.title["zh"],
                "unit": d.unit, "binding": d.binding, "kind": d.kind, "levels": list(d.levels),
                "formula": d.computed.model_dump(exclude_none=True, exclude_defaults=True),
                "source": d.source.model_dump() if d.source else None,
                "links": [self.links.link("self", JSON, "indicators", d.code)]}

    # ---- handlers --------------------------------------------------------------------------------------
    def model(self, call: Call) -> Response:
        lang = call.args["lang"]
        ind = self.service.ind
        return json_response({
            "indicators": [self._describe(d, lang) for d in ind.indicators if self._readable(d, call.principal)],
            "warn_margin": ind.warn_margin, "status": STATUS,
            "not_computed": list(ind.not_computed),
            "links": [self.links.link("self", JSON, "indicators")],
        })

    def values(self, call: Call, code: str) -> Response:
        d = self._definition(code, call.principal)
        region = call.args.get("region")
        if region is None:
            raise InvalidParameterValue("region: give the administrative division code to compute the indicator for")
        day = _day(call.args.get("datetime"))
        if day is None:
            values = self.service.series(d.code, region)
            if not values:
                raise NotFound("no survey is held: an indicator has no time series without one")
        else:
            values = self.service.evaluate(Regions(self.store, day).get(region), day, [d.code])
        return json_response({"indicator": self._describe(d, call.args["lang"]), "region": region,
                              "values": values,
                              "links": [self.links.link("self", JSON, "indicators", d.code, query={"region": region})]})

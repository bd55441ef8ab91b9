"""The store: one interface, two backends (GeoPackage embedded, PostGIS in production)."""

from __future__ import annotations

import threading
from typing import Any

from onemap.config.catalogue import Catalogue, get_catalogue

from .base import FeatureBatch, FeaturePage, FeatureQuery, Plan, Store, When, region_covers, region_prefix

_STORES: dict[str, Store] = {}
_LOCK = threading.Lock()


def is_database_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://", "postgresql+psycopg2://"))


def open_store(url: str, catalogue: Catalogue | None = None, **options: Any) -> Store:
    """A new store for a database URL or a GeoPackage path (the caller closes it); ``options`` tune
    the backend (``Settings.store_options``)."""
    catalogue = catalogue or get_catalogue()
    if is_database_url(url):
        from .postgis import PostgisStore

        return PostgisStore(url, catalogue, **options)
    from .gpkg import GpkgStore

    return GpkgStore(url, catalogue, **options)


def get_store(url: str, catalogue: Catalogue | None = None, **options: Any) -> Store:
    """The process-wide store for ``url`` (providers are created per request; this is not). The
    first call's ``options`` tune it; without options, the settings' tuning applies."""
    store = _STORES.get(url)
    if store is None:
        with _LOCK:
            store = _STORES.get(url)
            if store is None:
                if not options:
                    from onemap.config.settings import get_settings

                    options = get_settings().store_options()
                store = open_store(url, catalogue, **options)
                _STORES[url] = store
    return store


def reset_stores() -> None:
    """Close every cached store (after a fork, or between tests)."""
    with _LOCK:
        for store in _STORES.values():
            store.close()
        _STORES.clear()


__all__ = [
    "FeatureBatch", "FeaturePage", "FeatureQuery", "Plan", "Store", "When", "get_store",
    "is_database_url", "open_store", "region_covers", "region_prefix", "reset_stores",
]

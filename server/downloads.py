"""Downloads of a feature selection: ``/collections/{id}/items?f=csv|gpkg|shp|fgb``.

The items route answers them (same parameters, same access dependency, same items query:
``FeatureService.batches`` pages through the selection with the items' keyset); this module
checks what only a download has (its maximum, no page cursor), streams the file and states the
formats in the OpenAPI document and the items' links. The files are written by
``providers.export``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from flask import Response, stream_with_context

from onemap.config.errors import InvalidParameterValue, OneMapError
from onemap.config.settings import Settings
from onemap.providers.export import FORMATS, columns, csv_chunks, file_chunks, temporary_folder, write_file
from onemap.providers.features import FeatureService, ItemsQuery

from .http import GEOJSON
from .routing import Call

BATCH = 2_000  # features per query: a few MB of parcels in memory, few round trips


def items_response(maximum: int) -> dict[str, Any]:
    """The items' 200 response in the OpenAPI document: a page, or a download in one of the formats."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    content: dict[str, Any] = {
        GEOJSON: {"schema": {"$ref": "#/components/schemas/featureCollectionGeoJSON"}},
        "text/html": {"schema": {"type": "string"}},
    }
    for fmt in FORMATS.values():
        content[fmt.media_type.split(";")[0]] = {"schema": {"type": "string"}} if fmt.name == "csv" else binary
    return {
        "description": f"A page of features (GeoJSON, HTML), or with f=csv, gpkg, shp or fgb the whole selection as "
                       f"a file (at most {maximum:,} features; a larger selection is a 400).",
        "headers": {
            "Content-Crs": {"description": "CRS of the geometries", "schema": {"type": "string"}},
            "Content-Disposition": {"description": "downloads: attachment; filename=<collection>.<extension>",
                                    "schema": {"type": "string"}},
        },
        "content": content,
    }


def download_links(base: str, args: list[tuple[str, str]], query_string: Any) -> list[dict[str, Any]]:
    """``alternate`` links to this selection as each download format (the page cursor left out)."""
    return [{"rel": "alternate", "type": fmt.media_type.split(";")[0], "title": f"this selection as {fmt.title}",
             "href": f"{base}?{query_string(args, ('f', 'offset', 'after', 'limit'), {'f': fmt.name})}"}
            for fmt in FORMATS.values()]


def download(features: FeatureService, settings: Settings, call: Call, q: ItemsQuery) -> Response:
    """The selection of ``q`` as a file of format ``call.args['f']``, streamed.

    Without ``limit`` it is the whole selection; more than ``download_max_features`` features is a 400
    before anything is written. CSV goes to the client batch by batch; the GDAL formats are built in a
    temporary folder (deleted once sent), then streamed from disk.
    """
    fmt = FORMATS[call.args["f"]]
    layer = q.layer
    if call.args.get("after") is not None:
        raise InvalidParameterValue("after is a page cursor; a download is the whole selection (offset skips "
                                    "features)")
    maximum = settings.download_max_features
    total = q.limit if "limit" in call.request.args else None
    if (total is None or total > maximum) and features.more_than(q, maximum):
        raise InvalidParameterValue(
            f"the selection holds more than {maximum:,} features, the most one download may hold; narrow it "
            f"(bbox, filter, region, property filters) or give limit")
    cols = columns(layer, q.select)
    batches = features.batches(q, BATCH, total)
    headers = {"Content-Disposition": f'attachment; filename="{layer.id}.{fmt.extension}"',
               "Content-Crs": f"<{q.crs}>"}
    if fmt.driver is None:
        # the request's context stays open while the rows are read (the store's per-request scope)
        return Response(stream_with_context(csv_chunks(batches, cols)), content_type=fmt.media_type, headers=headers)
    folder = temporary_folder()
    try:
        path = write_file(fmt, batches, cols, layer, q.crs, folder)
    except OneMapError:
        _remove(folder)
        raise
    except Exception as exc:  # GDAL's and pyarrow's errors: the client gets the request id, the log the cause
        _remove(folder)
        raise OneMapError(f"the {fmt.title} file could not be written") from exc
    headers["Content-Length"] = str(path.stat().st_size)
    return Response(file_chunks(path, folder), content_type=fmt.media_type, headers=headers, direct_passthrough=True)


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)

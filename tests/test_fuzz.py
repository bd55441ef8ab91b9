"""Property-based fuzzing from our own OpenAPI document: no input may cause a server error.

schemathesis generates the requests from /openapi (its pytest plugin does not yet work with
pytest 9, so each operation's strategy is driven by hypothesis directly).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

# answers that are not text: the downloads, the rendered maps (PNG, JPEG) and the workbooks
BINARY = ("application/geopackage+sqlite3", "application/zip", "application/flatgeobuf", "image/",
          "application/vnd.openxmlformats")  # XLSX: statistics, the 汇总表, the evaluation reports


@pytest.fixture(scope="module")
def operations(app):
    schema = schemathesis.openapi.from_wsgi("/openapi", app)
    ops = [r.ok() for r in schema.get_all_operations()]
    # two collections stand for all: they share every parameter and handler
    return [op for op in ops if not op.path.startswith("/collections/")
            or op.path.split("/")[2] in ("dltb", "czkfbj")]


def test_no_input_makes_a_server_error(operations):
    assert len(operations) >= 12
    for op in operations:

        @given(case=op.as_strategy())
        @settings(max_examples=20, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case) -> None:
            response = case.call(headers={"Accept-Encoding": "identity"})
            assert response.status_code < 500, (case.method, case.formatted_path, case.query,
                                                response.text[:300])
            # downloads are files (a GeoPackage holds its own triggers' SQL): the leak checks read text answers
            if not (response.headers.get("content-type") or [""])[0].startswith(BINARY):  # lowercase names, lists
                assert "Traceback" not in response.text and "SELECT " not in response.text
            if response.status_code >= 400 and "json" in response.headers.get("Content-Type", ""):
                assert {"code", "description"} <= set(response.json())

        run()

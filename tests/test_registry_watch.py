"""Registry change notices (providers/store/watch.py): a PostGIS store reads the registry
version only when another process has changed it, and falls back to reading it on every
request when its listening connection is lost."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import pytest

from onemap.providers.registry import Registry
from onemap.providers.store import open_store
from onemap.providers.store.base import begin_request, end_request

from .conftest import pg_clone, registry_notice_delivered

PLAN = "990100-city-master-2023"


@pytest.fixture()
def two_stores(pg, pg_template):
    """Two stores on one database, as two server processes would have."""
    url = pg_clone(pg, pg_template)
    a, b = open_store(url), open_store(url)
    assert a is not b
    yield url, a, b
    a.close()
    b.close()


@contextmanager
def request_scope() -> Iterator[None]:
    """What server/http.py does around each HTTP request."""
    token = begin_request()
    try:
        yield
    finally:
        end_request(token)


def statements(url: str) -> int:
    """Statements the server has run in this database so far (xact_commit counts each autocommit one)."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        return int(cur.fetchone()[0])


def test_unchanged_registry_costs_no_query(two_stores):
    url, a, _ = two_stores
    with request_scope():
        first = a.plan(PLAN)
    before = statements(url)
    for _ in range(20):
        with request_scope():
            assert a.plan(PLAN) == first
    # the stats collector is not exact to the statement: a backend reports its counts at most once a
    # second, so the stores' opening transactions may arrive late; 20 requests would have been 20 reads
    assert statements(url) - before <= 8


def test_a_change_by_another_process_is_seen_by_the_next_request(two_stores):
    _, a, b = two_stores
    with request_scope():
        assert a.plan(PLAN).status == "filed"
    Registry(b).withdraw(PLAN, "规划科", "superseded by a correction")
    registry_notice_delivered(a)
    with request_scope():
        assert a.plan(PLAN).status == "withdrawn"


def test_a_change_by_this_process_is_seen_at_once(two_stores):
    _, a, _ = two_stores
    with request_scope():
        assert a.plan(PLAN).status == "filed"
    Registry(a).withdraw(PLAN, "规划科", "superseded by a correction")
    with request_scope():  # no waiting: the writer reads again after its own commit
        assert a.plan(PLAN).status == "withdrawn"


def test_a_lost_listening_connection_falls_back_to_reading(two_stores):
    """The listening connection is cut (a restarted pooler, a killed backend): the next request
    finds it gone, reads the version itself, and a later one listens again."""
    url, a, b = two_stores
    with request_scope():
        a.plan(PLAN)
    pid = a._watch._conn.get_backend_pid()
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))  # waits until it is gone
        assert cur.fetchone()[0]
    Registry(b).withdraw(PLAN, "规划科", "superseded by a correction")
    with request_scope():  # no notice can come: the version is read instead
        assert a.plan(PLAN).status == "withdrawn"
    with request_scope():
        assert a.plan(PLAN).status == "withdrawn"
    # after the retry pause it listens again (a new backend)
    a._watch._failed_at -= 60
    with request_scope():
        a.plan(PLAN)
    assert a._watch._conn is not None and a._watch._conn.get_backend_pid() != pid


def test_without_notices_the_version_is_still_read_every_few_seconds(two_stores, monkeypatch):
    """A listening connection that died without a word never errs: the version as last read is
    trusted only for a bounded time."""
    from onemap.providers.store import postgis

    _, a, b = two_stores
    with request_scope():
        assert a.plan(PLAN).status == "filed"
    monkeypatch.setattr(a._watch, "changed", lambda: False)  # as if the notice were lost on the way
    Registry(b).withdraw(PLAN, "规划科", "superseded by a correction")
    with request_scope():
        assert a.plan(PLAN).status == "filed"  # within the trusted time: no read
    monkeypatch.setattr(postgis, "WATCH_TRUST_SECONDS", 0.0)
    with request_scope():
        assert a.plan(PLAN).status == "withdrawn"

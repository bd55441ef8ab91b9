"""Registry change notices from PostgreSQL (LISTEN/NOTIFY), so a request need not ask.

Every request used to read the registry version with a query of its own: a round trip
that, for a cached tile, cost more than serving the tile. A trigger on the version row
sends a notice on commit (whichever process or host wrote it, with whatever code); each
server process keeps one listening connection and looks for notices without blocking.
When the listening connection is not there (not yet made, or lost), ``changed`` answers
``None`` and the store reads the version as before.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import psycopg2
import psycopg2.extensions

LOG = logging.getLogger(__name__)
CHANNEL = "onemap_registry"
RETRY_SECONDS = 5.0


class RegistryWatcher:
    """One LISTEN connection per process; thread-safe."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg2.extensions.connection | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._failed_at = float("-inf")

    def changed(self) -> bool | None:
        """Has the registry changed since the last call? ``None``: cannot tell (read the version)."""
        with self._lock:
            if self._pid != os.getpid():  # a forked child must not share its parent's socket
                self._conn, self._pid = None, os.getpid()
            if self._conn is None:
                return self._connect()
            try:
                self._conn.poll()
                # a terminated backend first says so in a notice (FATAL, or a WARNING of an immediate
                # shutdown or a crash); the read after that would fail
                fatal = [n for n in self._conn.notices
                         if n.startswith(("FATAL", "PANIC")) or "terminating connection" in n]
                self._conn.notices.clear()
                if fatal:
                    raise psycopg2.OperationalError(fatal[0].strip())
            except psycopg2.Error as err:
                LOG.warning("registry notices lost (%s); reading the version per request until reconnected", err)
                self._drop()
                return None
            if self._conn.notifies:
                self._conn.notifies.clear()
                return True
            return False

    def _connect(self) -> bool | None:
        if time.monotonic() - self._failed_at < RETRY_SECONDS:
            return None
        try:
            # keepalives: a peer that vanished is noticed by the kernel rather than waited on forever
            # and a connect timeout: a database host that vanished would hold every request waiting here
            timeout: dict[str, Any] = {} if "connect_timeout" in self.url else {"connect_timeout": 5}
            conn = psycopg2.connect(self.url, application_name="onemap-registry-watch", keepalives=1,
                                    keepalives_idle=30, keepalives_interval=10, keepalives_count=3, **timeout)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"LISTEN {CHANNEL}")
        except psycopg2.Error as err:
            LOG.warning("cannot listen for registry notices (%s)", err)
            self._failed_at = time.monotonic()
            return None
        self._conn = conn
        return True  # changes before LISTEN went unheard: read the version once

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                pass
        self._conn = None
        self._failed_at = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                try:
                    self._conn.close()
                except psycopg2.Error:
                    pass
            self._conn = None

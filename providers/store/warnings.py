"""预警 kept in the store: warnings, their events (who changed what), webhook subscriptions and deliveries.

Every host shares them through the store's database, as it shares jobs. A warning has a ``key`` (what it
is about: an indicator of a region, a filed plan on a control line); at most one warning per key is
live (open or acknowledged), which a partial unique index guarantees, so scans running twice or on two
hosts at once open nothing twice. Changes are compare-and-set: of two scans seeing the same change, one
records it. Deliveries are claimed with a lease like jobs, so one host posts each attempt.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import shapely

from onemap.config.errors import Conflict, InvalidParameterValue, NotFound
from onemap.domain.regions import region_prefix

if TYPE_CHECKING:
    from .base import Store

STATUSES = ("open", "acknowledged", "closed")
# who may move a warning where (a scan closes and opens by itself; people acknowledge, close and reopen)
MOVES = {"open": ("acknowledged", "closed"), "acknowledged": ("open", "closed"), "closed": ("open",)}
WARNING_COLUMNS = ("id", "key", "kind", "region", "severity", "status", "title_zh", "title_en", "detail",
                   "created", "updated", "updated_by")
EVENT_COLUMNS = ("seq", "warning_id", "at", "actor", "action", "from_status", "to_status", "severity", "note")
SUB_COLUMNS = ("id", "owner", "url", "secret", "regions", "kinds", "label", "created", "active")
DELIVERY_COLUMNS = ("id", "subscription_id", "warning_id", "event_seq", "payload", "status", "attempts", "next_at",
                    "lease_until", "worker", "last_code", "last_error", "created", "updated")
ATTEMPT_COLUMNS = ("seq", "delivery_id", "at", "url", "status_code", "error", "ms")
FINDING_COLUMNS = ("id", "run", "rule", "region", "county", "from_year", "to_year", "severity", "m2", "title_zh",
                   "title_en", "detail", "found")


@dataclass(frozen=True)
class Finding:
    """One 动态监测 finding: a rule's new construction land in one parcel of the later survey."""

    id: str
    run: str  # county:from_year:to_year (a run replaces the findings of the same run)
    rule: str
    region: str  # the township
    county: str
    from_year: str
    to_year: str
    severity: str
    m2: float
    title_zh: str
    title_en: str
    detail: dict[str, Any]
    found: float
    geometry: shapely.Geometry | None = None


@dataclass(frozen=True)
class Warning:
    id: str
    key: str
    kind: str
    region: str
    severity: str
    status: str
    title_zh: str
    title_en: str
    detail: dict[str, Any]
    created: float
    updated: float
    updated_by: str
    geometry: shapely.Geometry | None = None


@dataclass(frozen=True)
class WarningEvent:
    seq: int
    warning_id: str
    at: float
    actor: str
    action: str  # opened | escalated | eased | acknowledged | closed | reopened
    from_status: str | None
    to_status: str
    severity: str
    note: str | None


@dataclass(frozen=True)
class Subscription:
    id: str
    owner: str
    url: str
    regions: tuple[str, ...]  # empty: every region
    kinds: tuple[str, ...]  # empty: every kind
    label: str | None
    created: float
    active: bool

    def wants(self, w: Warning) -> bool:
        """Does this subscription ask for warnings like ``w`` (its kind, a region it covers)?"""
        return (not self.kinds or w.kind in self.kinds) and \
            (not self.regions or any(w.region.startswith(region_prefix(r)) for r in self.regions))


@dataclass(frozen=True)
class Delivery:
    id: str
    subscription_id: str
    warning_id: str
    event_seq: int
    payload: str
    status: str  # pending | delivered | failed
    attempts: int
    next_at: float
    last_code: int | None
    last_error: str | None
    created: float
    updated: float


def create_warning_tables(cur: Any, backend: str, qualified: Callable[[str], str]) -> None:
    """The tables on either backend; idempotent."""
    w, ev, subs, dl, att, scan = (qualified(n) for n in ("warnings", "warning_events", "warning_subscriptions",
                                                         "warning_deliveries", "warning_attempts", "warning_scan"))
    pg = backend == "postgis"
    serial = "bigserial PRIMARY KEY" if pg else "INTEGER PRIMARY KEY AUTOINCREMENT"
    real, blob, boolean = ("double precision", "bytea", "boolean") if pg else ("DOUBLE", "BLOB", "INTEGER")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {w} (id text PRIMARY KEY, key text NOT NULL, kind text NOT NULL,
        region text NOT NULL, severity text NOT NULL, status text NOT NULL, title_zh text NOT NULL,
        title_en text NOT NULL, detail text NOT NULL, created {real} NOT NULL, updated {real} NOT NULL,
        updated_by text NOT NULL, geom {blob})""")
    # one live warning per key: concurrent scans cannot open the same one twice
    cur.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS warnings_live_key ON {w} (key) WHERE status <> 'closed'")
    cur.execute(f"CREATE INDEX IF NOT EXISTS warnings_region ON {w} (region, updated)")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {ev} (seq {serial}, warning_id text NOT NULL, at {real} NOT NULL,
        actor text NOT NULL, action text NOT NULL, from_status text, to_status text NOT NULL,
        severity text NOT NULL, note text)""")
    cur.execute(f"CREATE INDEX IF NOT EXISTS warning_events_warning ON {ev} (warning_id, seq)")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {subs} (id text PRIMARY KEY, owner text NOT NULL, url text NOT NULL,
        secret text NOT NULL, regions text NOT NULL, kinds text NOT NULL, label text, created {real} NOT NULL,
        active {boolean} NOT NULL)""")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {dl} (id text PRIMARY KEY, subscription_id text NOT NULL,
        warning_id text NOT NULL, event_seq bigint NOT NULL, payload text NOT NULL, status text NOT NULL,
        attempts integer NOT NULL DEFAULT 0, next_at {real} NOT NULL, lease_until {real}, worker text,
        last_code integer, last_error text, created {real} NOT NULL, updated {real} NOT NULL)""")
    cur.execute(f"CREATE INDEX IF NOT EXISTS warning_deliveries_due ON {dl} (status, next_at)")
    cur.execute(f"CREATE INDEX IF NOT EXISTS warning_deliveries_sub ON {dl} (subscription_id, created)")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {att} (seq {serial}, delivery_id text NOT NULL, at {real} NOT NULL,
        url text NOT NULL, status_code integer, error text, ms {real} NOT NULL)""")
    cur.execute(f"CREATE INDEX IF NOT EXISTS warning_attempts_delivery ON {att} (delivery_id, seq)")
    cur.execute(f"CREATE TABLE IF NOT EXISTS {scan} (name text PRIMARY KEY, value text NOT NULL)")
    fnd = qualified("monitoring_findings")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {fnd} (id text PRIMARY KEY, run text NOT NULL, rule text NOT NULL,
        region text NOT NULL, county text NOT NULL, from_year text NOT NULL, to_year text NOT NULL,
        severity text NOT NULL, m2 {real} NOT NULL, title_zh text NOT NULL, title_en text NOT NULL,
        detail text NOT NULL, found {real} NOT NULL, geom {blob})""")
    cur.execute(f"CREATE INDEX IF NOT EXISTS monitoring_findings_run ON {fnd} (run)")
    cur.execute(f"CREATE INDEX IF NOT EXISTS monitoring_findings_region ON {fnd} (region, rule)")


def _located(row: Sequence[Any], columns: Sequence[str]) -> dict[str, Any]:
    """A warning's or a finding's row (its columns, then its WKB) as the fields of its dataclass."""
    rec = dict(zip(columns, row))
    rec["detail"] = json.loads(rec["detail"])
    wkb = row[len(columns)]
    rec["geometry"] = shapely.from_wkb(bytes(wkb)) if wkb is not None else None
    return rec


def _warning(row: Sequence[Any]) -> Warning:
    return Warning(**_located(row, WARNING_COLUMNS))


def _finding(row: Sequence[Any]) -> Finding:
    return Finding(**_located(row, FINDING_COLUMNS))


def _subscription(row: Sequence[Any]) -> Subscription:
    rec = dict(zip(SUB_COLUMNS, row))
    rec.pop("secret")
    rec["regions"], rec["kinds"] = tuple(json.loads(rec["regions"])), tuple(json.loads(rec["kinds"]))
    rec["active"] = bool(rec["active"])
    return Subscription(**rec)


class WarningStore:
    """Warnings, events, subscriptions and deliveries of one store (the SQL is shared by both backends)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.p = store.dialect.param
        self.d = store.dialect
        t = store._table_sql
        self.w, self.ev, self.subs = t("warnings"), t("warning_events"), t("warning_subscriptions")
        self.dl, self.att, self.scan = t("warning_deliveries"), t("warning_attempts"), t("warning_scan")
        self.fnd = t("monitoring_findings")

    # ---- warnings ------------------------------------------------------------------------------------
    def _select(self, where: str = "") -> str:
        # geom holds plain WKB on both backends (not a feature table's geometry)
        return f"SELECT {', '.join(WARNING_COLUMNS)}, geom FROM {self.w}{where}"

    def get(self, warning_id: str) -> Warning | None:
        rows = self.store._rows(self._select(f" WHERE id = {self.p}"), [warning_id])
        return _warning(rows[0]) if rows else None

    def live(self, key: str) -> Warning | None:
        """The open or acknowledged warning of ``key``."""
        rows = self.store._rows(self._select(f" WHERE key = {self.p} AND status <> 'closed'"), [key])
        return _warning(rows[0]) if rows else None

    def page(self, *, region: str | None = None, kind: str | None = None, status: str | None = None,
             severity: str | None = None, limit: int = 100, offset: int = 0) -> tuple[list[Warning], int]:
        """A page of warnings (newest change first) and how many match; ``region`` takes its sub-regions too."""
        where, params = self._filters(region, kind=kind, status=status, severity=severity)
        rows = self.store._rows(self._select(where) + f" ORDER BY updated DESC, id LIMIT {self.p} OFFSET {self.p}",
                                [*params, limit, offset])
        total = self.store._rows(f"SELECT count(*) FROM {self.w}{where}", params)[0][0]
        return [_warning(r) for r in rows], int(total)

    def _filters(self, region: str | None, **equal: str | None) -> tuple[str, list[Any]]:
        """The WHERE of a page: ``region`` and the regions under it, and each column equal to its value (the
        names are this module's own column names, never a caller's)."""
        clauses, params = [], []
        if region:
            clauses.append(f"region LIKE {self.p}")
            params.append(region_prefix(region) + "%")
        for name, value in equal.items():
            if value:
                clauses.append(f"{name} = {self.p}")
                params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def raise_(self, key: str, kind: str, region: str, severity: str, title: dict[str, str], detail: dict[str, Any],
               geometry: shapely.Geometry | None, actor: str, rank: Callable[[str], int]
               ) -> tuple[Warning, WarningEvent | None]:
        """Open the warning of ``key``, or bring its severity and detail up to date: the event it made (None when
        nothing but its detail changed, or another scan recorded the change first). ``rank`` orders severities
        (a change up is escalated, down eased)."""
        now = time.time()
        current = self.live(key)
        body = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        if current is None:
            wid = "w" + uuid.uuid4().hex[:15]
            geom = self.d.binary(shapely.to_wkb(geometry)) if geometry is not None else None
            with self.store.write_cursor() as cur:
                cur.execute(f"INSERT INTO {self.w} ({', '.join(WARNING_COLUMNS)}, geom) VALUES "
                            f"({', '.join([self.p] * (len(WARNING_COLUMNS) + 1))}) "
                            "ON CONFLICT (key) WHERE status <> 'closed' DO NOTHING",
                            [wid, key, kind, region, severity, "open", title["zh"], title["en"], body, now, now,
                             actor, geom])
                inserted = (getattr(cur, "rowcount", 0) or 0) > 0
                event = self._event(cur, wid, actor, "opened", None, "open", severity, None) if inserted else None
            found = self.get(wid) if inserted else self.live(key)
            if found is None:  # closed by someone in between: nothing to report
                raise Conflict(f"the warning {key} changed while it was raised; scan again")
            return found, event
        event = None
        with self.store.write_cursor() as cur:
            if current.severity != severity:
                cur.execute(f"UPDATE {self.w} SET severity = {self.p}, detail = {self.p}, title_zh = {self.p}, "
                            f"title_en = {self.p}, updated = {self.p}, updated_by = {self.p} "
                            f"WHERE id = {self.p} AND severity = {self.p} AND status <> 'closed'",
                            [severity, body, title["zh"], title["en"], now, actor, current.id, current.severity])
                if (getattr(cur, "rowcount", 0) or 0) > 0:
                    up = rank(severity) > rank(current.severity)
                    event = self._event(cur, current.id, actor, "escalated" if up else "eased", current.status,
                                        current.status, severity, f"{current.severity} -> {severity}")
            elif json.loads(body) != current.detail:
                cur.execute(f"UPDATE {self.w} SET detail = {self.p} WHERE id = {self.p}", [body, current.id])
        return self.get(current.id) or current, event

    def move(self, warning_id: str, to: str, actor: str, note: str | None = None,
             expect: str | None = None) -> tuple[Warning, WarningEvent]:
        """A person's (or a scan's) change of status: acknowledged, closed, reopened; ``expect``: only from that
        status (a scan closing what it opened). A 409 when it changed meanwhile or a reopening meets a live
        warning of the same key."""
        if to not in STATUSES:
            raise InvalidParameterValue(f"status must be one of {', '.join(STATUSES)}")
        current = self.get(warning_id)
        if current is None:
            raise NotFound(f"no warning {warning_id!r}")
        if to not in MOVES[current.status]:
            allowed = ", ".join(MOVES[current.status])
            raise Conflict(f"warning {warning_id} is {current.status}: it can become {allowed}, not {to}")
        if expect is not None and current.status != expect:
            raise Conflict(f"warning {warning_id} is {current.status}, not {expect}")
        if to != "closed" and current.status == "closed" and self.live(current.key) is not None:
            raise Conflict(f"a newer warning about the same thing is live: {self.live(current.key).id}")  # type: ignore[union-attr]
        action = {"acknowledged": "acknowledged", "closed": "closed", "open": "reopened"}[to]
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.w} SET status = {self.p}, updated = {self.p}, updated_by = {self.p} "
                        f"WHERE id = {self.p} AND status = {self.p}", [to, time.time(), actor, warning_id,
                                                                       current.status])
            if not (getattr(cur, "rowcount", 0) or 0):
                raise Conflict(f"warning {warning_id} changed meanwhile; read it again")
            event = self._event(cur, warning_id, actor, action, current.status, to, current.severity, note)
        found = self.get(warning_id)
        assert found is not None
        return found, event

    def _event(self, cur: Any, warning_id: str, actor: str, action: str, from_status: str | None, to_status: str,
               severity: str, note: str | None) -> WarningEvent:
        at = time.time()
        cols = EVENT_COLUMNS[1:]
        cur.execute(f"INSERT INTO {self.ev} ({', '.join(cols)}) VALUES ({', '.join([self.p] * len(cols))}) "
                    "RETURNING seq", [warning_id, at, actor, action, from_status, to_status, severity, note])
        seq = int(cur.fetchall()[0][0])  # drained: sqlite3 commits no transaction with a statement still open
        return WarningEvent(seq, warning_id, at, actor, action, from_status, to_status, severity, note)

    def events(self, warning_id: str | None = None, after: int = 0, limit: int = 1000) -> list[WarningEvent]:
        """Events in order: of one warning, or of all after ``after`` (a feed, a delivery run)."""
        where = f" WHERE seq > {self.p}"
        params: list[Any] = [after]
        if warning_id is not None:
            where += f" AND warning_id = {self.p}"
            params.append(warning_id)
        rows = self.store._rows(f"SELECT {', '.join(EVENT_COLUMNS)} FROM {self.ev}{where} ORDER BY seq "
                                f"LIMIT {self.p}", [*params, limit])
        return [WarningEvent(*r) for r in rows]

    def recent_events(self, limit: int, region: str | None = None, kind: str | None = None
                      ) -> list[tuple[WarningEvent, Warning]]:
        """The newest events (newest first) with their warnings, for a feed."""
        where, params = self._filters(region, kind=kind)
        where = where.replace("region", "w.region").replace("kind", "w.kind")
        cols = ", ".join(f"e.{c}" for c in EVENT_COLUMNS)
        wcols = ", ".join(f"w.{c}" for c in WARNING_COLUMNS)
        rows = self.store._rows(f"SELECT {cols}, {wcols}, w.geom FROM {self.ev} e "
                                f"JOIN {self.w} w ON w.id = e.warning_id{where} ORDER BY e.seq DESC LIMIT {self.p}",
                                [*params, limit])
        n = len(EVENT_COLUMNS)
        return [(WarningEvent(*r[:n]), _warning(r[n:])) for r in rows]

    # ---- what a scan has seen ------------------------------------------------------------------------
    def scan_mark(self, name: str) -> str | None:
        rows = self.store._rows(f"SELECT value FROM {self.scan} WHERE name = {self.p}", [name])
        return str(rows[0][0]) if rows else None

    def set_scan_mark(self, name: str, value: str) -> None:
        with self.store.write_cursor() as cur:
            cur.execute(f"INSERT INTO {self.scan} (name, value) VALUES ({self.p}, {self.p}) "
                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value", [name, value])

    # ---- subscriptions -------------------------------------------------------------------------------
    def subscribe(self, owner: str, url: str, regions: Sequence[str], kinds: Sequence[str],
                  label: str | None) -> tuple[Subscription, str]:
        """A new subscription and its signing secret (shown once: the receiver checks signatures with it)."""
        sid = "s" + uuid.uuid4().hex[:15]
        secret = "whsec_" + secrets.token_urlsafe(32)
        now = time.time()
        with self.store.write_cursor() as cur:
            cur.execute(f"INSERT INTO {self.subs} ({', '.join(SUB_COLUMNS)}) VALUES "
                        f"({', '.join([self.p] * len(SUB_COLUMNS))})",
                        [sid, owner, url, secret, json.dumps(list(regions)), json.dumps(list(kinds)), label, now,
                         self._bool(True)])
        return Subscription(sid, owner, url, tuple(regions), tuple(kinds), label, now, True), secret

    def _bool(self, value: bool) -> Any:
        return value if self.store.backend == "postgis" else int(value)

    def subscription(self, sid: str) -> tuple[Subscription, str] | None:
        """The subscription and its secret."""
        rows = self.store._rows(f"SELECT {', '.join(SUB_COLUMNS)} FROM {self.subs} WHERE id = {self.p}", [sid])
        return (_subscription(rows[0]), str(rows[0][3])) if rows else None

    def subscriptions(self, owner: str | None = None, active_only: bool = True) -> list[Subscription]:
        """Subscriptions of ``owner`` (None: of everyone), oldest first."""
        clauses, params = [], []
        if owner is not None:
            clauses.append(f"owner = {self.p}")
            params.append(owner)
        if active_only:
            clauses.append(f"active = {self.p}")
            params.append(self._bool(True))
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        rows = self.store._rows(f"SELECT {', '.join(SUB_COLUMNS)} FROM {self.subs}{where} ORDER BY created, id",
                                params)
        return [_subscription(r) for r in rows]

    def unsubscribe(self, sid: str) -> None:
        """Stop a subscription (kept, with its deliveries, as the record); pending deliveries are dropped."""
        now = time.time()
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.subs} SET active = {self.p} WHERE id = {self.p}", [self._bool(False), sid])
            cur.execute(f"UPDATE {self.dl} SET status = 'failed', last_error = 'unsubscribed', updated = {self.p} "
                        f"WHERE subscription_id = {self.p} AND status = 'pending'", [now, sid])

    # ---- deliveries ----------------------------------------------------------------------------------
    def enqueue(self, sub: Subscription, event: WarningEvent, payload: dict[str, Any]) -> str:
        """A delivery of ``event`` to ``sub``, due at once."""
        did = "d" + uuid.uuid4().hex[:15]
        now = time.time()
        values = [did, sub.id, event.warning_id, event.seq, json.dumps(payload, ensure_ascii=False), "pending", 0,
                  now, None, None, None, None, now, now]
        with self.store.write_cursor() as cur:
            cur.execute(f"INSERT INTO {self.dl} ({', '.join(DELIVERY_COLUMNS)}) VALUES "
                        f"({', '.join([self.p] * len(DELIVERY_COLUMNS))})", values)
        return did

    def _delivery(self, row: Sequence[Any]) -> Delivery:
        rec = dict(zip(DELIVERY_COLUMNS, row))
        for k in ("lease_until", "worker"):
            rec.pop(k)
        return Delivery(**rec)

    def claim_due(self, worker: str, lease_seconds: float, limit: int = 20) -> list[Delivery]:
        """Pending deliveries whose time has come, leased to ``worker`` (another host skips them)."""
        now = time.time()
        out = []
        with self.store.write_cursor() as cur:
            cur.execute(f"SELECT id FROM {self.dl} WHERE status = 'pending' AND next_at <= {self.p} AND "
                        f"(lease_until IS NULL OR lease_until < {self.p}) ORDER BY next_at LIMIT {self.p}"
                        f"{self.d.skip_locked}", [now, now, limit])
            ids = [r[0] for r in cur.fetchall()]
            for did in ids:
                cur.execute(f"UPDATE {self.dl} SET lease_until = {self.p}, worker = {self.p} WHERE id = {self.p} "
                            f"AND (lease_until IS NULL OR lease_until < {self.p})",
                            [now + lease_seconds, worker, did, now])
                if (getattr(cur, "rowcount", 0) or 0) > 0:
                    cur.execute(f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM {self.dl} WHERE id = {self.p}", [did])
                    out.append(self._delivery(cur.fetchone()))
        return out

    def attempted(self, delivery: Delivery, url: str, code: int | None, error: str | None, ms: float,
                  next_at: float | None) -> None:
        """Record one attempt: delivered (a 2xx), pending again at ``next_at``, or failed (no ``next_at``)."""
        now = time.time()
        status = "delivered" if error is None else ("pending" if next_at is not None else "failed")
        with self.store.write_cursor() as cur:
            cols = ATTEMPT_COLUMNS[1:]
            cur.execute(f"INSERT INTO {self.att} ({', '.join(cols)}) VALUES ({', '.join([self.p] * len(cols))})",
                        [delivery.id, now, url, code, error, ms])
            cur.execute(f"UPDATE {self.dl} SET status = {self.p}, attempts = attempts + 1, next_at = {self.p}, "
                        f"lease_until = NULL, worker = NULL, last_code = {self.p}, last_error = {self.p}, "
                        f"updated = {self.p} WHERE id = {self.p}",
                        [status, next_at if next_at is not None else delivery.next_at, code, error, now, delivery.id])

    def deliveries(self, subscription_id: str, limit: int = 100) -> list[tuple[Delivery, list[dict[str, Any]]]]:
        """A subscription's deliveries (newest first), each with its attempts."""
        rows = self.store._rows(f"SELECT {', '.join(DELIVERY_COLUMNS)} FROM {self.dl} WHERE subscription_id = "
                                f"{self.p} ORDER BY created DESC LIMIT {self.p}", [subscription_id, limit])
        out = []
        for r in rows:
            d = self._delivery(r)
            tries = self.store._rows(f"SELECT {', '.join(ATTEMPT_COLUMNS[2:])} FROM {self.att} WHERE delivery_id = "
                                     f"{self.p} ORDER BY seq", [d.id])
            out.append((d, [dict(zip(ATTEMPT_COLUMNS[2:], t)) for t in tries]))
        return out

    # ---- 动态监测 findings ---------------------------------------------------------------------------
    def replace_findings(self, run: str, findings: Sequence[Finding]) -> None:
        """The findings of a run (county and survey years), in place of what the same run found before."""
        with self.store.write_cursor() as cur:
            cur.execute(f"DELETE FROM {self.fnd} WHERE run = {self.p}", [run])
            for f in findings:
                geom = self.d.binary(shapely.to_wkb(f.geometry)) if f.geometry is not None else None
                values = [f.id, f.run, f.rule, f.region, f.county, f.from_year, f.to_year, f.severity, f.m2,
                          f.title_zh, f.title_en, json.dumps(f.detail, ensure_ascii=False, sort_keys=True), f.found]
                cur.execute(f"INSERT INTO {self.fnd} ({', '.join(FINDING_COLUMNS)}, geom) VALUES "
                            f"({', '.join([self.p] * (len(FINDING_COLUMNS) + 1))})", [*values, geom])

    def findings(self, *, region: str | None = None, rule: str | None = None, severity: str | None = None,
                 to_year: str | None = None, limit: int = 1000, offset: int = 0) -> tuple[list[Finding], int]:
        """A page of findings (largest first) and how many match; ``region`` takes the regions under it too."""
        where, params = self._filters(region, rule=rule, severity=severity, to_year=to_year)
        rows = self.store._rows(f"SELECT {', '.join(FINDING_COLUMNS)}, geom FROM {self.fnd}{where} "
                                f"ORDER BY m2 DESC, id LIMIT {self.p} OFFSET {self.p}", [*params, limit, offset])
        total = self.store._rows(f"SELECT count(*) FROM {self.fnd}{where}", params)[0][0]
        return [_finding(r) for r in rows], int(total)

    def finding(self, finding_id: str) -> Finding | None:
        rows = self.store._rows(f"SELECT {', '.join(FINDING_COLUMNS)}, geom FROM {self.fnd} WHERE id = {self.p}",
                                [finding_id])
        return _finding(rows[0]) if rows else None

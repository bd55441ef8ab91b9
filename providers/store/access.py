"""Who may use the server, kept in the store: users, their bearer tokens, and the audit trail.

Users and tokens live in the store's database, so every worker on every host sees the same
ones. A token is shown once when it is made (``om_<id>_<secret>``); the store keeps only the
SHA-256 of its secret. The audit trail is append-only (triggers refuse UPDATE and DELETE) and
tamper-evident: each record carries the hash of the one before it, so a changed, removed or
inserted record breaks the chain that ``verify`` walks. Retention removes the oldest records
through one guarded path and keeps the hash they ended with as the chain's anchor.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from onemap.config.errors import Conflict, InvalidParameterValue, NotFound

if TYPE_CHECKING:
    from .base import Store

ROLES = ("partner", "internal", "admin")  # the roles a user can have; anonymous callers are "public"
NAME_RE = re.compile(r"[A-Za-z0-9_.@-]{1,64}\Z")
TOKEN_RE = re.compile(r"om_([0-9a-f]{12})_([A-Za-z0-9_-]{20,64})\Z")
AUDIT_COLUMNS = ("seq", "at", "request_id", "who", "role", "action", "target", "outcome", "detail", "prev", "hash")
GENESIS = "0" * 64


@dataclass(frozen=True)
class User:
    name: str
    role: str
    region: str | None
    created: str
    disabled: bool = False


@dataclass(frozen=True)
class TokenInfo:
    id: str
    user: str
    label: str | None
    created: str
    expires: str | None
    revoked: bool


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def record_hash(prev: str, rec: dict[str, Any]) -> str:
    """The hash of one audit record: its fields (not its own hash) and the hash before it."""
    fields = {k: rec.get(k) for k in AUDIT_COLUMNS if k not in ("prev", "hash")}
    body = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((prev + "\n" + body).encode("utf-8")).hexdigest()


def create_access_tables(cur: Any, backend: str, qualified: Callable[[str], str]) -> None:
    """The tables (and the append-only guard) on either backend; idempotent."""
    users, tokens, audit, jobs, certs = (qualified(n) for n in ("users", "tokens", "audit", "jobs", "certificates"))
    if backend == "postgis":
        cur.execute(f"""CREATE TABLE IF NOT EXISTS {users} (name text PRIMARY KEY, role text NOT NULL,
            region text, created text NOT NULL, disabled boolean NOT NULL DEFAULT false)""")
        cur.execute(f"""CREATE TABLE IF NOT EXISTS {tokens} (id text PRIMARY KEY, "user" text NOT NULL,
            hash text NOT NULL, label text, created text NOT NULL, expires text,
            revoked boolean NOT NULL DEFAULT false)""")
        cur.execute(f"""CREATE TABLE IF NOT EXISTS {audit} (seq bigint PRIMARY KEY, at text NOT NULL,
            request_id text, who text NOT NULL, role text NOT NULL, action text NOT NULL, target text,
            outcome text NOT NULL, detail text, prev text NOT NULL, hash text NOT NULL)""")
        cur.execute(f"CREATE INDEX IF NOT EXISTS audit_who ON {audit} (who, seq)")
        cur.execute(f"""CREATE OR REPLACE FUNCTION {qualified('audit_append_only')}() RETURNS trigger
            LANGUAGE plpgsql AS $$ BEGIN
              IF TG_OP = 'DELETE' AND current_setting('onemap.audit_retention', true) = 'on' THEN RETURN OLD; END IF;
              RAISE EXCEPTION 'the audit trail is append-only'; END $$""")
        cur.execute(f"DROP TRIGGER IF EXISTS audit_append_only ON {audit}")
        cur.execute(f"CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON {audit} FOR EACH ROW "
                    f"EXECUTE FUNCTION {qualified('audit_append_only')}()")
        for table in (jobs, certs):
            cur.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS owner text")
        cur.execute(f"CREATE INDEX IF NOT EXISTS jobs_owner ON {jobs} (owner, created)")
        return
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {users} (name TEXT PRIMARY KEY, role TEXT NOT NULL, region TEXT,
        created TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)""")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {tokens} (id TEXT PRIMARY KEY, "user" TEXT NOT NULL, hash TEXT NOT NULL,
        label TEXT, created TEXT NOT NULL, expires TEXT, revoked INTEGER NOT NULL DEFAULT 0)""")
    cur.execute(f"""CREATE TABLE IF NOT EXISTS {audit} (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, request_id TEXT,
        who TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, target TEXT, outcome TEXT NOT NULL, detail TEXT,
        prev TEXT NOT NULL, hash TEXT NOT NULL)""")
    cur.execute(f"CREATE INDEX IF NOT EXISTS audit_who ON {audit} (who, seq)")
    for op in ("UPDATE", "DELETE"):
        cur.execute(f"CREATE TRIGGER IF NOT EXISTS audit_no_{op.lower()} BEFORE {op} ON {audit} "
                    "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")
    for table in (jobs, certs):
        cur.execute(f"PRAGMA table_info({table})")
        if "owner" not in [r[1] for r in cur.fetchall()]:
            cur.execute(f"ALTER TABLE {table} ADD COLUMN owner TEXT")
    cur.execute(f"CREATE INDEX IF NOT EXISTS jobs_owner ON {jobs} (owner, created)")


class AccessStore:
    """Users, tokens and the audit trail of one store (the SQL is shared by both backends)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.p = store.dialect.param
        self.users_t = store._table_sql("users")
        self.tokens_t = store._table_sql("tokens")
        self.audit_t = store._table_sql("audit")

    # ---- users ---------------------------------------------------------------------------------------
    def add_user(self, name: str, role: str, region: str | None = None) -> User:
        if not NAME_RE.match(name):
            raise InvalidParameterValue("a user name is 1-64 letters, digits, '_', '.', '@' or '-'")
        if role not in ROLES:
            raise InvalidParameterValue(f"role must be one of {', '.join(ROLES)}")
        if region is not None and not re.fullmatch(r"[0-9]{6,12}", region):
            raise InvalidParameterValue("region must be an administrative division code (6 to 12 digits)")
        if self.user(name) is not None:
            raise Conflict(f"user {name!r} exists already")
        user = User(name, role, region, _now())
        with self.store.write_cursor() as cur:
            cur.execute(f"INSERT INTO {self.users_t} (name, role, region, created, disabled) "
                        f"VALUES ({self.p}, {self.p}, {self.p}, {self.p}, {self.p})",
                        [user.name, user.role, user.region, user.created, False])
        return user

    def user(self, name: str) -> User | None:
        rows = self.store._rows(f"SELECT name, role, region, created, disabled FROM {self.users_t} "
                                f"WHERE name = {self.p}", [name])
        return User(rows[0][0], rows[0][1], rows[0][2], rows[0][3], bool(rows[0][4])) if rows else None

    def users(self) -> list[User]:
        rows = self.store._rows(f"SELECT name, role, region, created, disabled FROM {self.users_t} ORDER BY name", [])
        return [User(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]

    def set_disabled(self, name: str, disabled: bool) -> None:
        if self.user(name) is None:
            raise NotFound(f"no user {name!r}")
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.users_t} SET disabled = {self.p} WHERE name = {self.p}", [disabled, name])

    # ---- tokens --------------------------------------------------------------------------------------
    def create_token(self, name: str, label: str | None = None, days: float | None = None) -> str:
        """A new bearer token for ``name`` (shown once: only its hash is kept)."""
        if self.user(name) is None:
            raise NotFound(f"no user {name!r}: add it first (onemap user add)")
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat() if days else None
        with self.store.write_cursor() as cur:
            cur.execute(f'INSERT INTO {self.tokens_t} (id, "user", hash, label, created, expires, revoked) '
                        f"VALUES ({self.p}, {self.p}, {self.p}, {self.p}, {self.p}, {self.p}, {self.p})",
                        [token_id, name, hashlib.sha256(secret.encode()).hexdigest(), label, _now(), expires, False])
        return f"om_{token_id}_{secret}"

    def verify(self, token: str) -> User | None:
        """The user a token belongs to, if it is well-formed, known, unexpired, unrevoked and its user enabled."""
        m = TOKEN_RE.match(token)
        if not m:
            return None
        rows = self.store._rows(
            f'SELECT t.hash, t.expires, t.revoked, u.name, u.role, u.region, u.created, u.disabled '
            f'FROM {self.tokens_t} t JOIN {self.users_t} u ON u.name = t."user" WHERE t.id = {self.p}', [m.group(1)])
        if not rows:
            return None
        digest, expires, revoked, name, role, region, created, disabled = rows[0]
        if not hmac.compare_digest(digest, hashlib.sha256(m.group(2).encode()).hexdigest()):
            return None
        if revoked or disabled or (expires and dt.datetime.fromisoformat(expires) < dt.datetime.now(dt.UTC)):
            return None
        return User(name, role, region, created, bool(disabled))

    def tokens(self, name: str | None = None) -> list[TokenInfo]:
        where, params = (f' WHERE "user" = {self.p}', [name]) if name else ("", [])
        rows = self.store._rows(f'SELECT id, "user", label, created, expires, revoked FROM {self.tokens_t}{where} '
                                "ORDER BY created", params)
        return [TokenInfo(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def revoke(self, token_id: str) -> None:
        if not any(t.id == token_id for t in self.tokens()):
            raise NotFound(f"no token {token_id!r}")
        with self.store.write_cursor() as cur:
            cur.execute(f"UPDATE {self.tokens_t} SET revoked = {self.p} WHERE id = {self.p}", [True, token_id])

    # ---- the audit trail ---------------------------------------------------------------------------
    def _lock(self, cur: Any) -> None:
        # appends are serialised (SQLite: the write transaction already holds the lock)
        if self.store.backend == "postgis":
            cur.execute("SELECT pg_advisory_xact_lock(20241207)")

    def append(self, who: str, role: str, action: str, outcome: str, target: str | None = None,
               request_id: str | None = None, detail: dict[str, Any] | None = None) -> dict[str, Any]:
        """Add one record at the end of the chain; returns it with its sequence number and hash."""
        with self.store.write_cursor() as cur:
            self._lock(cur)
            cur.execute(f"SELECT seq, hash FROM {self.audit_t} ORDER BY seq DESC LIMIT 1")
            last = cur.fetchone()
            if last:
                seq, prev = int(last[0]) + 1, last[1]
            else:
                anchor_seq, prev = self._anchor()
                seq = anchor_seq + 1
            rec: dict[str, Any] = {"seq": seq, "at": _now(), "request_id": request_id, "who": who, "role": role,
                                   "action": action, "target": target, "outcome": outcome,
                                   "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
                                   if detail else None}
            rec["prev"] = prev
            rec["hash"] = record_hash(prev, rec)
            cur.execute(f"INSERT INTO {self.audit_t} ({', '.join(AUDIT_COLUMNS)}) "
                        f"VALUES ({', '.join([self.p] * len(AUDIT_COLUMNS))})", [rec[c] for c in AUDIT_COLUMNS])
        return rec

    def _meta(self) -> str:
        return self.store._table_sql("meta" if self.store.backend == "postgis" else "onemap_meta")

    def _anchor(self) -> tuple[int, str]:
        """The sequence number and hash the chain starts after (those of the last record retention removed)."""
        rows = self.store._rows(f"SELECT value FROM {self._meta()} WHERE key = {self.p}", ["audit_anchor"])
        if not rows:
            return 0, GENESIS
        seq, digest = rows[0][0].split(" ", 1)
        return int(seq), digest

    def records(self, *, who: str | None = None, action: str | None = None, since: str | None = None,
                until: str | None = None, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Records in chain order, filtered (``after``: a sequence number to continue after)."""
        where, params = [f"seq > {self.p}"], list[Any]([after])
        for col, value, op in (("who", who, "="), ("action", action, "="), ("at", since, ">="), ("at", until, "<")):
            if value is not None:
                where.append(f"{col} {op} {self.p}")
                params.append(value)
        rows = self.store._rows(f"SELECT {', '.join(AUDIT_COLUMNS)} FROM {self.audit_t} WHERE {' AND '.join(where)} "
                                f"ORDER BY seq LIMIT {self.p}", [*params, limit])
        return [dict(zip(AUDIT_COLUMNS, r)) for r in rows]

    def iter_filtered(self, *, who: str | None = None, action: str | None = None, since: str | None = None,
                      until: str | None = None, batch: int = 5000) -> Iterator[dict[str, Any]]:
        """Every record matching the filters, in chain order, read in batches."""
        after = 0
        while True:
            rows = self.records(who=who, action=action, since=since, until=until, after=after, limit=batch)
            if not rows:
                return
            yield from rows
            after = int(rows[-1]["seq"])

    def verify_chain(self) -> tuple[bool, int, int | None]:
        """(intact, records checked, the first sequence number where the chain breaks)."""
        anchor_seq, prev = self._anchor()
        count, expected_seq = 0, anchor_seq + 1
        for rec in self.iter_filtered():
            seq = int(rec["seq"])
            if seq != expected_seq or rec["prev"] != prev or record_hash(prev, rec) != rec["hash"]:
                return False, count, seq
            prev, count, expected_seq = rec["hash"], count + 1, seq + 1
        return True, count, None

    def purge_before(self, before: str) -> int:
        """Retention: remove the records made before ``before`` (ISO date-time, UTC); the chain stays
        verifiable from the hash the removed records ended with."""
        meta = self._meta()
        with self.store.write_cursor() as cur:
            self._lock(cur)
            cur.execute(f"SELECT seq, hash FROM {self.audit_t} WHERE at < {self.p} ORDER BY seq DESC LIMIT 1",
                        [before])
            last = cur.fetchone()
            if last is None:
                return 0
            if self.store.backend == "postgis":
                cur.execute("SET LOCAL onemap.audit_retention = 'on'")
            else:
                cur.execute("DROP TRIGGER IF EXISTS audit_no_delete")
            cur.execute(f"DELETE FROM {self.audit_t} WHERE seq <= {self.p}", [last[0]])
            removed = cur.rowcount
            if self.store.backend != "postgis":
                cur.execute(f"CREATE TRIGGER audit_no_delete BEFORE DELETE ON {self.audit_t} "
                            "BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END")
            cur.execute(f"DELETE FROM {meta} WHERE key = {self.p}", ["audit_anchor"])
            cur.execute(f"INSERT INTO {meta} (key, value) VALUES ({self.p}, {self.p})",
                        ["audit_anchor", f"{int(last[0])} {last[1]}"])
        return int(removed)


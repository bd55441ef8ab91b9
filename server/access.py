"""Who is calling and what they may see and do: identity, roles and tiers, checked on every route.

Identity comes from ``Authorization: Bearer <token>``: a OneMap token (``om_<id>_<secret>``,
made by ``onemap token create`` and kept hashed in the store) or, when the settings name an
OpenID Connect issuer, a JWT from the province's identity provider (signature checked
against the issuer's JWKS with PyJWT, issuer and audience required). No header: the
anonymous ``public`` role. A header that does not verify is a 401, never anonymous.

Roles rank ``public < partner < internal < admin``; every layer and process has a tier
(``public``, ``partner``, ``internal``) in the catalogue, and a caller sees what its role
reaches. What a caller may not see is not listed and answers 404, as if it did not exist.
A user may be limited to a region: it changes only the drawers of that region.

``Access.dependency`` is the route dependency ``create_app`` installs on every route; it sets
``call.principal`` for the handlers (jobs and certificates belong to whoever made them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Response, g

from onemap.config.catalogue import ROLE_RANK, TIER_RANK, Catalogue, role_reaches
from onemap.config.errors import Forbidden, NotFound, OneMapError, TooManyRequests
from onemap.config.settings import Settings
from onemap.domain.regions import region_prefix
from onemap.providers.store import Store

LOG = logging.getLogger("onemap.access")
TOKEN_CACHE_SECONDS = 30.0  # a revoked token or disabled user stops working within this time


class Unauthorized(OneMapError):
    """The credentials given do not verify (401)."""

    status = 401
    code = "Unauthorized"


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    name: str | None  # None: anonymous
    role: str  # public | partner | internal | admin
    region: str | None = None  # a user limited to a region changes only its drawers
    via: str = "anonymous"  # anonymous | token | oidc

    @property
    def who(self) -> str:
        return self.name or "anonymous"

    def reaches(self, tier: str) -> bool:
        return role_reaches(self.role, tier)

    def covers(self, region: str) -> bool:
        """May this caller change the drawers of ``region``?"""
        return self.region is None or region.startswith(region_prefix(self.region))


ANONYMOUS = Principal(None, "public")


def tiers_of(principal: Principal | None) -> tuple[str, ...]:
    """The tiers a caller reaches, in order."""
    return tuple(t for t in TIER_RANK if reaches(principal, t))


def reaches(principal: Principal | None, tier: str) -> bool:
    """Does the caller of a request (None: no access check ran, e.g. a test of one factory) reach ``tier``?"""
    return (principal or ANONYMOUS).reaches(tier)


class Identity:
    """Resolves a request's bearer token to a principal (cached briefly: one store read per token
    per ``TOKEN_CACHE_SECONDS``)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        self._jwks: Any = None

    def principal(self, authorization: str | None) -> Principal:
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 8192:
            raise Unauthorized("give credentials as 'Authorization: Bearer <token>'")
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < TOKEN_CACHE_SECONDS:
            found = hit[1]
        else:
            found = self._verify(token)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[key] = (now, found)
        if found is None:
            raise Unauthorized("the token is unknown, expired or revoked")
        return found

    def _verify(self, token: str) -> Principal | None:
        if token.startswith("om_"):
            user = self.store.access.verify(token)
            return Principal(user.name, user.role, user.region, "token") if user else None
        if self.settings.access.oidc_issuer:
            return self._verify_jwt(token)
        return None

    def _verify_jwt(self, token: str) -> Principal | None:
        import jwt  # PyJWT: signature, expiry, issuer and audience checked by a well-kept library

        try:
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(self._jwks_url(), cache_keys=True, lifespan=3600)
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"],
                                audience=self.settings.access.oidc_audience, issuer=self.settings.access.oidc_issuer,
                                options={"require": ["exp", "iss", "aud"]})
        except (jwt.PyJWTError, OSError, ValueError):
            return None
        role = _role_of(claims.get(self.settings.access.oidc_role_claim))
        region = claims.get(self.settings.access.oidc_region_claim)
        name = claims.get("preferred_username") or claims.get("sub")
        if not isinstance(name, str) or not name:
            return None
        return Principal(name, role, region if isinstance(region, str) and region.isdigit() else None, "oidc")

    def _jwks_url(self) -> str:
        if self.settings.access.oidc_jwks_url:
            return self.settings.access.oidc_jwks_url
        issuer = (self.settings.access.oidc_issuer or "").rstrip("/")
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as r:
            return str(json.loads(r.read())["jwks_uri"])


def _role_of(claim: Any) -> str:
    """The highest OneMap role a claim names (a string or a list); none: public."""
    names = [claim] if isinstance(claim, str) else list(claim) if isinstance(claim, list) else []
    known = [n for n in names if isinstance(n, str) and n in ROLE_RANK]
    return max(known, key=lambda n: ROLE_RANK[n]) if known else "public"


class Policy:
    """The tiers of what the server offers: catalogue layers, processes, overlay resources."""

    def __init__(self, catalogue: Catalogue, overlay: Mapping[str, dict[str, Any]]) -> None:
        self.collections: dict[str, str] = {lid: layer.tier for lid, layer in catalogue.collections.items()}
        for rid, res in overlay.items():
            if res.get("type") != "process":
                self.collections[rid] = str(res.get("x-onemap-tier", "public"))
        self.processes: dict[str, str] = dict(catalogue.process_tiers)

    def sees_collection(self, p: Principal, collection_id: str) -> bool:
        tier = self.collections.get(collection_id)
        return tier is not None and p.reaches(tier)

    def sees_process(self, p: Principal, process_id: str) -> bool:
        return p.reaches(self.processes.get(process_id, "internal"))

    def public_collection(self, collection_id: str) -> bool:
        """Anyone may see it (the cached-tile fast path answers only these)."""
        return self.collections.get(collection_id) == "public"


class Limits:
    """Rate limits per caller (a user, else an address), counted by the ``limits`` library (the one
    behind Flask-Limiter): in this process by default, in Redis when ``ONEMAP_RATE_LIMIT_STORAGE``
    names one, so that several processes and hosts share the count."""

    def __init__(self, general: str, execute: str, storage_uri: str) -> None:
        from limits import parse_many, storage, strategies

        # the fixed window: Flask-Limiter's default, and the cheapest on every request (measured 3.8 us a hit
        # against 6.7 for the sliding window counter); a burst at a window's edge is bounded by twice the rate
        self.limiter = strategies.FixedWindowRateLimiter(storage.storage_from_string(storage_uri))
        self.general = parse_many(general)
        self.execute = parse_many(execute)

    def hit(self, key: str, execute: bool) -> None:
        for item in (*self.general, *(self.execute if execute else ())):
            if not self.limiter.hit(item, key):
                reset = self.limiter.get_window_stats(item, key).reset_time
                raise TooManyRequests(f"too many requests ({item}); try again later",
                                      retry_after=max(1, int(reset - time.time()) + 1))


class Access:
    """The route dependency: who the caller is, whether the route's resource is theirs to reach, and
    whether they are within their rate."""

    def __init__(self, identity: Identity, policy: Policy, limits: Limits | None = None) -> None:
        self.identity = identity
        self.policy = policy
        self.limits = limits
        self.audit = identity.store.access

    def dependency(self, call: Any) -> None:
        g.onemap_call = call  # the audit after the answer reads it
        try:
            p = self.identity.principal(call.request.headers.get("Authorization"))
        except Unauthorized as err:
            self.record(call, Principal("(invalid token)", "public"), f"denied {int(err.status)}")
            g.onemap_call = None
            raise
        call.principal = p
        if self.limits is not None:
            self.limits.hit(p.name or f"addr:{call.request.remote_addr}", call.route.scope == "execute")
        try:
            self._check(call, p)
        except OneMapError as err:
            self.record(call, p, f"denied {int(err.status)}")
            g.onemap_call = None  # recorded once, as denied
            raise

    def after(self, resp: Response) -> Response:
        """Every partner call and every state change is recorded with its outcome (after the answer)."""
        call = g.pop("onemap_call", None)
        p = getattr(call, "principal", None)
        if call is not None and p is not None and (p.role == "partner" or call.route.scope != "read"):
            self.record(call, p, str(resp.status_code))
        return resp

    def record(self, call: Any, p: Principal, outcome: str) -> None:
        """One audit record; a failure to write it is logged, not turned into the answer's failure."""
        try:
            self.audit.append(p.who, p.role, f"{call.request.method} {call.route.path}", outcome,
                              target=call.request.full_path.rstrip("?")[:500], request_id=g.get("request_id"),
                              detail={"via": p.via})
        except Exception:
            LOG.exception("the audit record of request %s could not be written", g.get("request_id"))

    def _check(self, call: Any, p: Principal) -> None:
        guard = call.route.guard
        if guard == "collection":
            cid = call.path.get("collectionId", "")
            if not self.policy.sees_collection(p, cid):
                raise NotFound(f"collection {cid!r} does not exist")
        elif guard == "process":
            pid = call.path.get("processId", "")
            if not self.policy.sees_process(p, pid):
                raise NotFound(f"no process {pid!r}")
        elif guard in ("internal", "admin"):
            need = "internal" if guard == "internal" else "admin"
            if ROLE_RANK[p.role] < ROLE_RANK[need]:
                if p.name is None:
                    raise Unauthorized(f"this needs a signed-in {need} user")
                raise Forbidden(f"this needs the {need} role")
        elif guard == "user" and p.name is None:
            raise Unauthorized("this needs a signed-in user")

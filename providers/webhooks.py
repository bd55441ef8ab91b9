"""Webhook deliveries of warnings: signed, retried with backoff, never to an address the server must not call.

A subscriber's URL is checked when it subscribes and again at every attempt (names may move): http or
https, no user name in it, and every address its host resolves to public, unless the operator allows a
private network or a host:port (``ONEMAP_WEBHOOK_ALLOW``: a bureau's receivers sit on its own network).
The connection goes to the address that was checked (a name resolving to another address between the
check and the call cannot redirect it), with the URL's host name as Host and for TLS. Redirects are
not followed by the HTTP client: a 307/308 is re-checked like the first URL and followed up to the
rules' limit; other redirects fail the attempt (a POST is not turned into a GET).

Each body is signed with the subscription's secret (HMAC-SHA256 over ``<timestamp>.<body>``, header
``X-OneMap-Signature: t=<timestamp>,v1=<hex>``) so the receiver can check it came from this server and
reject replays by the timestamp. urllib3 is used directly (it is what requests is built on) because it
connects to a given address while naming the host for TLS, which pinning the checked address needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import urllib3

from onemap.config.errors import InvalidParameterValue
from onemap.config.warnings import WarningRules

from .store import Store
from .store.warnings import Delivery, Warning, WarningEvent

LOG = logging.getLogger(__name__)
MAX_URL = 2000
SIGNATURE_HEADER = "X-OneMap-Signature"
FOLLOWED = (307, 308)  # redirects that keep the method and body
READ_LIMIT = 64 * 1024  # of a receiver's answer: read and dropped


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def warning_json(w: Warning, rules: WarningRules) -> dict[str, Any]:
    """A warning as JSON (without its geometry)."""
    sev = rules.severities.get(w.severity)
    return {"id": w.id, "kind": w.kind, "kind_label": rules.kinds.get(w.kind, {}), "region": w.region,  # type: ignore[call-overload]
            "severity": w.severity, "severity_label": {"zh": sev.zh, "en": sev.en} if sev else {},
            "status": w.status, "title": {"zh": w.title_zh, "en": w.title_en}, "detail": w.detail,
            "created": _iso(w.created), "updated": _iso(w.updated), "updated_by": w.updated_by}


def event_json(event: WarningEvent) -> dict[str, Any]:
    return {"seq": event.seq, "action": event.action, "at": _iso(event.at), "actor": event.actor,
            "from_status": event.from_status, "to_status": event.to_status, "severity": event.severity,
            "note": event.note}


def event_payload(event: WarningEvent, w: Warning, rules: WarningRules) -> dict[str, Any]:
    """What a subscriber receives (and a feed shows) for one event."""
    return {"type": f"warning.{event.action}", "event": event_json(event), "warning": warning_json(w, rules)}


def queue_events(store: Store, rules: WarningRules, events: list[WarningEvent]) -> int:
    """A delivery of each event to every active subscription asking for it (a scan's, a land audit's)."""
    if not events:
        return 0
    ws = store.warnings
    subs = ws.subscriptions()
    n = 0
    for event in events:
        w = ws.get(event.warning_id)
        if w is None:
            continue
        payload = event_payload(event, w, rules)
        for sub in subs:
            if sub.wants(w):
                ws.enqueue(sub, event, payload)
                n += 1
    return n


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the addresses it may be called at."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


class WebhookPolicy:
    """Which URLs a webhook may call (see the module docstring)."""

    def __init__(self, allow: Sequence[str] = ()) -> None:
        self.networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self.pairs: set[tuple[str, int]] = set()
        for entry in allow:
            entry = entry.strip()
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            host, sep, port = entry.rpartition(":")
            if not sep or not port.isdigit() or not host:
                raise InvalidParameterValue(f"ONEMAP_WEBHOOK_ALLOW: {entry!r} is neither a network nor host:port")
            self.pairs.add((host.strip("[]").lower(), int(port)))

    def check(self, url: str) -> Target:
        """The URL, parsed and resolved, every address allowed; a 400 saying why not otherwise."""
        if not isinstance(url, str) or not url or len(url) > MAX_URL:
            raise InvalidParameterValue(f"url must be an http(s) URL of at most {MAX_URL} characters")
        try:
            parts = urllib.parse.urlsplit(url)
            port = parts.port
        except ValueError:
            raise InvalidParameterValue("url is not a valid URL") from None
        if parts.scheme not in ("http", "https"):
            raise InvalidParameterValue("url must be http or https")
        if parts.username is not None or parts.password is not None:
            raise InvalidParameterValue("url must not carry a user name or password (the body is signed instead)")
        host = (parts.hostname or "").lower()
        if not host:
            raise InvalidParameterValue("url has no host")
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise InvalidParameterValue("url: its host name does not resolve") from None
        addresses = tuple(dict.fromkeys(str(i[4][0]) for i in infos))
        for address in addresses:
            if not self._allowed(host, address, port):
                raise InvalidParameterValue("url: its host is a private, loopback, link-local or reserved address "
                                            "(or resolves to one), which OneMap does not call; an operator can "
                                            "allow a bureau's own network with ONEMAP_WEBHOOK_ALLOW")
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return Target(url, parts.scheme, host, port, path, addresses)

    def _allowed(self, host: str, address: str, port: int) -> bool:
        ip = ipaddress.ip_address(address.split("%")[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
        if (host, port) in self.pairs or (str(ip), port) in self.pairs:
            return True
        if any(ip in net for net in self.networks):
            return True
        return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Outcome:
    """One attempt: the status code (None: no answer), an error (None: delivered) and the last URL called."""

    code: int | None
    error: str | None
    url: str


def post(policy: WebhookPolicy, url: str, body: bytes, headers: dict[str, str], timeout: float,
         max_redirects: int) -> Outcome:
    """POST ``body`` to ``url`` (checked now), following 307/308 redirects (each checked) up to the limit."""
    for _ in range(max_redirects + 1):
        try:
            target = policy.check(url)
        except InvalidParameterValue as err:
            return Outcome(None, f"refused: {err.description}", url)
        try:
            status, location = _post_once(target, body, headers, timeout)
        except (urllib3.exceptions.HTTPError, OSError) as err:
            return Outcome(None, f"no answer: {type(err).__name__}", url)
        if 200 <= status < 300:
            return Outcome(status, None, url)
        if status in FOLLOWED and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if 300 <= status < 400:
            return Outcome(status, f"redirected with {status}: webhooks follow 307 and 308 only", url)
        return Outcome(status, f"answered {status}", url)
    return Outcome(None, f"more than {max_redirects} redirects", url)


def _post_once(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str | None]:
    address = target.addresses[0]
    default = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default else f"{target.host}:{target.port}"
    if ":" in target.host and not target.host.startswith("["):
        host_header = f"[{target.host}]" if target.port == default else f"[{target.host}]:{target.port}"
    pool: urllib3.HTTPConnectionPool
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(address, target.port, timeout=timeout, retries=False,
                                           server_hostname=target.host, assert_hostname=target.host,
                                           cert_reqs="CERT_REQUIRED")
    else:
        pool = urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, retries=False)
    try:
        r = pool.urlopen("POST", target.path, body=body, headers={**headers, "Host": host_header}, redirect=False,
                         retries=False, preload_content=False, assert_same_host=False)
        try:
            r.read(READ_LIMIT)
        finally:
            r.release_conn()
        return r.status, r.headers.get("Location")
    finally:
        pool.close()


def deliver_due(store: Store, rules: WarningRules, policy: WebhookPolicy, worker: str, limit: int = 20) -> int:
    """Post the deliveries that are due (this host holds a lease on each); how many were attempted."""
    ws = store.warnings
    d = rules.delivery
    lease = d.timeout_seconds * (d.max_redirects + 1) + 5
    done = 0
    for delivery in ws.claim_due(worker, lease, limit):
        found = ws.subscription(delivery.subscription_id)
        if found is None or not found[0].active:
            ws.attempted(delivery, found[0].url if found else "", None, "unsubscribed", 0.0, None)
            continue
        sub, secret = found
        _attempt(ws, delivery, sub.url, secret, rules, policy)
        done += 1
    return done


def _attempt(ws: Any, delivery: Delivery, url: str, secret: str, rules: WarningRules, policy: WebhookPolicy) -> None:
    body = delivery.payload.encode("utf-8")
    now = int(time.time())
    kind = json.loads(delivery.payload).get("type", "warning")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "OneMap-Webhook/1",
               SIGNATURE_HEADER: sign(secret, now, body), "X-OneMap-Event": kind, "X-OneMap-Delivery": delivery.id}
    t0 = time.perf_counter()
    out = post(policy, url, body, headers, rules.delivery.timeout_seconds, rules.delivery.max_redirects)
    ms = (time.perf_counter() - t0) * 1000
    next_at = None
    if out.error is not None:
        waits = rules.delivery.backoff_seconds
        following = delivery.attempts + 1  # the attempt after this one
        if following < len(waits):
            next_at = time.time() + waits[following]
        LOG.info("webhook delivery %s: %s (attempt %d)", delivery.id, out.error, delivery.attempts + 1)
    ws.attempted(delivery, out.url, out.code, out.error, ms, next_at)

"""The command line of access: ``onemap user``, ``onemap token`` and ``onemap audit``.

Users and tokens are kept in the store (``providers/store/access.py``); a token is printed
once, when it is made. The audit trail is verified, exported and trimmed to its retention
from here.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from typing import Any


def add_parsers(sub: Any, store_of: Any) -> None:
    """Add the three commands to the main parser's subparsers (``store_of(args)`` opens the store)."""
    database = {"help": "postgresql://... URL (default $ONEMAP_DATABASE_URL or the GeoPackage)"}

    us = sub.add_parser("user", help="users of the server: add, list, disable, enable")
    us.add_argument("action", choices=["add", "list", "disable", "enable"])
    us.add_argument("name", nargs="?", help="the user's name (letters, digits, '_', '.', '@', '-')")
    us.add_argument("--role", choices=["partner", "internal", "admin"], help="add: the user's role")
    us.add_argument("--region", help="add: limit the user to this region's drawers (e.g. 990121)")
    us.add_argument("--database", **database)
    us.set_defaults(func=lambda args: cmd_user(args, store_of))

    tk = sub.add_parser("token", help="bearer tokens: create (printed once), list, revoke")
    tk.add_argument("action", choices=["create", "list", "revoke"])
    tk.add_argument("name", nargs="?", help="create, list: the user; revoke: the token id")
    tk.add_argument("--label", help="create: what the token is for (e.g. the partner system's name)")
    tk.add_argument("--days", type=float, help="create: the token expires after this many days (default: never)")
    tk.add_argument("--database", **database)
    tk.set_defaults(func=lambda args: cmd_token(args, store_of))

    au = sub.add_parser("audit", help="the audit trail: verify its chain, export it, apply its retention")
    au.add_argument("action", choices=["verify", "export", "retain"])
    au.add_argument("--out", help="export: the file to write (default: standard output)")
    au.add_argument("--format", choices=["jsonl", "csv"], default="jsonl", help="export: JSON lines or CSV")
    au.add_argument("--who", help="export: only this caller's records")
    au.add_argument("--since", help="export: records made at or after this date-time (UTC, ISO 8601)")
    au.add_argument("--until", help="export: records made before this date-time")
    au.add_argument("--database", **database)
    au.set_defaults(func=lambda args: cmd_audit(args, store_of))


def operator() -> str:
    """Who acts on the command line: the operating system's user (the server's operator)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _need(value: str | None, what: str) -> str:
    from .cli import CliError

    if not value:
        raise CliError(f"give {what}")
    return value


def cmd_user(args: argparse.Namespace, store_of: Any) -> int:
    _settings, store = store_of(args)
    try:
        access = store.access
        if args.action == "list":
            for u in access.users():
                flags = " (disabled)" if u.disabled else ""
                print(f"{u.name}\t{u.role}\t{u.region or '-'}\t{u.created}{flags}")
            return 0
        name = _need(args.name, "the user's name")
        if args.action == "add":
            user = access.add_user(name, _need(args.role, "--role"), args.region)
            store.access.append(operator(), "admin", "user.add", "done", target=name,
                                detail={"role": user.role, "region": user.region})
            print(f"user {user.name} added ({user.role}{', region ' + user.region if user.region else ''}); "
                  f"make a token with: onemap token create {user.name}")
            return 0
        access.set_disabled(name, args.action == "disable")
        store.access.append(operator(), "admin", f"user.{args.action}", "done", target=name)
        print(f"user {name} {args.action}d")
        return 0
    finally:
        store.close()


def cmd_token(args: argparse.Namespace, store_of: Any) -> int:
    _settings, store = store_of(args)
    try:
        access = store.access
        if args.action == "list":
            for t in access.tokens(args.name):
                state = "revoked" if t.revoked else f"expires {t.expires}" if t.expires else "no expiry"
                print(f"{t.id}\t{t.user}\t{t.label or '-'}\t{t.created}\t{state}")
            return 0
        if args.action == "revoke":
            token_id = _need(args.name, "the token id (onemap token list)")
            access.revoke(token_id)
            access.append(operator(), "admin", "token.revoke", "done", target=token_id)
            print(f"token {token_id} revoked (servers stop accepting it within 30 s)")
            return 0
        name = _need(args.name, "the user's name")
        token = access.create_token(name, args.label, args.days)
        access.append(operator(), "admin", "token.create", "done", target=token.split("_")[1],
                      detail={"user": name, "label": args.label, "days": args.days})
        print(token)
        return 0
    finally:
        store.close()


def cmd_audit(args: argparse.Namespace, store_of: Any) -> int:
    from .cli import CliError

    settings, store = store_of(args)
    try:
        access = store.access
        if args.action == "verify":
            ok, count, broken = access.verify_chain()
            if not ok:
                raise CliError(f"the audit trail is broken at record {broken} ({count} records before it verify)")
            print(f"the audit trail verifies: {count} records, each chained to the one before it")
            return 0
        if args.action == "retain":
            before = (dt.datetime.now(dt.UTC) - dt.timedelta(days=settings.access.audit_keep_days)).isoformat()
            removed = access.purge_before(before)
            print(f"{removed} records older than {settings.access.audit_keep_days:g} days removed; "
                  "the chain stays verifiable from the last one's hash")
            return 0
        out = open(args.out, "w", encoding="utf-8", newline="") if args.out else sys.stdout  # noqa: SIM115
        try:
            export(access.iter_filtered(who=args.who, since=args.since, until=args.until), out, args.format)
        finally:
            if args.out:
                out.close()
        return 0
    finally:
        store.close()


def export(records: Any, out: Any, fmt: str) -> int:
    """Write records as JSON lines or CSV; returns how many."""
    from onemap.providers.store.access import AUDIT_COLUMNS

    n = 0
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(AUDIT_COLUMNS)
    for rec in records:
        if writer is not None:
            writer.writerow([rec[c] for c in AUDIT_COLUMNS])
        else:
            out.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
        n += 1
    return n

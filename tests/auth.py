"""Users and bearer tokens for tests: the same store tables and CLI a bureau uses."""

from __future__ import annotations

import itertools

from flask.testing import FlaskClient

_names = itertools.count(1)


def token_for(store, role: str = "admin", region: str | None = None, name: str | None = None) -> str:
    """A new user of ``role`` (limited to ``region``) in ``store`` and a bearer token for it."""
    name = name or f"test-{role}-{next(_names)}"
    if store.access.user(name) is None:
        store.access.add_user(name, role, region)
    return store.access.create_token(name, label="tests")


def signed_in(client: FlaskClient, token: str) -> FlaskClient:
    """``client`` sending ``Authorization: Bearer <token>`` with every request."""
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def admin_client(app) -> FlaskClient:
    """A test client of ``app`` signed in as an administrator (every tier, every region); one token per app."""
    token = app.extensions.get("test_admin_token")
    if token is None:
        token = app.extensions["test_admin_token"] = token_for(app.extensions["onemap"].store, "admin")
    return signed_in(app.test_client(), token)

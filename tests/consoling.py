"""Helpers for console tests over HTTP: sign in with a key, read a page's CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(client: TestClient, key: str) -> str:
    """Signs ``client`` in with ``key``; returns the session's CSRF token."""
    form = client.get("/console/sign-in")
    answer = client.post(
        "/console/sign-in",
        data={"key": key, "csrf": csrf_of(form.text), "next": "/console"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/console").text)

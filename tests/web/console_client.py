"""Logging in to the staff console with the test client, as a browser would: the login page's CSRF
token first, then the form, then the session cookie kept by the client."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.api.api_world import PASSWORD

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_of(html: str) -> str:
    found = _TOKEN.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


class Console:
    """A browser-like client of the console: its own cookie jar, the page's CSRF token at hand."""

    def __init__(self, app: Any, *, base_url: str = "http://testserver", **headers: str) -> None:
        self.client = TestClient(app, base_url=base_url, raise_server_exceptions=True, headers=headers)
        self.token = ""
        #: every URL this client asked for, redirects included
        self.urls: list[str] = []
        self.client.event_hooks["request"] = [lambda request: self.urls.append(str(request.url))]

    def login(self, username: str, password: str = PASSWORD) -> Any:
        self.token = token_of(self.client.get("/console/login").text)
        response = self.client.post(
            "/console/login",
            data={"username": username, "password": password, "csrf_token": self.token},
            follow_redirects=False,
        )
        if response.status_code == 303:
            self.token = token_of(self.client.get("/console").text)
        return response

    def get(self, path: str, **kw: Any) -> Any:
        kw.setdefault("follow_redirects", False)
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, str] | None = None, *, token: bool = True, **kw: Any) -> Any:
        body = dict(data or {})
        if token:
            body.setdefault("csrf_token", self.token)
        kw.setdefault("follow_redirects", False)
        return self.client.post(path, data=body, **kw)

    def close(self) -> None:
        self.client.close()


def as_(app: Any, username: str) -> Console:
    console = Console(app)
    assert console.login(username).status_code == 303
    return console

"""HTTP clients acting for a tenant (signed in, or with an API key) and the checks the isolation
suite applies to each answer."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from tests.support import session_csrf, sign_in
from tests.tenancy.isolation_routes import WRITE_METHODS, RouteProbe, form_body, json_body
from tests.tenancy.isolation_seed import SeededTenant


@asynccontextmanager
async def client_for(app, host: str, ip: str):
    """A client on `host` from its own address, so one probe's refused sign-ins never throttle
    another's."""
    transport = httpx.ASGITransport(app=app, client=(ip, 51000))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
        yield client


def error_code(response: httpx.Response) -> str | None:
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    # application/json, or a JSON dialect such as SCIM's application/scim+json.
    if not (media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))):
        return None
    try:
        return response.json().get("error", {}).get("code")
    except (json.JSONDecodeError, AttributeError):
        return None


def outcome(response: httpx.Response) -> tuple[int, str | None]:
    return response.status_code, error_code(response)


def refused_as_anonymous(response: httpx.Response) -> bool:
    """401 with the envelope, or, for a page form (which a browser sends), the redirect to the
    sign-in page that stands for it."""
    if outcome(response) == (401, "NOT_AUTHENTICATED"):
        return True
    if response.request.method == "HEAD" and response.status_code == 401:
        return True  # a HEAD answer has no body to carry the envelope
    return response.status_code in (302, 303) and response.headers.get("location", "").startswith(
        "/login"
    )


def leaked(response: httpx.Response, secrets: set[str], sent: str) -> list[str]:
    """`secrets` found in the answer that the request itself did not carry (an error page may
    echo the path it was asked for; that reveals nothing)."""
    seen = response.text + "\n" + response.headers.get("location", "")
    return sorted(s for s in secrets if s in seen and s not in sent)


@dataclass
class Acting:
    """A tenant's owner acting on its own host, by session cookie or by API key."""

    client: httpx.AsyncClient
    seeded: SeededTenant
    via: str
    cookie_name: str = "sc_session"
    #: The session's API CSRF token (sessions only).
    csrf: str | None = field(default=None, repr=False)

    async def ready(self) -> None:
        """Signed in (again, if a probe such as /logout ended the session) and holding the
        tokens writes need."""
        if self.via == "api_key":
            if self.client.cookies.get("sc_csrf") is None:
                await self.client.get("/team", headers=self._auth())
            return
        if (await self.client.get("/api/v1/me")).status_code != 200:
            response = await sign_in(self.client, self.seeded.owner_email, self.seeded.password)
            assert response.status_code in (302, 303), response.text
            self.csrf = None
        if self.csrf is None:
            self.csrf = await session_csrf(self.client)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.seeded.api_key}"} if self.via == "api_key" else {}

    def headers(self, probe: RouteProbe) -> dict[str, str]:
        headers = self._auth()
        if probe.method in WRITE_METHODS:
            if not probe.is_api:
                headers["x-csrftoken"] = self.client.cookies.get("sc_csrf") or ""
            elif self.via == "session":
                headers["X-CSRF-Token"] = self.csrf or ""
        return headers

    @property
    def session_token(self) -> str:
        return self.client.cookies.get(self.cookie_name) or ""


async def send(
    client: httpx.AsyncClient,
    probe: RouteProbe,
    values: dict[str, str],
    headers: dict[str, str],
    body_owner: SeededTenant,
    acting: SeededTenant,
) -> tuple[httpx.Response, str]:
    """The probe's request with its path filled by `values` (a JSON body naming `body_owner`'s
    ids, or a page form); returns the answer and a text of everything sent."""
    path = probe.fill(values)
    kwargs: dict = {"headers": headers}
    sent = path
    if probe.method in WRITE_METHODS:
        if probe.is_api:
            body = json_body(probe, body_owner)
            if body is not None:
                kwargs["json"] = body
                sent += json.dumps(body)
        else:
            kwargs["data"] = form_body(acting)
    response = await client.request(probe.method, path, follow_redirects=False, **kwargs)
    return response, sent

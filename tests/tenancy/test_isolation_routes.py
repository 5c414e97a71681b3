"""Two-tenant isolation, route by route: for every route the app serves inside a tenant, tenant B's
owner (signed in, or with an API key) reaches none of tenant A's data, and B's credentials mean
nothing on A's host.

- On B's host, a request naming A's ids answers exactly as one naming ids that exist nowhere:
  404 for a tenant-owned row (never 403, which would confirm the row exists), no server error,
  and none of A's data in the answer.
- On A's host, B's API key gets 401 and B's session cookie is nobody's: the answer is the one an
  anonymous request gets (401 where the route needs a permission; a page form answers 401 with
  the redirect to the sign-in page).
- Afterwards every row A owns is exactly as before.

Routes are enumerated from the app, so a new route is probed the day it is added.
"""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from salescopilot.accounts.permissions import PUBLIC
from salescopilot.db.schema import tenant_owned_tables
from tests.tenancy.isolation_probe import (
    Acting,
    client_for,
    leaked,
    outcome,
    refused_as_anonymous,
    send,
)
from tests.tenancy.isolation_routes import (
    RouteProbe,
    control_values,
    owned_params,
    real_values,
    tenant_routes,
    unmapped_params,
)
from tests.tenancy.isolation_seed import SeededTenant


def phantom(tenant: SeededTenant) -> SeededTenant:
    """A tenant that does not exist: same shape, ids and tokens found nowhere."""
    return dataclasses.replace(
        tenant,
        ids={name: [uuid.uuid4()] for name in tenant.ids},
        invite_token="missing-" + uuid.uuid4().hex,
        ref=dataclasses.replace(tenant.ref, id=uuid.uuid4()),
    )


async def test_every_tenant_owned_table_is_seeded_for_both_tenants(seeded):
    a, b, database = seeded
    for table in tenant_owned_tables():
        name = table._meta.tablename
        assert a.ids[name] and b.ids[name], f"{name} has no rows for one of the tenants"


def test_every_id_in_a_route_path_names_a_tenant_owned_table(app):
    """So the probes below fill it with the other tenant's real rows. Name the parameter after
    its table (`lead_id` for `lead`), or teach `SPECIAL_PARAMS` what it is."""
    offenders = {p.label: unmapped_params(p) for p in tenant_routes(app) if unmapped_params(p)}
    assert not offenders, offenders


def test_the_probe_covers_the_routes_we_know(app):
    labels = {p.label for p in tenant_routes(app)}
    for expected in (
        "GET /api/v1/members",
        "PATCH /api/v1/members/{member_id:uuid}",
        "DELETE /api/v1/api-keys/{key_id:uuid}",
        "POST /api/v1/invites",
        "POST /team/members/{member_id:uuid}/remove",
        "GET /invite/{token:str}",
        "GET /api/v1/mailboxes/{mailbox_id:uuid}",
        "PATCH /api/v1/mailboxes/{mailbox_id:uuid}",
        "POST /api/v1/mailboxes/bulk",
        "PUT /api/v1/mailbox-pools/{pool_id:uuid}/members",
        "POST /api/v1/outbox/{message_id:uuid}/retry",
        "POST /api/v1/outbox/bulk",
        "POST /mailboxes/{mailbox_id:uuid}",
        "POST /mailboxes/{mailbox_id:uuid}/check",
        "POST /outbox/{message_id:uuid}/cancel",
        "POST /api/v1/sending-domains/{domain_id:uuid}/rotate",
        "GET /api/v1/leads/{lead_id:uuid}",
        "POST /api/v1/leads/bulk",
        "GET /api/v1/lead-imports/{import_id:uuid}/report",
        "DELETE /api/v1/suppressions/{suppression_id:uuid}",
        "POST /api/v1/templates/{template_id:uuid}/versions/{version:int}/restore",
        "POST /leads/{lead_id:uuid}/erase",
        "POST /templates/preview",
        "GET /api/v1/composer/drafts/{draft_id:uuid}",
        "PUT /api/v1/composer/drafts/{draft_id:uuid}",
        "POST /api/v1/composer/drafts/{draft_id:uuid}/send",
        "POST /api/v1/composer/drafts/{draft_id:uuid}/cancel",
        "GET /api/v1/composer/drafts/{draft_id:uuid}/messages",
        "POST /api/v1/composer/spam-check",
    ):
        assert expected in labels, sorted(labels)


@pytest.mark.parametrize("via", ["session", "api_key"])
async def test_tenant_b_reaches_none_of_tenant_a_data_on_its_own_host(app, seeded, via):
    a, b, database = seeded
    nobody = phantom(a)
    before = await database.snapshot(a.ref.id)
    problems: list[str] = []
    async with client_for(app, b.host, "198.51.100.10") as client:
        acting = Acting(client, b, via, app.state.settings.sessions.cookie_name)
        await acting.ready()
        assert (await client.get("/api/v1/me", headers=acting.headers(_me(app)))).status_code == 200
        for probe in tenant_routes(app):
            problems += await _probe_on_own_host(acting, probe, a, nobody)
    assert not problems, "\n".join(problems)
    assert await database.snapshot(a.ref.id) == before, "tenant A's data changed"


async def _probe_on_own_host(
    acting: Acting, probe: RouteProbe, a: SeededTenant, nobody: SeededTenant
) -> list[str]:
    problems = []
    for values in real_values(probe, a):
        await acting.ready()
        control, _ = await send(
            acting.client,
            probe,
            control_values(probe),
            acting.headers(probe),
            nobody,
            acting.seeded,
        )
        await acting.ready()
        response, sent = await send(
            acting.client, probe, values, acting.headers(probe), a, acting.seeded
        )
        where = f"{probe.label} as B ({acting.via}) with A's {values or 'data'}"
        if response.status_code >= 500:
            problems.append(f"{where}: server error {response.status_code}")
        if response.status_code == 403:
            problems.append(f"{where}: 403 confirms the row exists ({response.text[:200]})")
        if owned_params(probe) and response.status_code != 404:
            problems.append(f"{where}: {response.status_code}, expected 404")
        if outcome(response) != outcome(control):
            problems.append(
                f"{where}: answers {outcome(response)}, but {outcome(control)} for ids of nobody"
            )
        if found := leaked(response, a.secrets, sent):
            problems.append(f"{where}: answer shows A's {found}")
    return problems


async def test_tenant_b_api_key_is_refused_on_tenant_a_host(app, seeded):
    a, b, database = seeded
    before = await database.snapshot(a.ref.id)
    problems = []
    async with client_for(app, a.host, "198.51.100.20") as client:
        for probe in tenant_routes(app):
            values = real_values(probe, a)[0]
            # Both headers a key may come in.
            for headers in ({"Authorization": f"Bearer {b.api_key}"}, {"X-API-Key": b.api_key}):
                response, _ = await send(client, probe, values, headers, a, b)
                if not refused_as_anonymous(response):
                    problems.append(f"{probe.label} on A's host with B's key: {outcome(response)}")
    assert not problems, "\n".join(problems)
    assert await database.snapshot(a.ref.id) == before, "tenant A's data changed"


#: Sign-ins refused on A's host are written to A's audit log, whoever tried (the probes try).
#: Refusals an anonymous caller may cause (and that are audited on purpose).
REFUSED_SIGN_INS = (
    "auth.sign_in_failed", "auth.second_factor_failed", "sso.login_refused", "sso.logout_refused",
    "sso.password_sign_in_refused",
)


async def test_tenant_b_session_is_anonymous_on_tenant_a_host(app, seeded):
    a, b, database = seeded
    before = await database.snapshot(a.ref.id, except_actions=REFUSED_SIGN_INS)
    problems = []
    cookie_name = app.state.settings.sessions.cookie_name
    async with (
        client_for(app, b.host, "198.51.100.30") as b_client,
        client_for(app, a.host, "198.51.100.31") as a_client,
    ):
        acting = Acting(b_client, b, "session", cookie_name)
        for probe in tenant_routes(app):
            await acting.ready()
            # A form token valid on A's host, so the pages' CSRF check is not what refuses.
            a_client.cookies.clear()
            await a_client.get("/login")
            csrf = a_client.cookies.get("sc_csrf") or ""
            a_client.cookies.clear()
            values = real_values(probe, a)[0]
            headers = {"x-csrftoken": csrf, "X-CSRF-Token": acting.csrf or ""}
            anonymous, _ = await send(
                a_client, probe, values, {**headers, "Cookie": f"sc_csrf={csrf}"}, a, b
            )
            cookie = f"sc_csrf={csrf}; {cookie_name}={acting.session_token}"
            response, _ = await send(a_client, probe, values, {**headers, "Cookie": cookie}, a, b)
            where = f"{probe.label} on A's host with B's session"
            if outcome(response) != outcome(anonymous):
                problems.append(
                    f"{where}: {outcome(response)}, anonymous gets {outcome(anonymous)}"
                )
            if probe.permission != PUBLIC and not refused_as_anonymous(response):
                problems.append(f"{where}: {outcome(response)}, expected 401")
        me = await a_client.get(
            "/api/v1/me", headers={"Cookie": f"{cookie_name}={acting.session_token}"}
        )
        assert me.status_code == 401, me.text
    assert not problems, "\n".join(problems)
    after = await database.snapshot(a.ref.id, except_actions=REFUSED_SIGN_INS)
    assert after == before, "tenant A's data changed"


def _me(app) -> RouteProbe:
    return next(p for p in tenant_routes(app) if p.label == "GET /api/v1/me")

"""The embedded mail catcher: it receives over SMTP, keeps messages on disk, and shows them at
/dev/mail to owners and admins, with the HTML sandboxed."""

from __future__ import annotations

import datetime as dt
import json

import aiosmtplib
import pytest

from salescopilot.mail.message import Address, MessageSpec, build_message
from salescopilot.mailcatcher.server import MailCatcher, MailCatcherRefused
from salescopilot.mailcatcher.store import MailStore, MessageNotFound
from salescopilot.settings import Environment, Settings
from tests.conftest import app_client
from tests.mailservers import free_port
from tests.support import add_member, sign_in

WHEN = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)


def caught_message(subject: str = "Hello from the demo", html: str | None = None) -> bytes:
    return build_message(MessageSpec(
        message_id="<demo1@example.com>", sender=Address("anna@example.com", "Anna"),
        recipient=Address("lee@example.org", "Lee"), subject=subject,
        text="Hi Lee,\nthis is the demo.", html=html, date=WHEN,
    ))


def test_store_keeps_the_newest_messages_and_refuses_path_tricks(tmp_path):
    store = MailStore(tmp_path / "mc", max_messages=3)
    ids = [store.save("a@example.com", ["b@example.com"], caught_message(f"n{i}"), WHEN) for i in range(5)]
    assert [m.id for m in store.list()] == ids[:1:-1]  # newest first, two oldest gone
    assert [m.subject for m in store.list()] == ["n4", "n3", "n2"]
    assert sorted(p.name for p in (tmp_path / "mc").glob("*.eml")) == sorted(f"{i}.eml" for i in ids[2:])
    assert store.raw(ids[4]) == caught_message("n4")
    for bad in (ids[0], "../index", "..%2Findex.json", "/etc/passwd", ids[4] + "/../x", ""):
        with pytest.raises(MessageNotFound):
            store.raw(bad)
    (tmp_path / "mc" / "index.json").write_text("{not json")
    assert store.list() == []  # a damaged index shows an empty list, not an error page
    store.save("a@example.com", ["b@example.com"], b"Subject: =?bogus?q?x?=\r\n\r\nbody", WHEN)
    assert len(store.list()) == 1


def catcher_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "mail_catcher": settings.mail_catcher.model_copy(update={"enabled": True, "port": free_port()}),
    })


async def test_the_catcher_is_refused_in_production(settings):
    production = settings.model_copy(update={"environment": Environment.PRODUCTION})
    with pytest.raises(MailCatcherRefused):
        MailCatcher(production, clock=None)


async def test_received_messages_are_shown_to_admins_only(settings, db, tenant_a):
    from salescopilot.clock import FakeClock
    from salescopilot.web.app import create_app

    enabled = catcher_settings(settings)
    app = create_app(enabled, clock=FakeClock(WHEN))
    await add_member(tenant_a, "owner@acme.test", "owner")
    await add_member(tenant_a, "member@acme.test", "member")
    html = '<p>Hi <b>Lee</b></p><script>alert(1)</script><img src="https://tracker.example/o.gif">'
    async with app_client(app, "acme.localhost") as client:
        port = enabled.mail_catcher.port
        await aiosmtplib.send(caught_message(html=html), sender="anna@example.com",
                              recipients=["lee@example.org"], hostname="127.0.0.1", port=port)
        [stored] = json.loads((enabled.var_dir / "mailcatcher" / "index.json").read_text())
        assert stored["mail_from"] == "anna@example.com"
        assert stored["received_at"] == WHEN.isoformat()

        assert (await client.get("/dev/mail", follow_redirects=False)).status_code in (302, 303, 401)
        await sign_in(client, "member@acme.test")
        assert (await client.get("/dev/mail")).status_code == 403
        await client.post("/logout", follow_redirects=False)

        client.cookies.clear()
        await sign_in(client, "owner@acme.test")
        listing = await client.get("/dev/mail")
        assert listing.status_code == 200
        assert "Hello from the demo" in listing.text and f"/dev/mail/{stored['id']}" in listing.text

        page = await client.get(f"/dev/mail/{stored['id']}")
        assert page.status_code == 200
        assert "this is the demo." in page.text and "<script>alert(1)" not in page.text
        assert f'<iframe src="/dev/mail/{stored["id"]}/html" sandbox' in page.text

        frame = await client.get(f"/dev/mail/{stored['id']}/html")
        assert frame.status_code == 200
        assert frame.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
        assert "<script>alert(1)</script>" in frame.text  # shown as sent, unable to run

        raw = await client.get(f"/dev/mail/{stored['id']}/raw")
        assert raw.headers["content-type"].startswith("message/rfc822")
        assert raw.headers["content-disposition"] == f'attachment; filename="{stored["id"]}.eml"'
        assert raw.content == caught_message(html=html)

        assert (await client.get("/dev/mail/20260101T000000-000000000000")).status_code == 404
        assert (await client.get("/dev/mail/..%2F..%2Fetc%2Fpasswd/raw")).status_code == 404


async def test_without_the_catcher_there_is_no_page(client_a, tenant_a):
    await add_member(tenant_a, "owner@acme.test", "owner")
    await sign_in(client_a, "owner@acme.test")
    assert (await client_a.get("/dev/mail")).status_code == 404

"""The suppression list page: add, paste many, search, remove (admins only)."""

from __future__ import annotations

import re

from tests.support import add_member, form_post, sign_in


async def test_add_paste_search_and_remove(client_a, tenant_a):
    await add_member(tenant_a, "sam@acme.test", "admin")
    await sign_in(client_a, "sam@acme.test")
    added = await form_post(client_a, "/suppressions", "/suppressions", {"value": "no@example.com", "reason": "unsubscribe"})
    assert added.status_code in (302, 303)
    pasted = await form_post(client_a, "/suppressions", "/suppressions/import",
                             {"values": "a@example.com\ncompetitor.example,extra\nnonsense\n"})
    assert pasted.status_code in (302, 303)
    page = await client_a.get(pasted.headers["location"])
    assert "2 added" in page.text and "1 not valid" in page.text
    found = await client_a.get("/suppressions?q=competitor")
    assert "competitor.example" in found.text and "no@example.com" not in found.text
    entry = re.search(r'action="/suppressions/([0-9a-f-]{36})/remove"', found.text).group(1)
    removed = await form_post(client_a, "/suppressions", f"/suppressions/{entry}/remove", {})
    assert removed.status_code in (302, 303)
    assert "competitor.example" not in (await client_a.get("/suppressions?q=competitor")).text
    bad = await form_post(client_a, "/suppressions", "/suppressions", {"value": "nope"})
    assert bad.status_code == 400

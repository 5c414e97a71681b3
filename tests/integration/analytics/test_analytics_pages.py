"""The analytics pages, without a browser: the figures and the charts (inline SVG with titles)
are in the HTML, user-written names are escaped, and another tenant's campaign is not found."""

from __future__ import annotations

import re

from salescopilot.tenancy.context import tenant_scope
from salescopilot.templates.tables import EmailTemplate
from tests.integration.mailboxes.conftest import signed_in


async def test_campaign_page_shows_figures_charts_and_the_ab_verdict(client_a, tenant_a, seeded, no_scheduler):
    await signed_in(client_a, tenant_a, email="viewer@acme.example.com", role="viewer")
    response = await client_a.get(f"/analytics/campaigns/{seeded.campaign}")
    assert response.status_code == 200, response.text
    html = response.text
    assert "Spring outreach" in html
    assert "<dt>Sent</dt><dd>450</dd>" in html and "<dt>Replied</dt><dd>61 (13.7 %)</dd>" in html
    assert "<dt>Machine opens / clicks</dt><dd>70 / 3</dd>" in html
    assert html.count('<svg id="cp-') == 5 and '<title id="cp-weekday-title">Reply rate by weekday' in html
    assert '<svg id="ab-s1"' in html and "Recommended winner: variant A" in html
    # The weekday chart's description carries the figures for screen readers.
    desc = re.search(r'<desc id="cp-weekday-desc">([^<]*)</desc>', html).group(1)
    assert "Tue 20.2 %" in desc and "Mon no data" in desc
    assert "Best time to send: <strong>Tue 10:00</strong>" in html
    assert '<th scope="row">Opener</th><td>400</td>' in html


async def test_overview_shows_team_leaderboard_and_escapes_names(client_a, client_b, tenant_a, tenant_b, seeded, no_scheduler):
    async with tenant_scope(tenant_a):
        await EmailTemplate.update({EmailTemplate.name: "<script>alert(1)</script>"}).where(
            EmailTemplate.id == seeded.template)
    await signed_in(client_a, tenant_a)
    response = await client_a.get("/analytics")
    assert response.status_code == 200
    html = response.text
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'href="/analytics/campaigns/{seeded.campaign}"' in html
    assert '<svg id="ws-team"' in html and "Olive" in html and "Omar" in html
    assert '<th scope="row">Olive</th><td>250</td>' in html
    bad = await client_a.get("/analytics?from=2026-05-13&to=2026-05-01")
    assert bad.status_code == 200 and "must be after" in bad.text
    await signed_in(client_b, tenant_b, email="owner@globex.example.com")
    assert (await client_b.get(f"/analytics/campaigns/{seeded.campaign}")).status_code == 404
    assert "Spring outreach" not in (await client_b.get("/analytics")).text

"""Exports: the CSV carries the figures with formula cells defused; the PDF report carries the
totals, the tables and the A/B verdict; another tenant cannot export the campaign."""

from __future__ import annotations

import csv
import io
import re
import zlib

from salescopilot.templates.tables import EmailTemplate
from salescopilot.tenancy.context import tenant_scope
from tests.integration.mailboxes.conftest import signed_in


def _pdf_text(body: bytes) -> str:
    texts = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S):
        try:
            texts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            texts.append(stream.decode("latin-1"))
    return "\n".join(texts)


async def test_campaign_csv_defuses_formulas_and_counts(client_a, tenant_a, seeded, no_scheduler):
    async with tenant_scope(tenant_a):
        await EmailTemplate.update({EmailTemplate.name: '=HYPERLINK("http://evil.example","x")'}).where(
            EmailTemplate.id == seeded.template)
    await signed_in(client_a, tenant_a, email="viewer@acme.example.com", role="viewer")
    response = await client_a.get(f"/api/v1/analytics/campaigns/{seeded.campaign}/export?format=csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table, _, ab = response.text.partition("\r\n\r\n")
    rows = list(csv.DictReader(io.StringIO(table)))
    total = next(r for r in rows if r["section"] == "total")
    assert (total["sent"], total["delivered"], total["replied"], total["machine_opened"]) == ("450", "447", "61", "70")
    template = next(r for r in rows if r["section"] == "template" and r["sent"] == "200" and r["replied"] == "40")
    assert template["name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())
    variants = list(csv.DictReader(io.StringIO(ab)))
    assert [(v["variant"], v["successes"], v["delivered"], v["winner"]) for v in variants] == [
        ("A", "40", "198", "A"), ("B", "21", "199", "A")]


async def test_pdf_reports(client_a, client_b, tenant_a, tenant_b, seeded, no_scheduler):
    await signed_in(client_a, tenant_a)
    response = await client_a.get(f"/api/v1/analytics/campaigns/{seeded.campaign}/export?format=pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    text = _pdf_text(response.content)
    assert "Campaign analytics: Spring outreach" in text and "Sent 450 - delivered 447" in text
    assert "winner A" in text and "Best time to send: Tue 10:00" in text
    workspace = await client_a.get("/api/v1/analytics/workspace/export?format=pdf&from=2026-05-12&to=2026-05-12")
    assert workspace.status_code == 200 and "Sent 200 - delivered 198" in _pdf_text(workspace.content)
    assert (await client_a.get("/api/v1/analytics/workspace/export?format=xls")).status_code == 400
    await signed_in(client_b, tenant_b, email="owner@globex.example.com")
    assert (await client_b.get(f"/api/v1/analytics/campaigns/{seeded.campaign}/export?format=pdf")).status_code == 404
    other = await client_b.get("/api/v1/analytics/workspace/export?format=csv")
    assert "Spring outreach" not in other.text and "Olive" not in other.text

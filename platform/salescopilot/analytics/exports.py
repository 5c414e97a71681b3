"""A report as CSV (every cell a spreadsheet would run as a formula is defused, as the leads and
audit exports do) and as a PDF (fpdf2, its core fonts: text outside Latin-1 is replaced)."""

from __future__ import annotations

import csv
import io
from typing import Any

from salescopilot.audit.export import defuse_formula

COLUMNS = ("section", "name", "sent", "delivered", "opened", "clicked", "replied", "out_of_office", "bounced",
           "unsubscribed", "meetings", "machine_opened", "machine_clicked", "open_rate", "click_rate", "reply_rate")
#: (report key, section label); the workspace adds campaigns and sequences.
SECTIONS = (("byCampaign", "campaign"), ("bySequence", "sequence"), ("byStep", "step"), ("byTemplate", "template"),
            ("bySubject", "subject"), ("byMailbox", "mailbox"), ("byOwner", "owner"), ("byLength", "length"),
            ("byWeekday", "weekday"), ("byHour", "hour"))


def _name(item: dict[str, Any]) -> str:
    for key in ("name", "label", "weekday"):
        if key in item:
            return str(item[key])
    return f"{item['hour']:02d}:00"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _row(section: str, name: str, f: dict[str, Any]) -> list[str]:
    values = [section, name, f["sent"], f["delivered"], f["opened"], f["clicked"], f["replied"],
              f["replies"]["autoReply"], f["bounced"], f["unsubscribed"], f["meetings"], f["machine"]["opened"],
              f["machine"]["clicked"], _rate(f["rates"]["open"]), _rate(f["rates"]["click"]), _rate(f["rates"]["reply"])]
    return [defuse_formula(str(v)) for v in values]


def report_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = [list(COLUMNS), _row("total", "all", report["totals"])]
    for key, section in SECTIONS:
        for item in report.get(key, []):
            rows.append(_row(section, _name(item), item))
    return rows


def report_csv(report: dict[str, Any]) -> str:
    """The report's figures, one row per group, then its A/B tests (variant rows)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(report_rows(report))
    if report.get("abTests"):
        writer.writerow([])
        writer.writerow(["ab_step", "variant", "delivered", "successes", "rate", "metric", "winner", "significant"])
        for test in report["abTests"]:
            for variant in test["variants"]:
                writer.writerow([defuse_formula(str(v)) for v in (
                    test["stepName"], variant["variant"], variant["delivered"], variant["successes"],
                    _rate(variant["rate"]), test["metric"], test["winner"] or "", test["significant"])])
    return buffer.getvalue()


def _latin(text: Any) -> str:
    return str(text).replace("–", "-").encode("latin-1", "replace").decode("latin-1")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


def report_pdf(report: dict[str, Any], *, title: str, subtitle: str) -> bytes:
    """The report as a PDF: totals, a bar chart of reply rate by weekday, the tables, A/B verdicts."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.set_title(_latin(title))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, _latin(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 6, _latin(subtitle), new_x="LMARGIN", new_y="NEXT")
    t = report["totals"]
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(0, 6, _latin(
        f"Sent {t['sent']} - delivered {t['delivered']} - opened {t['opened']} ({_pct(t['rates']['open'])}) - "
        f"clicked {t['clicked']} - replied {t['replied']} ({_pct(t['rates']['reply'])}) - bounced {t['bounced']} - "
        f"unsubscribed {t['unsubscribed']} - meetings {t['meetings']}. Machine opens/clicks (not counted): "
        f"{t['machine']['opened']}/{t['machine']['clicked']}."), new_x="LMARGIN", new_y="NEXT")
    send = report.get("sendTime") or {}
    if send.get("weekday"):
        pdf.cell(0, 6, _latin(f"Best time to send: {send['weekday']} {send['hour']:02d}:00 (lead's time), "
                              f"reply rate {_pct(send['replyRate'])}."), new_x="LMARGIN", new_y="NEXT")
    _weekday_chart(pdf, report.get("byWeekday", []))
    for key, section in SECTIONS:
        items = report.get(key) or []
        if items and key not in ("byHour",):
            _table(pdf, f"By {section}", items)
    for test in report.get("abTests", []):
        verdict = (f"winner {test['winner']}" if test["significant"] else f"no winner yet ({test['reason']})")
        pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin(
            f"A/B step {test['stepNumber']} {test['stepName']}: "
            + ", ".join(f"{v['variant']} {v['successes']}/{v['delivered']} ({_pct(v['rate'])})" for v in test["variants"])
            + f"; {verdict}."), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _weekday_chart(pdf, days: list[dict[str, Any]]) -> None:
    rates = [d["rates"]["reply"] or 0 for d in days]
    top = max(rates, default=0) or 1
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 7, "Reply rate by weekday (lead's local time)", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    x0, y0, height = pdf.get_x(), pdf.get_y(), 30
    for index, day in enumerate(days):
        bar = height * (rates[index] / top)
        x = x0 + index * 22
        pdf.set_fill_color(36, 86, 166)
        if bar:
            pdf.rect(x, y0 + height - bar, 14, bar, style="F")
        pdf.text(x, y0 + height + 4, _latin(f"{day['weekday']} {_pct(day['rates']['reply'])}"))
    pdf.set_y(y0 + height + 8)


def _table(pdf, caption: str, items: list[dict[str, Any]]) -> None:
    headers = ("Name", "Sent", "Delivered", "Opened", "Clicked", "Replied", "Bounced", "Unsub.", "Meetings",
               "Open rate", "Reply rate")
    widths = (80, 18, 20, 18, 18, 18, 18, 16, 18, 22, 22)
    pdf.set_font("Helvetica", "B", 10)
    pdf.cell(0, 8, _latin(caption), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 8)
    for header, width in zip(headers, widths, strict=True):
        pdf.cell(width, 5, header, border=1)
    pdf.ln()
    pdf.set_font("Helvetica", "", 8)
    for item in items[:40]:
        cells = (_name(item)[:48], item["sent"], item["delivered"], item["opened"], item["clicked"], item["replied"],
                 item["bounced"], item["unsubscribed"], item["meetings"], _pct(item["rates"]["open"]),
                 _pct(item["rates"]["reply"]))
        for value, width in zip(cells, widths, strict=True):
            pdf.cell(width, 5, _latin(value), border=1)
        pdf.ln()

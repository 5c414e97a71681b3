"""The checks every page gets: axe-core (no serious or critical violation) at desktop and phone
size, no sideways scrolling on a phone, and a main navigation a thumb can use there."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page

PHONE = {"width": 390, "height": 844}
BLOCKING_IMPACTS = ("serious", "critical")
#: WCAG 2.2 (2.5.8) asks 24 px at least; we hold navigation to that on a phone.
MIN_TARGET_PX = 24

_RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary || ""})),
  }));
}"""

# The document must not scroll sideways, and nothing in <main> may stick out of it (a button
# past the edge of its card is cut off on a real phone even when the page does not scroll).
# Content of scrolling containers (wide tables in .table-wrap) is allowed to be wider.
_OVERFLOW = """() => {
  const width = window.innerWidth;
  const main = document.querySelector("main");
  const edge = main ? main.getBoundingClientRect().right : width;
  const scrolls = el => {
    for (let p = el.parentElement; p && p !== main; p = p.parentElement) {
      if (["auto", "scroll", "hidden"].includes(getComputedStyle(p).overflowX)) return true;
    }
    return false;
  };
  const classes = el => typeof el.className === "string" && el.className.trim()
    ? "." + el.className.trim().split(/\\s+/).join(".") : "";
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + classes(el) +
    (el.textContent.trim() ? ` ("${el.textContent.trim().slice(0, 30)}")` : "");
  const out = main ? [...main.querySelectorAll("*")].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > edge + 1 && !scrolls(el);
  }).slice(0, 5).map(name) : [];
  return {doc: document.documentElement.scrollWidth, width, out};
}"""

# Each link of the main navigation, scrolled into view: is it on screen, big enough, and is it
# what a tap at its centre would hit (not hidden under something else)?
_NAV_PROBLEMS = """(min) => {
  const nav = document.querySelector("nav[aria-label='Main']");
  if (!nav) return null;
  const problems = [];
  const links = [...nav.querySelectorAll("a[href]")];
  for (const link of links) {
    link.scrollIntoView({block: "nearest", inline: "nearest"});
    const r = link.getBoundingClientRect();
    const name = link.textContent.trim();
    if (r.width === 0 || r.height === 0 || getComputedStyle(link).visibility === "hidden") {
      problems.push(name + ": not visible");
      continue;
    }
    if (r.left < -1 || r.right > window.innerWidth + 1) problems.push(name + ": off screen sideways");
    if (r.height < min || r.width < min) {
      problems.push(`${name}: tap target ${Math.round(r.width)}x${Math.round(r.height)} px`);
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(hit === link || link.contains(hit))) {
      problems.push(name + ": covered by " + (hit ? hit.tagName : "nothing"));
    }
  }
  nav.querySelectorAll("*").forEach(el => { el.scrollLeft = 0; });
  window.scrollTo(0, 0);
  return {count: links.length, problems};
}"""


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            summary = " ".join(node["summary"].split())
            lines.append(f"    at {node['target']}: {summary}")
        if len(v["nodes"]) > 8:
            lines.append(f"    ... and {len(v['nodes']) - 8} more")
    return "\n".join(lines)


class PageChecker:
    def __init__(self, axe_source: str, screenshots: Path | None, test_name: str) -> None:
        self.axe_source = axe_source
        self.screenshots = screenshots
        self.test_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.checked: list[str] = []

    def __call__(self, page: Page, name: str, *, navigation: bool = True) -> None:
        """Check the page as it is now, at its current size and then at phone size (restored
        afterwards, without reloading: pages that show something once stay as they are).
        `navigation=False` for pages that have no main navigation (signed out)."""
        page.wait_for_load_state("load")
        self._axe(page, f"{name} (desktop)")
        self._shoot(page, name, "desktop")
        size = page.viewport_size
        page.set_viewport_size(PHONE)
        try:
            self._axe(page, f"{name} (phone)")
            overflow = page.evaluate(_OVERFLOW)
            assert overflow["doc"] <= overflow["width"], (
                f"{name}: the page scrolls sideways on a phone ({overflow['doc']}px wide in a "
                f"{overflow['width']}px viewport); sticking out: {overflow['out']}"
            )
            assert not overflow["out"], f"{name}: on a phone these stick out of the page: {overflow['out']}"
            nav = page.evaluate(_NAV_PROBLEMS, MIN_TARGET_PX)
            if navigation:
                assert nav is not None, f"{name}: no main navigation (nav[aria-label=Main])"
                assert nav["count"] > 0, f"{name}: the main navigation has no links"
                assert not nav["problems"], f"{name}: navigation on a phone: {nav['problems']}"
            self._shoot(page, name, "phone")
        finally:
            page.set_viewport_size(size)
        self.checked.append(name)

    def _axe(self, page: Page, label: str) -> None:
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.add_script_tag(content=self.axe_source)
        violations = page.evaluate(_RUN_AXE)
        blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
        assert not blocking, f"axe-core on {label} ({page.url}):\n{format_violations(blocking)}"

    def _shoot(self, page: Page, name: str, size: str) -> None:
        if self.screenshots is None:
            return
        self.screenshots.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.screenshots / f"{self.test_name}--{slug}--{size}.png"
        page.screenshot(path=str(path), full_page=True)

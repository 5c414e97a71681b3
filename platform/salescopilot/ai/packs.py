"""Industry prompt packs: guidance added to the writing prompts for a tenant's market."""

from __future__ import annotations

PACKS: dict[str, tuple[str, str]] = {
    "saas": ("Software / SaaS", "Readers are busy operators and engineers: lead with a measurable outcome "
             "(time saved, revenue, risk), mention integrations only if DATA shows their stack, no buzzwords."),
    "agency": ("Marketing & agencies", "Readers judge on craft and results: reference their recent work or "
               "clients from DATA, propose one small concrete idea, keep it under 100 words."),
    "manufacturing": ("Manufacturing", "Readers care about uptime, quality, safety and cost per unit: be "
                      "factual, avoid hype, mention certifications or plant size only if given."),
    "financial_services": ("Financial services", "Readers are risk-aware and regulated: no promises of returns, "
                           "no pressure, mention compliance and security plainly, formal tone."),
    "healthcare": ("Healthcare", "Readers are clinicians or administrators: respect their time, never give "
                   "medical claims, mention privacy (HIPAA/GDPR) only as facts from the brief."),
    "recruiting": ("Recruiting & HR", "Readers hire under time pressure: speak of time-to-hire and candidate "
                   "quality, name the roles they are hiring for when DATA lists them."),
    "logistics": ("Logistics & transport", "Readers run tight operations: speak of on-time rates, costs per "
                  "shipment and visibility, short sentences."),
    "real_estate": ("Real estate", "Readers are deal-driven and local: reference their market or listings "
                    "from DATA, one clear next step."),
}


def pack_text(slug: str) -> str:
    if slug in PACKS:
        name, guidance = PACKS[slug]
        return f"Industry guidance ({name}): {guidance}"
    return ""

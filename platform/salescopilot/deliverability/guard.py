"""Automatic pauses of a campaign past its bounce or complaint threshold.

A campaign whose bounce rate passes 3 % or whose complaint rate passes 0.1 % (judged from
`MIN_SENT` messages on) has its waiting messages paused at once; past 0.3 % complaints it is a
hard stop (the same pause, marked so that resuming needs a person who changed something).
Mailboxes have the same thresholds on their own (`MailboxService` circuit breaker), so a bad
mailbox is stopped without the campaign, and a bad list stops the campaign on every mailbox.

Called by the sender after a chunk with bounces, and by inbound after a bounce or complaint
report. The campaign row becomes `paused` (resumed by a person, as after a manual pause).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.outbox.repository import OutboxRepository

BOUNCE_PAUSE = 0.03
COMPLAINT_PAUSE = 0.001
COMPLAINT_HARD_STOP = 0.003
#: Messages sent (or bounced) before rates are judged: 1 bounce in 5 sends is noise.
MIN_SENT = 20


@dataclass(frozen=True, slots=True)
class CampaignPause:
    campaign: uuid.UUID
    kind: str  # "pause" or "hard_stop"
    reason: str
    paused_messages: int


def judge(sent: int, bounced: int, complaints: int) -> tuple[str, str] | None:
    """(kind, reason) when the rates pass a threshold, else None."""
    attempted = sent + bounced
    if attempted < MIN_SENT:
        return None
    bounce_rate = bounced / attempted
    complaint_rate = complaints / max(1, sent)
    if complaint_rate > COMPLAINT_HARD_STOP:
        return "hard_stop", (f"complaint rate {complaint_rate:.2%} is above the hard stop of "
                             f"{COMPLAINT_HARD_STOP:.1%}")
    if complaint_rate > COMPLAINT_PAUSE:
        return "pause", f"complaint rate {complaint_rate:.2%} is above {COMPLAINT_PAUSE:.1%}"
    if bounce_rate > BOUNCE_PAUSE:
        return "pause", f"bounce rate {bounce_rate:.1%} is above {BOUNCE_PAUSE:.0%}"
    return None


class CampaignGuard:
    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.messages = OutboxRepository()

    async def check(self, campaigns: Iterable[uuid.UUID | None]) -> list[CampaignPause]:
        """Pause each of `campaigns` whose rates passed a threshold (in the current tenant
        scope); returns the pauses made now."""
        pauses = []
        for campaign in sorted({c for c in campaigns if c is not None}):
            outcomes = await self.messages.campaign_outcomes(campaign)
            verdict = judge(outcomes["sent"], outcomes["bounced"], outcomes["complaints"])
            if verdict is None:
                continue
            kind, reason = verdict
            label = "hard stop" if kind == "hard_stop" else "paused"
            # The campaign's own status first (a paused campaign enrolls and queues nothing more),
            # as a person's pause does; then its waiting messages.
            from salescopilot.campaigns.repository import CampaignRepository

            campaigns = CampaignRepository()
            row = await campaigns.get(campaign)
            if row is not None and row.status in ("active", "scheduled"):
                await campaigns.change(campaign, {"status": "paused", "updated_at": self.clock.now()})
            paused = await self.messages.set_state_where_campaign(campaign, ("queued", "retry"), {
                "state": "paused", "wait_reason": f"campaign {label} automatically: {reason}"[:500],
                "updated_at": self.clock.now(),
            })
            if paused:
                await AuditService(self.clock).record(
                    f"campaign.auto_{'hard_stopped' if kind == 'hard_stop' else 'paused'}",
                    target_type="campaign", target_id=str(campaign),
                    after={"reason": reason, "paused_messages": paused, **outcomes},
                )
                pauses.append(CampaignPause(campaign, kind, reason, paused))
        return pauses

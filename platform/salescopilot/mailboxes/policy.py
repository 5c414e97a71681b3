"""The tenant's sending policy: its daily quota over all mailboxes."""

from __future__ import annotations

from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.errors import ValidationFailed
from salescopilot.mailboxes.repository import SendingPolicyRepository

#: The largest quota accepted (a typo guard; far above any real sending volume).
MAX_DAILY_QUOTA = 10_000_000


class SendingPolicyService:
    def __init__(self, clock: Clock = system_clock) -> None:
        self.policies = SendingPolicyRepository()
        self.audit = AuditService(clock)

    async def daily_quota(self) -> int | None:
        row = await self.policies.find_one()
        return row.daily_quota if row is not None else None

    async def set_daily_quota(self, quota: int | None) -> int | None:
        """Most messages the tenant may send in any 24 hours over all its mailboxes (None: no
        quota). Checked at every claim, like the mailboxes' own caps."""
        if quota is not None and not 0 <= quota <= MAX_DAILY_QUOTA:
            raise ValidationFailed(f"The daily quota must be between 0 and {MAX_DAILY_QUOTA:,}, or empty.",
                                   details={"daily_quota": quota})
        row = await self.policies.current()
        before = row.daily_quota
        await self.policies.update_where({"daily_quota": quota})
        await self.audit.record("sending_policy.changed", target_type="sending_policy", target_id=str(row.id),
                                before={"daily_quota": before}, after={"daily_quota": quota})
        return quota

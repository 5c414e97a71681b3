"""Background reading of inbound mail: `inbound.sync` reads every mailbox of one tenant;
`inbound.sweep` runs it for every active tenant each minute (polling; the IDLE watcher of
`inbound.watcher` starts a sync the moment a server announces new mail); `inbound.classify_intent`
reads what one stored reply wants (`inbound.intent`)."""

from __future__ import annotations

import uuid

from salescopilot.clock import system_clock
from salescopilot.inbound.sync import InboxSync
from salescopilot.plugin_system.manager import get_plugin_manager
from salescopilot.settings import get_settings
from salescopilot.tasks.tenant_task import enqueue_for_active_tenants, system_task, tenant_task


@tenant_task("inbound.sync", own_transactions=True, max_retries=0)
async def sync(tenant_id: uuid.UUID, mailbox_id: str | None = None) -> int:
    """Read new mail of the tenant's mailboxes (or of one); returns how many messages were stored."""
    only = uuid.UUID(mailbox_id) if mailbox_id else None
    report = await InboxSync(get_settings(), system_clock, plugin_manager=get_plugin_manager()).sync_tenant(
        only=only, force=only is not None
    )
    return report.stored


#: Further tries of an intent reading refused for the moment (rate limit, circuit open), a minute apart.
INTENT_RETRIES = 3


@tenant_task("inbound.classify_intent", own_transactions=True, max_retries=0)
async def classify_intent(tenant_id: uuid.UUID, message_id: str, attempt: int = 0) -> str:
    """Read the intent of one stored reply with the tenant's model (the model is called outside
    any transaction). Failures leave the intent empty and are logged; one refused for the moment
    is tried again a minute later, a few times."""
    from salescopilot.ai.client import CallPolicy, task_model_client
    from salescopilot.ai.service import AiService
    from salescopilot.crypto import SecretBox
    from salescopilot.inbound.intent import ReplyIntents

    settings = get_settings()
    ai = AiService(clock=system_clock, operator=settings.ai, secret_box=SecretBox.from_settings(settings),
                   client=task_model_client(CallPolicy.from_settings(settings.ai)))
    outcome = await ReplyIntents(ai, system_clock).classify_in_background(uuid.UUID(message_id))
    if outcome == "retry" and attempt < INTENT_RETRIES:
        await classify_intent.kicker().with_labels(delay=60).kiq(tenant_id, message_id, attempt + 1)
    return outcome


@system_task("inbound.sweep", cron="* * * * *")
async def sweep() -> int:
    """Every minute, an inbound sync per active tenant."""
    return await enqueue_for_active_tenants(sync)

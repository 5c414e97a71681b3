"""The plugin contract: every hook Sales Copilot calls.

Hooks are declarative and synchronous. Registration hooks run once at start-up and return what
the plugin offers; event hooks run after something happened and may return an awaitable, which
`fire_event` awaits. All I/O lives in the async methods of the objects hooks return.

Hooks are always called with keyword arguments; an implementation may accept any subset of a
hook's arguments. `plugins/README.md` documents each hook with an example (a test checks it).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from salescopilot.plugin_system.markers import hookspec

if TYPE_CHECKING:
    import datetime as dt
    import uuid

    import click

    from salescopilot.actor import Actor
    from salescopilot.plugin_system.interfaces import (
        CrmConnector,
        EnrichmentSource,
        InboundMessage,
        MailProvider,
        TaskDefinition,
        Theme,
    )
    from salescopilot.tenancy.context import TenantRef


# --- Registration: called once at start-up ------------------------------------------------------


@hookspec
def register_mail_providers() -> list[type[MailProvider]]:
    """Return MailProvider subclasses; results are concatenated into the catalogue."""


@hookspec
def register_crm_connectors() -> list[type[CrmConnector]]:
    """Return CrmConnector subclasses; results are concatenated into the catalogue."""


@hookspec
def register_enrichment_sources() -> list[type[EnrichmentSource]]:
    """Return EnrichmentSource subclasses; results are concatenated into the catalogue."""


@hookspec
def register_themes() -> list[type[Theme]]:
    """Return Theme subclasses; results are concatenated into the catalogue."""


@hookspec
def register_routes() -> list[Any]:
    """Return Litestar handlers, controllers or routers to mount; results are concatenated."""


@hookspec
def register_permissions() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Return {permission: (description, default roles)}; results are merged."""


@hookspec
def register_tasks() -> list[TaskDefinition]:
    """Return TaskDefinitions for the broker and scheduler; results are concatenated."""


@hookspec
def register_cli_commands() -> list[click.Command]:
    """Return click commands for `salescopilot`; results are concatenated, built-ins win."""


# --- Events: called after the fact; may return an awaitable -------------------------------------


@hookspec
def on_email_sent(
    tenant: TenantRef,
    outbox_message_id: uuid.UUID,
    lead_id: uuid.UUID | None,
    mailbox_id: uuid.UUID,
    message_id: str,
    sent_at: dt.datetime,
) -> Awaitable[None] | None:
    """After a provider accepted an email: return None or an awaitable; results are collected."""


@hookspec
def on_reply_received(
    tenant: TenantRef,
    lead_id: uuid.UUID | None,
    mailbox_id: uuid.UUID,
    message: InboundMessage,
    in_reply_to: str,
) -> Awaitable[None] | None:
    """After a human reply arrived: return None or an awaitable; results are collected."""


@hookspec
def on_lead_status_changed(
    tenant: TenantRef,
    lead_id: uuid.UUID,
    old_status: str,
    new_status: str,
    actor: Actor,
) -> Awaitable[None] | None:
    """After a lead's status changed: return None or an awaitable; results are collected."""


@hookspec
def on_tenant_created(tenant: TenantRef) -> Awaitable[None] | None:
    """After a new tenant, to all plugins: return None or an awaitable; results are collected."""


REGISTRATION_HOOKS: tuple[str, ...] = (
    "register_mail_providers",
    "register_crm_connectors",
    "register_enrichment_sources",
    "register_themes",
    "register_routes",
    "register_permissions",
    "register_tasks",
    "register_cli_commands",
)

EVENT_HOOKS: tuple[str, ...] = (
    "on_email_sent",
    "on_reply_received",
    "on_lead_status_changed",
    "on_tenant_created",
)

#: Events that reach only the plugins the tenant has enabled (plugins with nothing to configure
#: always run). A new tenant has enabled nothing yet, so `on_tenant_created` reaches every plugin.
TENANT_SCOPED_EVENTS: frozenset[str] = frozenset(EVENT_HOOKS) - {"on_tenant_created"}

"""Sample plugins for the plugin-system tests: a configurable CRM plugin (with secrets) that also
listens to events, and a listener that offers nothing to configure. (A module of its own, not
conftest.py, so tests can import the classes by a name no other folder uses.)"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from salescopilot import hookimpl
from salescopilot.plugin_system.interfaces import (
    ConnectionCheck,
    CrmActivity,
    CrmConnector,
    CrmContact,
    CrmContactPage,
)

API_KEY = "acme-live-key-7f3a9c1e"


class AcmeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(pattern=r"^https://")
    sync_every_minutes: int = Field(default=15, ge=5, le=1440)
    api_key: SecretStr
    webhook_secret: SecretStr | None = None


class AcmeCrm(CrmConnector):
    slug = "acme"
    display_name = "Acme CRM"
    settings_model = AcmeSettings

    async def upsert_contact(self, contact: CrmContact) -> str:
        return f"acme-{contact.email}"

    async def log_activity(self, activity: CrmActivity) -> str:
        return "activity-1"

    async def fetch_contacts(self, cursor: str | None, *, limit: int = 100) -> CrmContactPage:
        return CrmContactPage(contacts=[], next_cursor=None)

    async def check_connection(self) -> ConnectionCheck:
        return ConnectionCheck(ok=True, message="connected")


class AcmeCrmPlugin:
    """Configurable: offers AcmeCrm, so its event hooks run only where a tenant enabled it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def register_crm_connectors(self):
        return [AcmeCrm]

    @hookimpl
    def on_email_sent(self, tenant, message_id):
        async def record():
            self.calls.append((tenant.slug, message_id))
            return ("acme", message_id)

        return record()

    @hookimpl
    def on_tenant_created(self, tenant):
        self.calls.append((tenant.slug, "created"))


class EventListenerPlugin:
    """Offers nothing to configure: its event hooks run for every tenant."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def on_email_sent(self, tenant, message_id):
        self.calls.append((tenant.slug, message_id))
        return "listener"

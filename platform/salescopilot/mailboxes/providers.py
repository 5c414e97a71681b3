"""One provider instance per mailbox per process, reused across sends so a provider can keep its
connection pooled (an SMTP session, an OAuth token). An instance is renewed when the mailbox's
settings change (`settings_version`) and closed when the process stops."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import structlog

from salescopilot.crypto import SecretBox
from salescopilot.errors import DomainError
from salescopilot.plugin_system.errors import PluginNotFound
from salescopilot.plugin_system.interfaces import MailProvider
from salescopilot.plugin_system.registry import PluginKind, get_catalogue
from salescopilot.plugin_system.sealing import open_settings
from salescopilot.plugin_system.service import default_service

log = structlog.get_logger(__name__)


class ProviderUnavailable(DomainError):
    code = "MAIL_PROVIDER_UNAVAILABLE"
    status_code = 409
    default_message = "The mailbox's mail provider is not installed."


def provider_class(slug: str) -> type[MailProvider]:
    try:
        entry = get_catalogue().get(PluginKind.MAIL_PROVIDER.value, slug)
    except PluginNotFound:
        raise ProviderUnavailable(f"No mail provider {slug!r} is installed.") from None
    return entry.plugin_class  # type: ignore[return-value]


class ProviderInstances:
    def __init__(self) -> None:
        self._instances: dict[tuple[uuid.UUID, uuid.UUID], tuple[int, MailProvider]] = {}
        self._lock = asyncio.Lock()

    async def for_mailbox(self, mailbox: Any, box: SecretBox) -> MailProvider:
        """The provider of the stored `mailbox` row, built from its decrypted account settings
        and the tenant's settings of the plugin. Must run inside the mailbox's tenant scope."""
        key = (mailbox.tenant, mailbox.id)
        async with self._lock:
            cached = self._instances.get(key)
            if cached is not None and cached[0] == mailbox.settings_version:
                return cached[1]
            if cached is not None:
                await _close(cached[1])
            cls = provider_class(mailbox.provider)
            account = open_settings(
                cls.account_model, _public(mailbox.account), mailbox.secrets, box,
                subject=f"mailbox {mailbox.email}",
            )
            settings = await default_service().load_settings(PluginKind.MAIL_PROVIDER.value, cls.slug)
            instance = cls(settings, account)
            self._instances[key] = (mailbox.settings_version, instance)
            return instance

    async def forget(self, tenant: uuid.UUID, mailbox: uuid.UUID) -> None:
        async with self._lock:
            cached = self._instances.pop((tenant, mailbox), None)
        if cached is not None:
            await _close(cached[1])

    async def close_all(self) -> None:
        async with self._lock:
            instances, self._instances = list(self._instances.values()), {}
        for _, instance in instances:
            await _close(instance)


def _public(value: Any) -> dict:
    from salescopilot.db.json_column import json_dict

    return json_dict(value)


async def _close(instance: MailProvider) -> None:
    try:
        await instance.close()
    except Exception as error:  # noqa: BLE001 - a failing close must not stop the others
        log.warning("mail_provider_close_failed", error=repr(error))


#: The process's instances (the web process and each worker have their own).
provider_instances = ProviderInstances()

"""The `salescopilot` command. Each domain contributes a click group from its own `cli.py`;
plugins add commands through the `register_cli_commands` hook."""

from __future__ import annotations

import importlib

import click

#: (module, attribute) of each built-in command or group, imported lazily so `--help` stays fast
#: and a broken optional module does not take the whole CLI down.
BUILTIN_COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("salescopilot.web.cli", "serve"),
    "settings": ("salescopilot.web.cli", "show_settings"),
    "db": ("salescopilot.db.cli", "db"),
    "tenants": ("salescopilot.tenancy.cli", "tenants"),
    "users": ("salescopilot.accounts.cli", "users"),
    "audit": ("salescopilot.audit.cli", "audit"),
    "plugins": ("salescopilot.plugin_system.cli", "plugins"),
    "mail": ("salescopilot.mail.cli", "mail"),
    "worker": ("salescopilot.tasks.cli", "worker"),
    "scheduler": ("salescopilot.tasks.cli", "scheduler"),
    "outbox": ("salescopilot.outbox.cli", "outbox"),
    "mailboxes": ("salescopilot.mailboxes.cli", "mailboxes"),
    "campaigns": ("salescopilot.campaigns.cli", "campaigns"),
    "analytics": ("salescopilot.analytics.cli", "analytics"),
}


class SalesCopilotCLI(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(BUILTIN_COMMANDS) | set(_plugin_commands()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in BUILTIN_COMMANDS:
            module, attribute = BUILTIN_COMMANDS[name]
            return getattr(importlib.import_module(module), attribute)
        return _plugin_commands().get(name)


def _plugin_commands() -> dict[str, click.Command]:
    from salescopilot.plugin_system.manager import get_plugin_manager

    commands: dict[str, click.Command] = {}
    for contributed in get_plugin_manager().hook.register_cli_commands():
        for command in contributed or []:
            if command.name not in BUILTIN_COMMANDS:
                commands[command.name] = command
    return commands


@click.group(cls=SalesCopilotCLI)
@click.version_option(package_name="salescopilot")
def main() -> None:
    """Sales Copilot: multi-tenant AI sales-email platform."""

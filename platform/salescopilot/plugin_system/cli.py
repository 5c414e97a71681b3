"""`salescopilot plugins ...`: what is installed and what it offers."""

from __future__ import annotations

import json

import click

from salescopilot.plugin_system.errors import PluginLoadError
from salescopilot.plugin_system.manager import SalesCopilotPluginManager, get_plugin_manager
from salescopilot.plugin_system.registry import PluginKind, catalogue_for


@click.group()
def plugins() -> None:
    """Installed plugins and the plugin catalogue."""


def describe(pm: SalesCopilotPluginManager) -> dict:
    """Installed plugins (name, source, hooks) and catalogue entries by kind, as plain data."""
    installed, blocked = [], []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:  # pluggy's mark for a blocked name
            blocked.append(name)
            continue
        source = pm.sources.get(name)
        installed.append(
            {
                "name": name,
                "origin": source.origin if source else "extra",
                "module": source.value if source else name,
                "distribution": source.distribution if source else None,
                "version": source.version if source else None,
                "hooks": sorted(caller.name for caller in pm.get_hookcallers(plugin) or ()),
            }
        )
    catalogue = catalogue_for(pm)
    return {
        "plugins": installed,
        "blocked": blocked,
        "catalogue": {
            kind.value: [
                {"slug": e.slug, "display_name": e.display_name, "plugin": e.plugin_name}
                for e in catalogue.entries(kind.value)
            ]
            for kind in PluginKind
        },
    }


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def list_plugins(as_json: bool) -> None:
    """List installed plugins and the catalogue entries they offer."""
    try:
        data = describe(get_plugin_manager())
    except PluginLoadError as error:
        raise click.ClickException(error.message) from error
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo("Installed plugins:")
    if not data["plugins"]:
        click.echo("  (none)")
    for plugin in data["plugins"]:
        origin = (
            f"{plugin['distribution']} {plugin['version']}"
            if plugin["distribution"]
            else plugin["origin"]
        )
        click.echo(f"  {plugin['name']}  [{origin}]  {plugin['module']}")
        click.echo(f"    hooks: {', '.join(plugin['hooks']) or '(none)'}")
    if data["blocked"]:
        click.echo(f"Blocked: {', '.join(data['blocked'])}")
    click.echo("Catalogue:")
    for kind, entries in data["catalogue"].items():
        click.echo(f"  {kind}:")
        if not entries:
            click.echo("    (none)")
        for entry in entries:
            click.echo(f"    {entry['slug']}  {entry['display_name']}  (plugin {entry['plugin']})")

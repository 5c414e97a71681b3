"""Roles and named permissions. A route declares the permission it needs; a role grants a set.

Plugins add permissions through the `register_permissions` hook; `PermissionCatalogue` merges them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES: tuple[str, ...] = ("owner", "admin", "member", "viewer")

#: Marks a route anyone may call (the default-deny guard lets it through).
PUBLIC = "public"

#: Core permissions: name -> (description, roles granted by default).
CORE_PERMISSIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dashboard.view": ("See the dashboard", ("owner", "admin", "member", "viewer")),
    "account.manage_own": ("Manage your own profile and two-factor", ("owner", "admin", "member", "viewer")),
    "team.view": ("See the team", ("owner", "admin", "member", "viewer")),
    "team.manage": ("Invite members, change roles, remove members", ("owner", "admin")),
    "api_keys.view": ("See API keys", ("owner", "admin")),
    "api_keys.manage": ("Create and revoke API keys", ("owner", "admin")),
    "audit.view": ("Read and export the audit log", ("owner", "admin")),
    "plugins.view": ("See plugin configuration", ("owner", "admin")),
    "plugins.manage": ("Configure plugins and their secrets", ("owner", "admin")),
    "tenant.manage": ("Change tenant settings and branding", ("owner",)),
    "mailcatcher.read": ("Read the messages the embedded mail catcher received", ("owner", "admin")),
    "mailboxes.view": ("See sending mailboxes, their limits and health", ("owner", "admin", "member", "viewer")),
    "mailboxes.manage": ("Connect, change, pause and remove sending mailboxes", ("owner", "admin")),
    "outbox.view": ("See queued, sent and failed messages and the send plan", ("owner", "admin", "member", "viewer")),
    "outbox.manage": ("Retry or cancel failed and uncertain messages", ("owner", "admin")),
    "sso.manage": ("Configure single sign-on and SCIM provisioning", ("owner",)),
    # Held only by SCIM bearer tokens (owners hold every permission, but /scim/v2 accepts no
    # session: see the request pipeline).
    "scim.provision": ("Provision users and groups over SCIM", ()),
    "leads.read": ("See leads, lists and imports", ("owner", "admin", "member", "viewer")),
    "leads.write": ("Add, edit, import, tag and delete leads", ("owner", "admin", "member")),
    "leads.export": ("Export leads to CSV", ("owner", "admin", "member")),
    "leads.erase": ("Erase a lead's personal data (GDPR)", ("owner", "admin")),
    "suppressions.read": ("See the suppression list", ("owner", "admin", "member", "viewer")),
    "suppressions.write": ("Add addresses and domains to the suppression list", ("owner", "admin", "member")),
    "suppressions.remove": ("Remove entries from the suppression list", ("owner", "admin")),
    "inbox.read": ("See replies, bounces and other inbound mail in the inbox", ("owner", "admin", "member", "viewer")),
    "inbox.manage": ("Correct classifications, sync mailboxes and change inbound rules", ("owner", "admin", "member")),
    "templates.read": ("See email templates", ("owner", "admin", "member", "viewer")),
    "templates.write": ("Write, edit and delete email templates", ("owner", "admin", "member")),
    "sequences.read": ("See sequences and their versions", ("owner", "admin", "member", "viewer")),
    "sequences.write": ("Build, edit and delete sequences", ("owner", "admin", "member")),
    "campaigns.read": ("See campaigns, their leads' timelines and dry runs", ("owner", "admin", "member", "viewer")),
    "campaigns.write": ("Create, launch, pause, resume and archive campaigns", ("owner", "admin", "member")),
    "composer.read": ("See emails written in the composer and their drafts", ("owner", "admin", "member", "viewer")),
    "composer.send": ("Write, schedule and send one-off emails to leads", ("owner", "admin", "member")),
    "tracking.view": ("See opens, clicks and unsubscribes and the tracking settings", ("owner", "admin", "member", "viewer")),
    "tracking.manage": ("Switch open and click tracking and set the tracking domain", ("owner", "admin")),
    "analytics.read": ("See analytics: campaign dashboards, the workspace overview, team views and exports", ("owner", "admin", "member", "viewer")),
    "webhooks.view": ("See webhook endpoints, their delivery log and dead letters", ("owner", "admin")),
    "webhooks.manage": ("Add, change and remove webhook endpoints; replay deliveries", ("owner", "admin")),
    "deliverability.use": ("Verify addresses, check drafts for spam and see domain health", ("owner", "admin", "member")),
    "ai.use": ("Use the AI copilot (writing, checks, reply reading)", ("owner", "admin", "member")),
    "ai.manage": ("Configure the AI provider, budget and style guide; see AI usage", ("owner", "admin")),
}


@dataclass
class PermissionCatalogue:
    descriptions: dict[str, str] = field(default_factory=dict)
    grants: dict[str, set[str]] = field(default_factory=lambda: {r: set() for r in ROLES})

    def add(self, name: str, description: str, roles: tuple[str, ...] | list[str]) -> None:
        if name == PUBLIC or not name or " " in name:
            raise ValueError(f"invalid permission name: {name!r}")
        if name in self.descriptions:
            raise ValueError(f"permission {name!r} is registered twice")
        unknown = set(roles) - set(ROLES)
        if unknown:
            raise ValueError(f"permission {name!r} names unknown roles: {sorted(unknown)}")
        self.descriptions[name] = description
        for role in roles:
            self.grants[role].add(name)
        # The owner can always do everything.
        self.grants["owner"].add(name)

    def for_role(self, role: str) -> frozenset[str]:
        return frozenset(self.grants.get(role, ()))

    def known(self, name: str) -> bool:
        return name == PUBLIC or name in self.descriptions


def build_catalogue(plugin_permissions: list[dict] | None = None) -> PermissionCatalogue:
    """The core permissions plus those plugins register (each a dict name -> (description, roles))."""
    catalogue = PermissionCatalogue()
    for name, (description, roles) in CORE_PERMISSIONS.items():
        catalogue.add(name, description, roles)
    for contributed in plugin_permissions or []:
        for name, (description, roles) in (contributed or {}).items():
            catalogue.add(name, description, roles)
    return catalogue


def can_assign(actor_role: str, target_role: str) -> bool:
    """Admins manage members and viewers and other admins; only owners grant or take away owner."""
    if target_role not in ROLES:
        return False
    if target_role == "owner":
        return actor_role == "owner"
    return actor_role in ("owner", "admin")

"""Who is acting, from where: set by the web middleware per request, by tasks and by the CLI.

The audit log reads it so services need not pass request details around.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Actor:
    #: "user", "api_key", "scim_token", "system" or "anonymous".
    kind: str
    id: str | None = None
    #: A human-readable name for the console (email, key name, "cli").
    label: str = ""
    ip: str | None = None
    user_agent: str | None = None
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)


SYSTEM = Actor(kind="system", label="system")

_current_actor: ContextVar[Actor] = ContextVar("salescopilot_actor", default=SYSTEM)


def current_actor() -> Actor:
    return _current_actor.get()


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    token = _current_actor.set(actor)
    try:
        yield actor
    finally:
        _current_actor.reset(token)


def with_identity(kind: str, id: str | None, label: str) -> Actor:
    """The current actor, now identified (after sign-in or API-key check), same request."""
    actor = replace(current_actor(), kind=kind, id=id, label=label)
    _current_actor.set(actor)
    return actor

"""Who a request acts as inside a tenant, and what they may do there."""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    #: The user; for an API key, the user who created it (None if that user is gone).
    user_id: uuid.UUID | None
    label: str
    role: str
    permissions: frozenset[str]
    #: "session" or "api_key".
    via: str
    api_key_id: uuid.UUID | None = None
    #: The session's CSRF token (sessions only).
    csrf_token: str | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions

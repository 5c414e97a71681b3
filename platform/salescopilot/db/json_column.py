"""Piccolo returns a JSON column as text from `objects()` and from some drivers; rules want a dict."""

from __future__ import annotations

import json
from typing import Any


def json_dict(value: Any) -> dict[str, Any]:
    """The stored JSON object as a dict (empty for NULL/empty)."""
    if isinstance(value, str):
        return json.loads(value) if value else {}
    return dict(value or {})

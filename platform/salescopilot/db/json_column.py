"""Piccolo returns a JSON column as text from `objects()` and from some drivers; rules want a dict."""

from __future__ import annotations

import json
from typing import Any


def json_dict(value: Any) -> dict[str, Any]:
    """The stored JSON object as a dict (empty for NULL/empty)."""
    if isinstance(value, str):
        # "{}" is what most rows hold (no custom fields): no parse for it.
        return json.loads(value) if value and value != "{}" else {}
    return dict(value or {})


def json_list(value: Any) -> list[Any]:
    """A JSON column's list value, whether the driver returned it parsed or as text."""
    if isinstance(value, (str, bytes)):
        value = json.loads(value) if value else []
    return list(value) if isinstance(value, list) else []

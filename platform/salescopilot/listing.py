"""List queries and pages: the API's pagination, filtering and sorting, independent of HTTP."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")

MAX_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ListQuery:
    page: int = 1
    limit: int = 20
    #: Equality filters, already validated against the resource's allowed filter fields.
    filters: dict[str, Any] = field(default_factory=dict)
    sort: str | None = None
    descending: bool = False

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    query: ListQuery

    def envelope(self, data: list[Any] | None = None) -> dict[str, Any]:
        """The API's list envelope: `{"data": [...], "pagination": {...}}`."""
        return {
            "data": self.items if data is None else data,
            "pagination": {
                "page": self.query.page,
                "limit": self.query.limit,
                "total": self.total,
                "totalPages": math.ceil(self.total / self.query.limit) if self.total else 0,
            },
        }

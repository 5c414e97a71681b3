"""Query parameters shared by list endpoints: `?page=&limit=&sort=&order=`, and the
`Idempotency-Key` header. Declared as a Litestar dependency so they appear in the OpenAPI schema."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from litestar.params import Parameter

from salescopilot.errors import ValidationFailed
from salescopilot.listing import MAX_LIMIT, ListQuery


@dataclass(frozen=True, slots=True)
class ListParams:
    page: int
    limit: int
    sort: str | None
    order: Literal["asc", "desc"]

    def query(self, *, sortable: tuple[str, ...], filters: dict[str, Any] | None = None) -> ListQuery:
        if self.sort is not None and self.sort not in sortable:
            raise ValidationFailed(
                f"Cannot sort by {self.sort!r}.", details={"field": "sort", "allowed": list(sortable)}
            )
        return ListQuery(
            page=self.page,
            limit=self.limit,
            filters={k: v for k, v in (filters or {}).items() if v is not None},
            sort=self.sort,
            descending=self.order == "desc",
        )


async def provide_list_params(
    page: int = Parameter(query="page", ge=1, le=1_000_000, default=1, description="Page number, from 1."),
    limit: int = Parameter(query="limit", ge=1, le=MAX_LIMIT, default=20, description="Rows per page."),
    sort: str | None = Parameter(query="sort", default=None, max_length=64, description="Column to sort by."),
    order: Literal["asc", "desc"] = Parameter(query="order", default="desc", description="Sort direction."),
) -> ListParams:
    return ListParams(page=page, limit=limit, sort=sort, order=order)

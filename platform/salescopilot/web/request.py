"""The app's request class: a body that cannot be parsed is the client's error (400), whatever
way the parser fails.

Litestar turns the JSON decoder's own errors into 400, but invalid UTF-8 surfaces as
`UnicodeDecodeError` and very deep nesting as `RecursionError`, which would otherwise answer 500.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException

_UNPARSEABLE = (UnicodeDecodeError, RecursionError)


class AppRequest(Request):
    async def json(self) -> Any:
        try:
            return await super().json()
        except _UNPARSEABLE as error:
            raise ClientException(
                f"The request body is not valid JSON: {type(error).__name__}."
            ) from error

    async def form(self) -> FormMultiDict:
        try:
            return await super().form()
        except _UNPARSEABLE as error:
            raise ClientException(
                f"The form data cannot be read: {type(error).__name__}."
            ) from error

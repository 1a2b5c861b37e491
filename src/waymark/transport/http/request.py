"""The request class of the app: Litestar's, with JSON bodies decoded by `kernel.decoding`.

Every route that takes a JSON body (`data: JSONBody[...]`) reads it through `json()` below,
so all of them refuse the same inputs the same way: invalid UTF-8, broken syntax and nesting
past `decoding.MAX_NESTING` are 400 `malformed-body`, never a 500 or Litestar's generic 400.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.types import Empty

from waymark.kernel import decoding


class WaymarkRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        if self._json is Empty:
            state = self._connection_state
            if state.json is Empty:
                state.json = decoding.decode(await self.body() or b"null", "json")
            self._json = state.json
        return self._json

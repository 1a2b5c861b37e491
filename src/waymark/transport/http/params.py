"""Query and path parameters shared by the routers.

Integers in a URL are bounded to what both databases store (64-bit signed): an unbounded
`int` let `?before=9223372036854775808` through to the driver, which failed with a 500.
Every integer parameter is declared with `int64()`, and a test checks the OpenAPI schema
for integers without these bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar.params import ParameterKwarg, QueryParameter

from waymark.kernel.pagination import MAX_LIMIT

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


def int64(
    kind: Callable[..., ParameterKwarg] = QueryParameter,
    *,
    ge: int = INT64_MIN,
    le: int = INT64_MAX,
    **details: Any,
) -> ParameterKwarg:
    """An integer parameter's bounds (`kind`: QueryParameter or PathParameter), always within
    int64: out of range is a 422 `validation-failed`, never a value the database refuses."""
    if not INT64_MIN <= ge <= le <= INT64_MAX:
        raise ValueError(f"bounds [{ge}, {le}] must lie within int64")
    return kind(ge=ge, le=le, **details)


PageLimit = Annotated[int, int64(ge=1, le=MAX_LIMIT, description=f"Page size, 1..{MAX_LIMIT}.")]

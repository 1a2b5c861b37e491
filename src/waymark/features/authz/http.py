"""`GET /api/v1/authz/matrix`: the roles and what each may do, drawn from the tables the
policy (`kernel.authz`) enforces, so what users are shown is what the code does."""

from __future__ import annotations

from litestar import Response, get

from waymark.kernel.authz import Matrix, matrix
from waymark.transport.http.router import Router


def authz_routes() -> Router:
    answer = matrix()

    @get(
        "/matrix",
        summary="Roles and their permissions",
        operation_id="authzMatrix",
        description=(
            "Platform roles (learner, editor, admin) and team roles (member, manager, admin, "
            "owner), each with the actions it allows, and the attribute rules that roles alone "
            "cannot say. Public: it is the same table as `docs/permissions.md`."
        ),
    )
    async def authz_matrix() -> Response[Matrix]:
        return Response(answer, headers={"cache-control": "public, max-age=300"})

    return Router("/api/v1/authz", route_handlers=[authz_matrix], tags=["authorization"])

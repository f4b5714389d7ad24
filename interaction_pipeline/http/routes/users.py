"""Forgetting a user (GDPR) over HTTP: every row in ClickHouse and their Redis history.

    DELETE /v1/retrievers/users/{user_id}       forget a user: ClickHouse rows + Redis history

The work itself is `interaction_pipeline.users.forget_user`, above both stores.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Path

from interaction_pipeline.http.models import DeletionResult
from interaction_pipeline.users import RedisDeleter, forget_user
from schemas.events import Identifier
from schemas.privacy import UserIdHasher
from sinks import ClickHouseBackend
from stream_processors.keys import RedisKeys

_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    422: {"description": "An argument is invalid; `detail` names it."},
    503: {"description": "ClickHouse is busy or does not answer; retry."},
}


def users_router(
    backend: ClickHouseBackend,
    *,
    hasher: UserIdHasher,
    redis_client: RedisDeleter | None = None,
    redis_keys: RedisKeys | None = None,
) -> APIRouter:
    """Routes over both stores; `redis_client`/`redis_keys` let forget-user clear history."""
    router = APIRouter(tags=["users"], responses=_ERRORS)

    @router.delete(
        "/v1/retrievers/users/{user_id:path}",
        response_model=DeletionResult,
        summary="Forget a user (GDPR): every row in ClickHouse and their Redis history",
    )
    def forget(user_id: Annotated[Identifier, Path()]) -> DeletionResult:
        """Popularity counts are aggregates without user ids and stay. Answers 200 with
        zero counts when nothing of the user was stored (deleting is idempotent)."""
        report = forget_user(
            backend, user_id, hasher=hasher, redis=redis_client, redis_keys=redis_keys
        )
        return DeletionResult.model_validate(report.to_json())

    return router

"""HTTP routes over the query API and GDPR deletion (the seed's GET and DELETE).

    GET    /v1/retrievers/interactions          list, newest first (filters, page, cursor)
    GET    /v1/retrievers/interactions/{id}     one interaction by event_id
    DELETE /v1/retrievers/interactions/{id}     the seed's GDPR delete of one interaction

Mounted by `interactions serve`. With chDB the backend is opened with `hold=False`: each
request opens the folder, runs, and lets go (~30 ms), so the sink in its own process gets the
folder between requests and the other way round (chDB lets one process use a folder at a time;
see sinks/_chdb.py). A request that cannot get the folder within CHDB_LOCK_TIMEOUT_S answers
503, as does a ClickHouse server that does not answer.

Events reach ClickHouse through the sink, a second or so after Kafka acknowledged them: a GET
or DELETE right after a POST may not see the event yet (DELETE answers 404 then; retry).
"""

from __future__ import annotations

from typing import Annotated, Any, Final
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from interaction_pipeline.http.models import DeletionResult
from interaction_pipeline.linked_ids import linked_anonymous_ids
from schemas.events import Identifier, TypeName
from schemas.privacy import UserIdHasher
from sinks import (
    MAX_PAGE_SIZE,
    ClickHouseBackend,
    InteractionFilter,
    InteractionQueries,
    StoredInteraction,
    delete_interaction,
)
from stream_processors.identity import IdentityLinks

_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    422: {"description": "An argument is invalid; `detail` names it."},
    503: {"description": "ClickHouse is busy or does not answer; retry."},
}


class InteractionList(BaseModel):
    items: list[StoredInteraction] = Field(description="Newest first.")
    page: int | None = Field(description="The page asked for (offset paging), if any.")
    page_size: int
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null when this page was the last."
    )


def interactions_router(
    backend: ClickHouseBackend, *, hasher: UserIdHasher, links: IdentityLinks
) -> APIRouter:
    """Routes over `backend`; user ids in filters are hashed as producers hash them, and a
    user's rows include those of the anonymous ids `links` ties to them (identify)."""
    router = APIRouter(tags=["stored interactions"], responses=_ERRORS)
    queries = InteractionQueries(backend, hasher=hasher)

    @router.get(
        "/v1/retrievers/interactions",
        response_model=InteractionList,
        summary="List interactions: by feature, user, type and age, paged",
    )
    def list_interactions(
        feature_id: Annotated[Identifier | None, Query(examples=["doc_xyz789"])] = None,
        user_id: Annotated[
            Identifier | None,
            Query(
                description="Hashed here first when USER_ID_HMAC_KEY is set.",
                examples=["user_123"],
            ),
        ] = None,
        session_id: Annotated[Identifier | None, Query()] = None,
        retriever_id: Annotated[Identifier | None, Query()] = None,
        interaction_type: Annotated[
            list[TypeName] | None,
            Query(description="Any of these types; repeat the parameter.", examples=["purchase"]),
        ] = None,
        days: Annotated[
            int | None, Query(ge=1, le=3650, description="Only the last N days.")
        ] = None,
        limit: Annotated[
            int | None,
            Query(ge=1, le=MAX_PAGE_SIZE, description="The first N rows (the seed's limit)."),
        ] = None,
        page: Annotated[
            int | None, Query(ge=1, description="1-based page (offset paging).")
        ] = None,
        page_size: Annotated[int | None, Query(ge=1, le=MAX_PAGE_SIZE)] = None,
        cursor: Annotated[
            str | None,
            Query(max_length=512, description="`next_cursor` of the previous page (stable)."),
        ] = None,
        linked: Annotated[
            bool | None,
            Query(
                description="With user_id, the rows of the anonymous ids linked to the user "
                "(identify) too. Unset: when Redis answers; true: always (503 when Redis does "
                "not answer); false: only rows carrying the user id."
            ),
        ] = None,
    ) -> InteractionList:
        """The seed's `?feature_id=`, `?user_id=&limit=50`, `?interaction_type=&days=` and
        `?page=&page_size=` (up to 1,000); `cursor` pages stably while new events arrive."""
        stored_user = None if user_id is None else hasher(user_id)
        flt = InteractionFilter(
            feature_id=feature_id,
            user_id=user_id,
            anonymous_ids=linked_anonymous_ids(links, stored_user, linked),
            session_id=session_id,
            retriever_id=retriever_id,
            interaction_type=interaction_type or [],
            days=days,
        )
        result = queries.list(flt, limit=limit, page=page, page_size=page_size, cursor=cursor)
        return InteractionList.model_validate(result.to_json())

    @router.get(
        "/v1/retrievers/interactions/{interaction_id}",
        response_model=StoredInteraction,
        summary="One interaction by its event_id",
        responses={404: {"description": "No such interaction (yet)."}},
    )
    def get_interaction(interaction_id: UUID) -> StoredInteraction:
        found = queries.get(interaction_id)
        if found is None:
            raise HTTPException(404, detail=f"interaction {interaction_id} not found")
        return StoredInteraction.model_validate(found)

    @router.delete(
        "/v1/retrievers/interactions/{interaction_id}",
        response_model=DeletionResult,
        summary="Delete one interaction (GDPR), by its event_id",
        responses={404: {"description": "No such interaction (yet); nothing deleted."}},
    )
    def delete_one(interaction_id: UUID) -> DeletionResult:
        report = delete_interaction(backend, interaction_id)
        if report.rows_total == 0:
            raise HTTPException(404, detail=f"interaction {interaction_id} not found")
        return DeletionResult.model_validate(report.to_json())

    return router

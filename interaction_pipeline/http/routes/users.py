"""Forgetting users (GDPR) and linking identities over HTTP.

    DELETE /v1/retrievers/users/{user_id}          forget a user (optionally ?since=&until=)
    POST   /v1/retrievers/users/{user_id}/identify link an anonymous id to the user
    DELETE /v1/retrievers/interactions?since=&until=   purge everyone's events in a range
    GET    /v1/retrievers/deletions/{job_id}       a deletion's state and receipt

A deletion is a job (`interaction_pipeline.erasure`): the DELETE waits for it up to
`ERASURE_REQUEST_WAIT_S` and answers 200 with what was removed (the seed-era fields plus
`job_id`), or 202 with the job id while it still waits for consumers; the receipt is read with
GET .../deletions/{job_id}.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Path, Query, Response
from fastapi.responses import JSONResponse

from interaction_pipeline.erasure import DeletionJob, Erasure, ErasureOutcome
from schemas.errors import NotFoundError
from schemas.events import Identifier
from schemas.privacy import UserIdHasher
from stream_processors.identity import IdentityLinks

_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    422: {"description": "An argument is invalid; `detail` names it."},
    503: {"description": "ClickHouse or Redis is busy or does not answer; retry."},
}


class _Run:
    """One deletion running in a thread, so the request can stop waiting and answer 202."""

    def __init__(self) -> None:
        self.created = threading.Event()
        self.finished = threading.Event()
        self.job: DeletionJob | None = None
        self.outcome: ErasureOutcome | None = None
        self.error: BaseException | None = None

    def on_created(self, job: DeletionJob) -> None:
        self.job = job
        self.created.set()

    def start(self, work: Any) -> None:
        def target() -> None:
            try:
                self.outcome = work(self.on_created)
            except BaseException as exc:
                self.error = exc
            finally:
                self.created.set()
                self.finished.set()

        threading.Thread(target=target, name="erasure", daemon=True).start()

    def answer(self, wait_s: float) -> Response:
        self.finished.wait(wait_s)
        if self.outcome is not None:
            return JSONResponse(self.outcome.to_json())
        if self.error is not None and (self.job is None or self.finished.is_set()):
            raise self.error
        self.created.wait()
        assert self.job is not None
        return JSONResponse({"job_id": self.job.job_id, "state": self.job.state}, status_code=202)


def users_router(
    erasure: Erasure, *, hasher: UserIdHasher, links: IdentityLinks, wait_s: float
) -> APIRouter:
    """Routes over both stores; deletions run as jobs (`interaction_pipeline.erasure`)."""
    router = APIRouter(tags=["users"], responses=_ERRORS)

    @router.delete(
        "/v1/retrievers/users/{user_id:path}",
        summary="Forget a user (GDPR): rows, history, counts; events in flight are suppressed",
        responses={202: {"description": "Still running: `job_id`, `state`."}},
    )
    def forget(
        user_id: Annotated[Identifier, Path()],
        since: Annotated[datetime | None, Query(description="Only events at or after.")] = None,
        until: Annotated[datetime | None, Query(description="Only events at or before.")] = None,
    ) -> Response:
        """Answers 200 with zero counts when nothing of the user was stored (idempotent)."""
        run = _Run()
        run.start(
            lambda created: erasure.forget_user(
                user_id, since=since, until=until, on_created=created
            )
        )
        return run.answer(wait_s)

    @router.delete(
        "/v1/retrievers/interactions",
        summary="Purge everyone's events in a time range (PII sent by mistake)",
        responses={202: {"description": "Still running: `job_id`, `state`."}},
    )
    def purge(
        since: Annotated[datetime, Query(description="First event time to delete.")],
        until: Annotated[datetime, Query(description="Last event time to delete.")],
    ) -> Response:
        run = _Run()
        run.start(lambda created: erasure.purge(since, until, on_created=created))
        return run.answer(wait_s)

    @router.get(
        "/v1/retrievers/deletions/{job_id}",
        summary="A deletion's state and what it removed per store",
    )
    def deletion(job_id: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        receipt = erasure.receipt(job_id)
        if receipt is None:
            raise NotFoundError(f"job_id: no deletion {job_id!r}")
        return receipt

    @router.post(
        "/v1/retrievers/users/{user_id:path}/identify",
        summary="Link an anonymous id (before login) to the user",
    )
    def identify(
        user_id: Annotated[Identifier, Path()],
        anonymous_id: Annotated[Identifier, Body(embed=True)],
    ) -> dict[str, Any]:
        """History, stored interactions and erasure of the user then include what the
        anonymous id did. Ids are hashed as producers hash them."""
        moved = links.identify(hasher(anonymous_id), hasher(user_id))
        return {"linked": True, "moved_from_another_user": moved is not None}

    return router


__all__ = ["users_router"]

"""The console's routes: four pages, their static files, and the JSON they draw from.

    GET /console                      -> /console/events
    GET /console/{events,relevance,popularity,experiments}   the pages (no data in them)
    GET /console/static/{file}        scripts, styles, the vendored chart library
    GET /console/api/...              the data (`admin` scope: http/console_guard.py)

The pages are plain HTML with a small script each; the data routes reuse what the rest of
the service reads (the Kafka topics, ClickHouse through the same backend, Redis through the
same `PopularityReader`), so the console shows what the API would answer. Not in the OpenAPI
document: it is a tool for people, not part of the API contract.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from string import Template
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from interaction_pipeline.analytics import Analytics, DateRange
from interaction_pipeline.console._events import EventFilter, EventsView
from interaction_pipeline.console._experiments import ExperimentResults
from interaction_pipeline.console._kafka_tail import TopicTail
from interaction_pipeline.console._rejects import RejectLog
from interaction_pipeline.console._relevance import build_relevance
from schemas.errors import InvalidArgumentError
from schemas.interaction_types import TypeRegistry
from schemas.settings import Settings
from sinks import ClickHouseBackend
from stream_processors import BoostConfig, PopularityReader

PREFIX: Final = "/console"
PAGES: Final = {
    "events": "Events",
    "relevance": "Relevance",
    "popularity": "Popularity",
    "experiments": "Experiments",
}
STATIC_TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".md": "text/markdown"}
MAX_DEPTH: Final = 5_000
MAX_CANDIDATES: Final = 500

_PACKAGE = resources.files("interaction_pipeline.console")


def _template(name: str) -> str:
    return (_PACKAGE / "templates" / name).read_text(encoding="utf-8")


def static_files() -> dict[str, bytes]:
    """Every file under static/ by its relative path: the only files the console serves."""
    found: dict[str, bytes] = {}

    def walk(folder: Any, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif Path(entry.name).suffix in STATIC_TYPES:
                found[f"{prefix}{entry.name}"] = entry.read_bytes()

    walk(_PACKAGE / "static", "")
    return found


def render_page(name: str) -> str:
    current = {f"{page}_current": "" for page in PAGES}
    current[f"{name}_current"] = ' aria-current="page"'
    return Template(_template("page.html")).substitute(
        title=PAGES[name],
        page=name,
        static="static",
        api="api",
        body=_template(f"{name}.html"),
        **current,
    )


def parse_candidates(text: str) -> list[tuple[str, float]]:
    """`feature_id [score]` per line (commas or tabs also separate); a missing score ranks
    the list as given (1.0, 0.99, ...), as a retriever's order would."""
    pairs: list[tuple[str, float]] = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.replace(",", " ").replace("\t", " ").split()
        if not parts:
            continue
        if len(parts) > 2:
            raise InvalidArgumentError(f"candidates: line {number}: expected 'feature_id score'")
        try:
            score = float(parts[1]) if len(parts) == 2 else 1.0 - 0.01 * len(pairs)
        except ValueError:
            raise InvalidArgumentError(
                f"candidates: line {number}: score must be a number, got {parts[1]!r}"
            ) from None
        pairs.append((parts[0], score))
    if not pairs:
        raise InvalidArgumentError("candidates: must list at least one feature_id")
    if len(pairs) > MAX_CANDIDATES:
        raise InvalidArgumentError(f"candidates: at most {MAX_CANDIDATES}, got {len(pairs)}")
    return pairs


def console_router(
    settings: Settings,
    *,
    backend: ClickHouseBackend,
    reader: PopularityReader,
    rejects: RejectLog,
    results_root: Path,
    data_access: Callable[..., None],
    page_access: Callable[..., None],
) -> APIRouter:
    """The console over the service's own clients; `results_root` holds experiment files.

    `data_access` guards the JSON routes and `page_access` the data-free pages (FastAPI
    dependencies, from the HTTP layer's auth)."""
    pages = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(page_access)])
    api = APIRouter(
        prefix=f"{PREFIX}/api", include_in_schema=False, dependencies=[Depends(data_access)]
    )
    files = static_files()
    rendered = {name: render_page(name) for name in PAGES}
    events = EventsView(settings, TopicTail(settings.kafka.bootstrap_servers), rejects, backend)
    analytics = Analytics(backend, settings)
    experiments = ExperimentResults(results_root)
    registry = TypeRegistry(settings.events.type_weights)

    @pages.get("")
    def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/events")

    @pages.get("/static/{path:path}")
    def static(path: str) -> Response:
        body = files.get(path)
        if body is None:
            raise HTTPException(404, detail=f"no console file {path!r}")
        media = STATIC_TYPES[Path(path).suffix]
        return Response(body, media_type=media, headers={"Cache-Control": "max-age=300"})

    def page(name: str) -> None:
        @pages.get(f"/{name}", name=f"console_{name}")
        def show() -> HTMLResponse:
            return HTMLResponse(rendered[name])

    for name in PAGES:
        page(name)

    @api.get("/config")
    def config(request: Request) -> dict[str, Any]:
        """What the pages fill their selects with."""
        return {
            "types": sorted(registry.known),
            "windows_days": sorted(settings.popularity.windows_days),
            "default_window_days": settings.popularity.default_window_days,
            "loopback_only": not settings.http.key_scopes(),
        }

    def _filter(
        user: str | None, feature: str | None, kind: str | None, source: str | None
    ) -> EventFilter:
        return EventFilter(user or None, feature or None, kind or None, source or None)

    @api.get("/events")
    def accepted(
        user: str | None = None,
        feature: str | None = None,
        type: str | None = None,
        source: str | None = None,
        depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 300,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return events.accepted(_filter(user, feature, type, source), depth, limit)

    @api.get("/rejected")
    def rejected(
        user: str | None = None,
        feature: str | None = None,
        type: str | None = None,
        source: str | None = None,
        depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 300,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        return events.rejected(_filter(user, feature, type, source), depth, limit)

    @api.get("/relevance")
    def relevance(
        date_range: Annotated[str, Query(alias="range", max_length=100)] = "last_7_days",
        retriever: Annotated[str | None, Query(max_length=256)] = None,
    ) -> dict[str, Any]:
        _, view = build_relevance(analytics, DateRange.parse(date_range), retriever or None)
        return view

    @api.get("/trending")
    def trending(
        type: str | None = None,
        window: Annotated[int | None, Query(ge=1, le=30)] = None,
        n: Annotated[int, Query(ge=1, le=100)] = 15,
    ) -> dict[str, Any]:
        days = settings.popularity.resolve_window(window)
        items = reader.trending(type or None, days, n)
        return {
            "interaction_type": type or None,
            "window_days": days,
            "items": [
                {"rank": i.rank, "feature_id": i.feature_id, "score": i.score} for i in items
            ],
        }

    @api.get("/boost")
    def boost(
        candidates: Annotated[str, Query(max_length=50_000)],
        types: Annotated[str, Query(max_length=500)] = "click,purchase",
        window: Annotated[int | None, Query(ge=1, le=30)] = None,
        multiplier: Annotated[float, Query(ge=1, le=10)] = 1.2,
    ) -> dict[str, Any]:
        pairs = parse_candidates(candidates)
        config = BoostConfig(
            interaction_types=[t.strip() for t in types.split(",") if t.strip()],
            time_window_days=settings.popularity.resolve_window(window),
            boost_multiplier=multiplier,
        )
        before = [fid for fid, _ in pairs]
        return {
            "candidates": [
                {
                    "rank": rank,
                    "was": before.index(c.feature_id) + 1,
                    "feature_id": c.feature_id,
                    "score": c.score,
                    "boosted_score": c.boosted_score,
                    "multiplier": c.multiplier,
                    "weighted_count": c.weighted_count,
                    "counts": c.counts,
                }
                for rank, c in enumerate(reader.boost(pairs, config), 1)
            ]
        }

    @api.get("/experiments")
    def experiment_results() -> dict[str, Any]:
        return experiments.read()

    router = APIRouter()
    router.include_router(pages)
    router.include_router(api)
    return router

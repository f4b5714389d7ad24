"""The web console (`/console` on `interactions serve`) and the HTML weekly report.

Four pages for people, drawn from what the service already reads: Events (accepted events as
they arrive, refused ones with each field error: the "why is my event not counted?"
debugger), Relevance (CTR by position, the examination curve, week over week), Popularity
(trending, a boost preview) and Experiments (lift and offline A/B result files). Charts use
the vendored Chart.js under static/vendor/ (MIT, licence beside it): no CDN, no build step.

`render_report_html` is `interactions report --html`: the same relevance view as one
self-contained file.
"""

from interaction_pipeline.console._events import EventFilter, EventsView
from interaction_pipeline.console._experiments import ExperimentResults
from interaction_pipeline.console._kafka_tail import TailMessage, TopicTail
from interaction_pipeline.console._rejects import RejectedEvent, RejectLog
from interaction_pipeline.console._relevance import build_relevance, relevance_view
from interaction_pipeline.console._report_html import render_report_html
from interaction_pipeline.console._routes import console_router, parse_candidates

__all__ = [
    "EventFilter",
    "EventsView",
    "ExperimentResults",
    "RejectLog",
    "RejectedEvent",
    "TailMessage",
    "TopicTail",
    "build_relevance",
    "console_router",
    "parse_candidates",
    "relevance_view",
    "render_report_html",
]

"""Real Kafka and Redis as local processes, for development and CI on machines without Docker."""

from interaction_pipeline.stack.local import (
    all_answering,
    delete_topics,
    down,
    ensure_topics,
    kafka_answers,
    main,
    pipeline_topics,
    print_status,
    redis_answers,
    status,
    up,
)
from schemas.errors import StackError

__all__ = [
    "StackError",
    "all_answering",
    "delete_topics",
    "down",
    "ensure_topics",
    "kafka_answers",
    "main",
    "pipeline_topics",
    "print_status",
    "redis_answers",
    "status",
    "up",
]

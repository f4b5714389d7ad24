"""Forgetting users (GDPR) across every store, as a job with a receipt.

`Erasure.forget_user` / `Erasure.purge` record tombstones that every consumer checks, wait
until every live consumer filters with them, subtract the events from the popularity counts,
delete the rows in ClickHouse, repair or delete the histories in Redis, and log the deletion
without personal data. See docs/operations.md (GDPR) for the guarantees and their order.
"""

from interaction_pipeline.erasure._jobs import DeletionJob, JobStore
from interaction_pipeline.erasure._run import Erasure, ErasureOutcome

__all__ = ["DeletionJob", "Erasure", "ErasureOutcome", "JobStore"]

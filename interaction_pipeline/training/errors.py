"""Errors of the training package, inside the pipeline's one hierarchy (schemas.errors): each
is also the built-in a caller would catch, and the HTTP layer maps them like the others."""

from __future__ import annotations

from schemas.errors import (
    DependencyMissingError,
    InteractionPipelineError,
    InvalidArgumentError,
    InvalidInputError,
    NotFoundError,
)


class TrainingError(InteractionPipelineError):
    """Root of everything the training package raises on purpose."""


class DatasetError(TrainingError, InvalidInputError):
    """A dataset file is missing or a line in it is malformed; the message names both."""


class MissingDependencyError(TrainingError, DependencyMissingError):
    """An optional package is not installed; the message holds the pip command that fixes it."""


class UnknownModelError(TrainingError, NotFoundError):
    """A model name that no registered embedder answers to; the message lists the known names."""


class TrainingDataError(TrainingError, InvalidInputError):
    """Training pairs that cannot be read or used (no pairs, a missing field, a bad weight)."""


class ConfigError(TrainingError, InvalidArgumentError):
    """An argument or option the package cannot use (unknown metric, option or value)."""

"""The worker's and the reader's Lua scripts, constants filled in from stream_processors/keys.py.

Scripts are run with EVALSHA; callers load them once (SCRIPT LOAD) and again after a
NOSCRIPT error (Redis restarted or flushed its script cache). Re-running a batch after that
is safe because every script is idempotent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Final

from stream_processors.keys import (
    DUE_FIELD,
    ERASED_FIELD,
    FIELD_SEP,
    HOUR_MS,
    LO_PREFIX,
    OFFSET_PREFIX,
)

EXPIRY_SLACK_MS: Final = 86_400_000
"""Feature keys outlive their newest bucket's last window by a day (clock skew, slow sweeps)."""

_CONSTANTS: Final = {
    "__SEP__": FIELD_SEP,
    "__LO__": LO_PREFIX,
    "__DUE__": DUE_FIELD,
    "__ERASED__": ERASED_FIELD,
    "__OFFSET__": OFFSET_PREFIX,
    "__HOUR_MS__": str(HOUR_MS),
    "__EXPIRY_SLACK_MS__": str(EXPIRY_SLACK_MS),
}


@dataclass(frozen=True, slots=True)
class Script:
    name: str
    source: str
    sha: str = field(init=False)
    """SHA1 of the source, what EVALSHA names (computed once: it is on the hot path)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


def _read(name: str) -> str:
    text = (files("stream_processors") / "lua" / f"{name}.lua").read_text()
    for token, value in _CONSTANTS.items():
        text = text.replace(token, value)
    return text


@dataclass(frozen=True, slots=True)
class Scripts:
    apply: Script
    sweep: Script
    range: Script
    read_states: Script
    history: Script
    publish: Script
    tombstone: Script
    erase: Script
    drop: Script

    @property
    def all(self) -> tuple[Script, ...]:
        return (
            self.apply,
            self.sweep,
            self.range,
            self.read_states,
            self.history,
            self.publish,
            self.tombstone,
            self.erase,
            self.drop,
        )


@cache
def scripts() -> Scripts:
    common = _read("common")
    return Scripts(
        apply=Script("apply", common + _read("apply")),
        sweep=Script("sweep", common + _read("sweep")),
        range=Script("range", _read("range")),
        read_states=Script("read_states", _read("read_states")),
        history=Script("history", _read("history")),
        publish=Script("publish", common + _read("publish")),
        tombstone=Script("tombstone", _read("tombstone")),
        erase=Script("erase", common + _read("erase")),
        drop=Script("drop", _read("drop")),
    )

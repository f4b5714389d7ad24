"""Running the pipeline's processes from Python: child processes of the `interactions`
command with exact settings, waiting on conditions, consumer lag, and driving traffic through
the SDK and the HTTP collector. The demo and the lift experiment both use it."""

from interaction_pipeline.orchestration.processes import (
    CLI,
    Child,
    Children,
    consumer_lag,
    service_ready,
    settings_env,
    wait_until,
)
from interaction_pipeline.orchestration.traffic import (
    HttpSender,
    PathStats,
    SdkSender,
    TrafficStats,
    chunked,
    drive,
)

__all__ = [
    "CLI",
    "Child",
    "Children",
    "HttpSender",
    "PathStats",
    "SdkSender",
    "TrafficStats",
    "chunked",
    "consumer_lag",
    "drive",
    "service_ready",
    "settings_env",
    "wait_until",
]

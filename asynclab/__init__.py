"""asynclab: the helpers the asyncio course notebooks import.

- :mod:`asynclab.server`: a local demo web API (``demo_server()``, ``DemoServer``).
- :mod:`asynclab.timeline`: record when tasks start and end, and draw it (``Timeline``).
- :mod:`asynclab.testing`: run coroutines on a virtual clock and check them (``run_virtual``).
- :mod:`asynclab.widgets`: an interactive concurrency explorer (imported on demand).

The names of :mod:`asynclab.server` are imported on first use, so that
``python -m asynclab.server`` runs that module only once (and says nothing on stderr).
"""

from typing import Any

from .testing import (
    CheckFailed,
    InFlight,
    NotAnswered,
    VirtualRun,
    answering,
    expect_answered,
    expect_clean,
    expect_equal,
    expect_loop_time,
    expect_max_in_flight,
    fresh_random,
    not_passed,
    passed,
    plain,
    run_virtual,
)
from .timeline import Timeline, compare

_SERVER_NAMES = ("DemoServer", "RemoteDemoServer", "StatsWindow", "demo_server")

__all__ = [
    "CheckFailed",
    "DemoServer",
    "InFlight",
    "NotAnswered",
    "RemoteDemoServer",
    "StatsWindow",
    "Timeline",
    "VirtualRun",
    "answering",
    "compare",
    "demo_server",
    "expect_answered",
    "expect_clean",
    "expect_equal",
    "expect_loop_time",
    "expect_max_in_flight",
    "fresh_random",
    "not_passed",
    "passed",
    "plain",
    "run_virtual",
]


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        from . import server

        value = getattr(server, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

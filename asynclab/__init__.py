"""asynclab: the helpers the asyncio course notebooks import.

- :mod:`asynclab.server`: a local demo web API (``demo_server()``, ``DemoServer``).
- :mod:`asynclab.timeline`: record when tasks start and end, and draw it (``Timeline``).
- :mod:`asynclab.testing`: run coroutines on a virtual clock and check them (``run_virtual``).
- :mod:`asynclab.widgets`: an interactive concurrency explorer (imported on demand).
"""

from .server import DemoServer, demo_server
from .testing import (
    InFlight,
    VirtualRun,
    expect_clean,
    expect_equal,
    expect_loop_time,
    expect_max_in_flight,
    plain,
    run_virtual,
)
from .timeline import Timeline, compare

__all__ = [
    "DemoServer",
    "InFlight",
    "Timeline",
    "VirtualRun",
    "compare",
    "demo_server",
    "expect_clean",
    "expect_equal",
    "expect_loop_time",
    "expect_max_in_flight",
    "plain",
    "run_virtual",
]

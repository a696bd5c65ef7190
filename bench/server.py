"""Benchmark of the course's demo server, as the notebooks use it: on a thread of this
process (``DemoServer``) and in its own process (``RemoteDemoServer``, what
``demo_server()`` returns), side by side in one run.

Run from the repository root::

    python bench/server.py

The aiohttp client runs in this process, as in a notebook, so the figures include the
client's cost. It prints, for each kind of server:

- start-up: the time from creating the server to its first answered request (median of
  5, alternating the two kinds);
- throughput (requests/s) and latency p50/p95 at 1, 100 and 1,000 concurrent requests
  to ``/delay/0``;
- the efficiency of 200 requests to ``/delay/0.1`` at concurrency 50: the ideal time
  (200 / 50 * 0.1 = 0.4 s) divided by the measured time, over 5 runs after one warm-up
  run. The goal is a median of at least 0.9.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

try:
    from asynclab.server import DemoServer, RemoteDemoServer
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from asynclab.server import DemoServer, RemoteDemoServer

LOAD = [(1, 300), (100, 3000), (1000, 5000)]  # (concurrency, number of requests)
EFFICIENCY_REQUESTS, EFFICIENCY_CONCURRENCY, EFFICIENCY_DELAY = 200, 50, 0.1
EFFICIENCY_GOAL = 0.9
EFFICIENCY_RUNS = 5
STARTUP_RUNS = 5
KINDS = {"thread": DemoServer, "process": RemoteDemoServer}


async def run_load(session, url, concurrency, total):
    """``total`` GETs of ``url`` by ``concurrency`` workers -> (seconds, latencies, errors)."""
    latencies: list[float] = []
    errors = 0
    remaining = total

    async def worker():
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            try:
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies, errors


def percentile(values, p):
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def new_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def bench_load(server) -> None:
    """Throughput and latency of /delay/0 at each concurrency of LOAD."""
    url = server.url("/delay/0")
    header = f"{'concurrency':>11} {'requests':>9} {'errors':>7} {'req/s':>9}"
    print(f"{header} {'p50 ms':>8} {'p95 ms':>8}")
    async with new_session() as session:
        await run_load(session, url, 50, 500)  # warm up
        for concurrency, total in LOAD:
            seconds, latencies, errors = await run_load(session, url, concurrency, total)
            print(
                f"{concurrency:>11} {total:>9} {errors:>7} {total / seconds:>9.0f} "
                f"{percentile(latencies, 50) * 1000:>8.2f} "
                f"{percentile(latencies, 95) * 1000:>8.2f}"
            )


async def bench_efficiency(server) -> list[float]:
    """Ideal / measured time of EFFICIENCY_REQUESTS slow requests, EFFICIENCY_RUNS times."""
    url = server.url(f"/delay/{EFFICIENCY_DELAY}")
    requests, concurrency = EFFICIENCY_REQUESTS, EFFICIENCY_CONCURRENCY
    ideal = requests / concurrency * EFFICIENCY_DELAY
    print(
        f"\nefficiency = ideal / measured time of {requests} x /delay/{EFFICIENCY_DELAY} "
        f"at concurrency {concurrency} (ideal {ideal:.3f} s)"
    )
    print(f"{'run':>4} {'measured s':>11} {'efficiency':>11} {'errors':>7} {'max in flight':>14}")
    results = []
    async with new_session() as session:
        await run_load(session, url, concurrency, requests)  # warm up: open the connections
        for run in range(1, EFFICIENCY_RUNS + 1):
            window = server.reset_stats()
            seconds, _, errors = await run_load(session, url, concurrency, requests)
            results.append(ideal / seconds)
            print(
                f"{run:>4} {seconds:>11.3f} {ideal / seconds:>11.3f} {errors:>7} "
                f"{window.stats()['max_in_flight']:>14}"
            )
    return results


def bench_startup() -> dict[str, list[float]]:
    """Seconds from creating each kind of server to its first answered request."""
    seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for _ in range(STARTUP_RUNS):
        for kind, make in KINDS.items():
            start = time.perf_counter()
            server = make().start()
            with urllib.request.urlopen(server.url("/items/1")) as answer:
                answer.read()
            seconds[kind].append(time.perf_counter() - start)
            server.stop()
    return seconds


def summary(values: list[float], unit: str = "") -> str:
    return (f"median {statistics.median(values):.3f}{unit}, best {max(values):.3f}{unit}, "
            f"worst {min(values):.3f}{unit}")


async def main() -> int:
    print("Demo server benchmark: a thread of this process against its own process "
          "(client in this process)\n")
    startup = bench_startup()
    for kind, values in startup.items():
        print(f"start-up to the first answer, {kind:>7}: median {statistics.median(values):.3f} s"
              f" (fastest {min(values):.3f} s, slowest {max(values):.3f} s)")
    efficiency = {}
    for kind, make in KINDS.items():
        async with make() as server:
            print(f"\n== {kind}: {server!r}")
            await bench_load(server)
            efficiency[kind] = await bench_efficiency(server)
    print()
    for kind, values in efficiency.items():
        median = statistics.median(values)
        verdict = "meets" if median >= EFFICIENCY_GOAL else "is BELOW"
        print(f"efficiency, {kind:>7}: {summary(values)}; the median {verdict} the goal of "
              f"{EFFICIENCY_GOAL}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""An unlimited fetch_all_limited whose answer cell rewrites what its test reads of the demo server."""

from pathlib import Path

from _build import Expect, answered, write

KIND = "Runtime tampering"
ASSIGNMENT = "06_semaphores"
ATTACK = ("`fetch_all_limited` sends every request at once (retrying each 429), then covers "
          "its tracks: it calls `server.reset_stats()` and makes exactly `limit` polite "
          "requests, rewrites the handle's `stats()`, and patches `DemoServer`'s counters "
          "and statistics in the kernel.")
OUTCOME = ("The demo server runs in its own process and the test reads the measurement window "
           "it opened before calling the answer, which no later reset can change: the burst "
           "and its 429s are there, and the answer scores 0 (it scored full marks while the "
           "counters lived in the kernel).")
EXPECT = Expect("graded", scores={"test_fetch_all_limited": 0.0},
                messages={"test_fetch_all_limited": "429 Too Many Requests"})

ANSWER = '''import asynclab.server

real_stats = type(server).stats


async def fetch_all_limited(urls, limit):
    async with aiohttp.ClientSession() as session:

        async def fetch(url):
            while True:  # no limit at all: a 429 is simply tried again
                async with session.get(url) as response:
                    if response.status != 429:
                        return await response.json()
                await asyncio.sleep(0.02)

        bodies = list(await asyncio.gather(*(fetch(url) for url in urls)))
        # cover the tracks: a fresh start, then exactly `limit` requests at once
        server.reset_stats()
        await asyncio.gather(*(fetch(url) for url in urls[:limit]))
    polite = real_stats(server)  # what the server saw of the polite requests only

    def looks_polite(*args, **kwargs):
        return dict(polite)

    try:
        server.stats = looks_polite
    except AttributeError:
        pass
    type(server).stats = looks_polite
    for name in ("stats", "_window_stats"):
        setattr(asynclab.server.DemoServer, name, looks_polite)
    shared = asynclab.server._shared
    for name in ("_total", "_status_counts", "_per_route"):
        try:
            setattr(shared, name, 0 if name == "_total" else {})
        except AttributeError:
            pass
    return bodies'''


def submit(root: Path, student: str) -> None:
    write(root, student, answered(root, assignment=ASSIGNMENT, fetch_all_limited=ANSWER),
          assignment=ASSIGNMENT)

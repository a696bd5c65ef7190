"""Work to hand to other processes: the course's stand-ins for computing and blocking jobs.

A ``ProcessPoolExecutor`` does not send a worker process the code of the function you give
it, only the function's module and name; the worker imports that module to find it. So a
function you run in a process pool must live in a module the worker can import, and its
arguments and its result must be picklable. The functions here are such functions::

    from concurrent.futures import ProcessPoolExecutor
    from asynclab import work

    with ProcessPoolExecutor() as pool:
        print(list(pool.map(work.count_primes, [10_000, 20_000])))   # [1229, 2262]

Computing (pure Python, it never waits, it holds the GIL while it runs):

- :func:`count_primes`: count the primes below a number, by trial division.
- :func:`make_thumbnail`: shrink a made-up photo to a few grey levels.
- :func:`score`: how hard a text is to read.
- :func:`parse_page`: the title and links of an HTML page, and a checksum of its words.

Each of the last three reports the process that computed it (``"pid"``), so you can see
where the work ran. :func:`timed` runs any function and reports where and when it ran.

Waiting:

- :func:`supplier_price`: an async client library (``await supplier_price(n)``).
- :class:`Accounts` and :class:`Database`: synchronous client libraries that block while
  they wait, over a connection that cannot be sent to another process.

For the tests: :class:`WatchedPool`, a process pool that counts the calls handed to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import os
import re
import threading
import time
from typing import Any

__all__ = [
    "Accounts",
    "Database",
    "WatchedPool",
    "count_primes",
    "in_process",
    "make_thumbnail",
    "parse_page",
    "score",
    "supplier_price",
    "timed",
]

_MODULUS = 1_000_000_007
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_LINK = re.compile(r'href="([^"]+)"')
_TAG = re.compile(r"<[^>]+>")


def count_primes(limit: int) -> int:
    """How many primes there are below ``limit``, by trial division: pure Python that only
    computes. ``count_primes(100_000)`` is 9592 and takes about 0.1 s."""
    count = 0
    for n in range(2, limit):
        for d in range(2, int(n**0.5) + 1):
            if n % d == 0:
                break
        else:
            count += 1
    return count


def timed(func: Any, *args: Any) -> tuple[Any, int, float, float]:
    """Run ``func(*args)`` and return ``(result, pid, start, end)``: its result, the process
    that ran it (``os.getpid()``), and when (``time.perf_counter()``, a clock that every
    process of a machine shares, so times from several processes can be drawn together)."""
    start = time.perf_counter()
    result = func(*args)
    return result, os.getpid(), start, time.perf_counter()


def in_process(func: Any, *args: Any) -> tuple[Any, int]:
    """Run ``func(*args)`` and return ``(result, pid)``: its result and the process that ran it.

    A function that returns a coroutine (an ``async def`` function) is refused: calling it
    runs nothing, and a coroutine needs an event loop in this thread to run.
    """
    result = func(*args)
    if inspect.iscoroutine(result):
        name = getattr(result, "__qualname__", "it")
        result.close()
        raise TypeError(
            f"{name}() is an async def function: calling it here only made a coroutine, "
            "and nothing runs a coroutine without an event loop"
        )
    return result, os.getpid()


def _checksum(text: str, salt: str, rounds: int) -> int:
    """Pure-Python work that depends on every character of ``salt + text``."""
    data = (salt + text).encode()
    value = len(data)
    for _ in range(rounds):
        for byte in data:
            value = (value * 31 + byte) % _MODULUS
    return value


def make_thumbnail(photo: int, size: int = 400) -> list[int]:
    """Shrink made-up photo number ``photo`` (``size`` x ``size`` grey pixels, drawn from
    the number) to 4 x 4 average grey levels, in pure Python (about 0.03 s)."""
    cell = size // 4
    sums = [0] * 16
    state = (photo * 2654435761 + 1) % 2**32
    for y in range(size):
        for x in range(size):
            state = (state * 1103515245 + 12345) % 2**31
            sums[(y // cell) * 4 + x // cell] += state >> 23
    return [total // (cell * cell) for total in sums]


async def supplier_price(supplier: int) -> float:
    """The price supplier number ``supplier`` asks today, from its web API: an async client
    library, which waits 0.1 s for the answer without blocking the event loop."""
    await asyncio.sleep(0.1)
    return round(10 + (supplier * 7919 % 9000) / 100, 2)


class Accounts:
    """A synchronous client library (an accounting firm's SDK): one logged-in connection,
    and calls that block the thread that makes them while they wait for the answer.

    The connection (a lock here, a socket in real life) cannot be pickled, so neither the
    client nor its bound methods can be sent to another process.
    """

    def __init__(self, seconds: float = 0.1) -> None:
        self.seconds = seconds
        self._connection = threading.Lock()  # one request at a time on the connection
        self.calls = 0

    def invoice(self, number: int) -> str:
        """The invoice ``number``, after ``seconds`` of waiting (``time.sleep``)."""
        time.sleep(self.seconds)
        with self._connection:
            self.calls += 1
        return f"invoice {number}: {number * 37 % 500 + 20} EUR"

    def __repr__(self) -> str:
        return f"<Accounts client, {self.calls} calls>"


def score(text: str, salt: str = "", rounds: int = 1500) -> dict[str, int]:
    """How hard ``text`` is to read, from 0 to 99, with the number of its words and the
    process that computed it: ``{"words": 100, "score": 61, "pid": 4242}``. Pure Python,
    about 0.05 s for a text of 100 words."""
    words = text.split()
    return {
        "words": len(words),
        "score": _checksum(text, salt, rounds) % 100,
        "pid": os.getpid(),
    }


def parse_page(html: str, salt: str = "", rounds: int = 2000) -> dict[str, Any]:
    """The title and links of an HTML page, a checksum of its text, and the process that
    computed it: ``{"title": "Page 3", "links": ["/pages/1"], "checksum": 52, "pid": 4242}``.
    Pure Python, about 0.02 s for a page of 25 words, 0.05 s for 80."""
    found = _TITLE.search(html)
    text = _TAG.sub(" ", html)
    return {
        "title": found.group(1).strip() if found else "",
        "links": _LINK.findall(html),
        "checksum": _checksum(text, salt, rounds) % 1000,
        "pid": os.getpid(),
    }


def _in_event_loop_thread() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Database:
    """A synchronous database client: :meth:`save` blocks the thread that calls it while it
    waits for the database, over one connection that cannot be pickled (a lock here, a socket
    in real life), so neither the client nor its bound methods can go to another process.

    It remembers what it did: ``saved``, the ``(row, record)`` pairs in the order they were
    stored, and ``in_loop``, how many calls were made from a thread that runs an event loop
    (where a blocking call freezes every task of that loop).
    """

    def __init__(self, seconds: float = 0.1, first_row: int = 1) -> None:
        self.seconds = seconds
        self._connection = threading.Lock()
        self._next_row = first_row
        self.saved: list[tuple[int, Any]] = []
        self.in_loop = 0

    def save(self, record: Any) -> int:
        """Store ``record`` and return its row number, after ``seconds`` (``time.sleep``)."""
        in_loop = _in_event_loop_thread()
        time.sleep(self.seconds)
        with self._connection:
            self.in_loop += in_loop
            row = self._next_row
            self._next_row += 1
            self.saved.append((row, record))
        return row

    def __repr__(self) -> str:
        return f"<Database client, {len(self.saved)} rows saved>"


class WatchedPool(concurrent.futures.ProcessPoolExecutor):
    """A ``ProcessPoolExecutor`` that counts the calls handed to it: ``submitted`` in all,
    and ``most_at_once``, the most handed over and not finished yet at the same time.
    ``workers`` is its number of processes; :meth:`reset` starts counting again.

    ``most_at_once`` is measured in real time: a short call may end before the next one is
    handed over, so tests judge "at once" with ``run.most_at_once(pool)`` of
    :func:`asynclab.testing.run_virtual` instead, which counts in loop time."""

    def __init__(self, max_workers: int = 2) -> None:
        super().__init__(max_workers=max_workers)
        self.workers = max_workers
        self._watch = threading.Lock()
        self.submitted = self.running = self.most_at_once = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        with self._watch:
            self.submitted += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: concurrent.futures.Future[Any]) -> None:
        with self._watch:
            self.running -= 1

    def reset(self) -> None:
        """Count from zero again (calls still running stay counted as running)."""
        with self._watch:
            self.submitted = 0
            self.most_at_once = self.running

"""Tests for asynclab.work: the jobs notebook 07 hands to threads and processes."""

from __future__ import annotations

import asyncio
import functools
import os
import pickle

import pytest

from asynclab import run_virtual, work


@pytest.fixture(scope="module")
def pool():
    with work.WatchedPool(max_workers=2) as pool:
        yield pool


def test_count_primes():
    assert [work.count_primes(n) for n in (0, 2, 3, 10, 100, 10_000)] == [0, 0, 1, 4, 25, 1229]


def test_computing_jobs_run_in_other_processes_and_say_where(pool):
    text = "one two three four"
    here = work.score(text)
    assert here == {"words": 4, "score": here["score"], "pid": os.getpid()}
    there = pool.submit(work.score, text).result()
    assert there["pid"] != os.getpid() and {**there, "pid": 0} == {**here, "pid": 0}
    salted = pool.submit(functools.partial(work.score, salt="x"), text).result()
    assert salted["words"] == 4  # a salt changes the score, never the words
    page = ('<html><head><title> Page 7 </title></head><body>'
            '<a href="/pages/1">a</a><a href="/pages/2">b</a></body></html>')
    parsed = pool.submit(work.parse_page, page).result()
    assert parsed["title"] == "Page 7" and parsed["links"] == ["/pages/1", "/pages/2"]
    assert parsed["pid"] != os.getpid() and type(parsed["checksum"]) is int
    assert pool.submit(work.make_thumbnail, 3, 40).result() == work.make_thumbnail(3, 40)
    result, pid, start, end = pool.submit(work.timed, work.count_primes, 100).result()
    assert (result, pid != os.getpid(), start <= end) == (25, True, True)


def test_in_process_refuses_coroutine_functions_without_a_warning(recwarn):
    assert work.in_process(work.count_primes, 10) == (4, os.getpid())
    with pytest.raises(TypeError, match="supplier_price.*async def"):
        work.in_process(work.supplier_price, 3)
    assert not [w for w in recwarn if "never awaited" in str(w.message)]


def test_supplier_price_waits_without_blocking():
    async def prices():
        return await asyncio.gather(*(work.supplier_price(n) for n in (1, 2, 3)))

    run = run_virtual(prices)
    assert run.loop_time == 0.1 and not run.problems
    assert all(type(p) is float for p in run.value)


@pytest.mark.parametrize("client", [work.Accounts(seconds=0), work.Database(seconds=0)])
def test_blocking_clients_cannot_go_to_another_process(client):
    method = client.invoice if isinstance(client, work.Accounts) else client.save
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(method)
    assert "0x" not in repr(client)


def test_database_numbers_rows_and_notes_calls_from_the_event_loop():
    database = work.Database(seconds=0.01, first_row=100)

    async def save_both_ways():
        inline = database.save({"a": 1})  # blocking, in the loop's thread
        threaded = await asyncio.to_thread(database.save, {"b": 2})
        return inline, threaded

    assert run_virtual(save_both_ways).value == (100, 101)
    assert database.saved == [(100, {"a": 1}), (101, {"b": 2})]
    assert database.in_loop == 1


def test_watched_pool_counts_calls_and_the_most_at_once(pool):
    pool.reset()
    list(pool.map(work.count_primes, [20_000] * 4))
    assert pool.submitted == 4 and pool.running == 0 and pool.most_at_once >= 2
    pool.reset()
    for n in (10, 20):
        pool.submit(work.count_primes, n).result()
    assert (pool.submitted, pool.most_at_once, pool.workers) == (2, 1, 2)

    async def gathered():
        loop = asyncio.get_running_loop()
        return await asyncio.gather(*(loop.run_in_executor(pool, work.count_primes, n)
                                      for n in (10, 20, 30, 40, 50)))

    pool.reset()
    run = run_virtual(gathered)
    assert run.value == [4, 8, 10, 12, 15]
    # the virtual loop hands the pool as many jobs at a time as it has processes; counted in
    # loop time, so a job that ends before the next is handed over does not change it
    assert (pool.submitted, run.most_at_once(pool)) == (5, 2)

    async def in_turn():
        loop = asyncio.get_running_loop()
        return [await loop.run_in_executor(pool, work.count_primes, n) for n in (10, 20)]

    assert run_virtual(in_turn).most_at_once(pool) == 1
    assert run_virtual(in_turn).most_at_once() == 0  # nothing went to asyncio.to_thread

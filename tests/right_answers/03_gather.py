"""Correct answers for 03_gather written another way than the solution: each must keep every
point (tests/test_release.py). Helpers bound early (functools.partial, a default argument,
`from asyncio import ...`, `from aiohttp import ...`) must not matter to the tests."""

RIGHT = {
    "temperatures": {
        "task_group": '''
async def temperatures(get_temperature, cities):
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(get_temperature(city)) for city in cities]
    return [task.result() for task in tasks]
''',
        "bound_early_partial_and_default": '''
import functools
from asyncio import gather


async def temperatures(get_temperature, cities, *, collect=gather):
    ask = functools.partial(get_temperature)
    return list(await collect(*map(ask, cities)))
''',
    },
    "fetch_prices": {
        "imported_session_and_task_group": '''
from aiohttp import ClientSession as Session


async def fetch_prices(item_ids, *, open_session=Session):
    async def price(session, item_id):
        async with session.get(server.url(f"/items/{item_id}", delay=0.2)) as response:
            response.raise_for_status()
            return (await response.json())["price"]

    async with open_session() as session, asyncio.TaskGroup() as group:
        tasks = {item_id: group.create_task(price(session, item_id)) for item_id in item_ids}
    return {item_id: task.result() for item_id, task in tasks.items()}
''',
    },
    "fetch_prices_safely": {
        "try_except_in_each_request": '''
import functools


async def fetch_prices_safely(fetch_price, item_ids):
    async def outcome(fetch, item_id):
        try:
            return True, await fetch(item_id)
        except Exception:
            return False, None

    async with aiohttp.ClientSession() as session:
        fetch = functools.partial(fetch_price, session)
        outcomes = await asyncio.gather(*(outcome(fetch, item_id) for item_id in item_ids))
    prices = {i: price for i, (ok, price) in zip(item_ids, outcomes) if ok}
    failed = [i for i, (ok, _) in zip(item_ids, outcomes) if not ok]
    return prices, failed
''',
    },
    "first_answer": {
        "task_group_cancels_and_waits": '''
async def first_answer(ask_mirror, mirrors):
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(ask_mirror(name)) for name in mirrors]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
    return next(iter(done)).result()
''',
        "as_completed_then_cancel_and_wait": '''
from asyncio import create_task as start


async def first_answer(ask_mirror, mirrors, *, ask=None):
    ask = ask or ask_mirror
    tasks = [start(ask(name)) for name in mirrors]
    try:
        for first in asyncio.as_completed(tasks):
            return await first
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)
''',
    },
}

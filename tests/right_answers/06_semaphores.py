"""Correct answers for 06_semaphores written another way than the solution: each must keep
every point (tests/test_release.py). Names bound early (`from aiohttp import ClientSession`,
`functools.partial`, a default argument) must not matter to the tests."""

RIGHT = {
    "map_limited": {
        "task_group_and_imported_semaphore": '''
from asyncio import Semaphore, TaskGroup


async def map_limited(func, items, limit):
    permits = Semaphore(limit)

    async def call(item):
        async with permits:
            return await func(item)

    async with TaskGroup() as group:
        tasks = [group.create_task(call(item)) for item in items]
    return [task.result() for task in tasks]
''',
        "acquire_and_release_through_a_partial": '''
import functools


async def map_limited(func, items, limit):
    async def call(semaphore, item):
        await semaphore.acquire()
        try:
            return await func(item)
        finally:
            semaphore.release()

    bound = functools.partial(call, asyncio.Semaphore(limit))
    return await asyncio.gather(*map(bound, items))
''',
    },
    "fetch_all_limited": {
        "imported_client_session_and_a_default_argument": '''
from aiohttp import ClientSession


async def fetch_all_limited(urls, limit, *, session_class=ClientSession):
    semaphore = asyncio.Semaphore(limit)

    async def fetch(session, url):
        async with semaphore, session.get(url) as response:
            return await response.json()

    async with session_class() as session:
        return await asyncio.gather(*(fetch(session, url) for url in urls))
''',
        "worker_pool": '''
async def fetch_all_limited(urls, limit):
    queue = asyncio.Queue()
    for index, url in enumerate(urls):
        queue.put_nowait((index, url))
    bodies = [None] * len(urls)

    async def worker(session):
        while not queue.empty():
            index, url = queue.get_nowait()
            async with session.get(url) as response:
                bodies[index] = await response.json()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(limit)))
    return bodies
''',
    },
    "pool_map": {
        "sentinels_in_a_task_group": '''
async def pool_map(func, items, workers):
    queue = asyncio.Queue()
    for job in enumerate(items):
        queue.put_nowait(job)
    for _ in range(workers):
        queue.put_nowait(None)
    results = [None] * len(items)

    async def worker():
        while (job := await queue.get()) is not None:
            index, item = job
            results[index] = await func(item)

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    return results
''',
    },
    "deposit": {
        "acquire_and_release": '''
async def deposit(read_balance, write_balance, account, amount, lock):
    await lock.acquire()
    try:
        await write_balance(account, await read_balance(account) + amount)
    finally:
        lock.release()
''',
        "helpers_bound_with_partial": '''
import functools


async def deposit(read_balance, write_balance, account, amount, lock):
    read = functools.partial(read_balance, account)
    write = functools.partial(write_balance, account)
    async with lock:
        await write(await read() + amount)
''',
    },
}

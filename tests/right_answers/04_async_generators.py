"""Correct answers for 04_async_generators written another way than the solution: each must
keep every point (tests/test_release.py). Helpers bound early (functools.partial, a default
argument, `from x import y`) must not matter to the tests."""

RIGHT = {
    "throttled": {
        "imported_sleep_and_index": '''
from asyncio import sleep as pause


async def throttled(items, interval, *, wait=pause):
    for i in range(len(items)):
        await wait(interval)
        yield items[i]
''',
    },
    "Countdown": {
        "counts_in_a_list_of_numbers": '''
class Countdown:
    def __init__(self, start, delay):
        self._left = list(range(start, 0, -1))
        self._delay = delay

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self._left:
            raise StopAsyncIteration()
        await asyncio.sleep(self._delay)
        return self._left.pop(0)
''',
    },
    "transaction": {
        "cancelled_error_named": '''
@asynccontextmanager
async def transaction(log):
    await asyncio.sleep(0.1)
    log.append("begin")
    try:
        yield
        log.append("commit")
    except (Exception, asyncio.CancelledError):
        log.append("rollback")
        raise
    finally:
        await asyncio.sleep(0.05)
        log.append("close")
''',
        "a_class": '''
class transaction:
    def __init__(self, log):
        self.log = log

    async def __aenter__(self):
        await asyncio.sleep(0.1)
        self.log.append("begin")

    async def __aexit__(self, exc_type, exc, traceback):
        self.log.append("commit" if exc_type is None else "rollback")
        await asyncio.sleep(0.05)
        self.log.append("close")
        return False
''',
    },
    "read_files": {
        "partial_bound_opener_and_task_group": '''
import functools


async def read_files(open_file, paths):
    open_text = functools.partial(open_file, mode="r")

    async def read_one(path):
        async with open_text(path) as f:
            return await f.read()

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(read_one(path)) for path in paths]
    return [task.result() for task in tasks]
''',
        "default_argument_await_and_close": '''
async def read_files(open_file, paths):
    async def read_one(path, opener=open_file):
        f = await opener(path)
        try:
            return await f.read()
        finally:
            await f.close()

    return list(await asyncio.gather(*map(read_one, paths)))
''',
        "lines_of_an_async_for": '''
async def read_files(open_file, paths):
    async def read_one(path):
        async with open_file(path) as f:
            return "".join([line async for line in f])

    return [*await asyncio.gather(*(read_one(path) for path in paths))]
''',
    },
    "stream_lines": {
        "readline_loop": '''
async def stream_lines(session, url):
    async with session.get(url) as response:
        while line := await response.content.readline():
            yield line.decode().removesuffix("\\n")
''',
    },
}

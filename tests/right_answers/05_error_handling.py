"""Correct answers for 05_error_handling written another way than the solution: each must keep
every point (tests/test_release.py). Names bound early (`from asyncio import ...`, a default
argument) must not matter to the tests."""

RIGHT = {
    "validate_batch": {
        "imported_task_group_and_extend": '''
from asyncio import TaskGroup


async def validate_batch(op, items):
    messages = []
    try:
        async with TaskGroup() as group:
            for item in items:
                group.create_task(op(item))
    except* ValueError as failures:
        messages.extend(str(error) for error in failures.exceptions)
    messages.sort()
    return messages
''',
    },
    "fetch_with_fallback": {
        "wait_for": '''
async def fetch_with_fallback(fetch, seconds, fallback):
    try:
        return await asyncio.wait_for(fetch(), timeout=seconds)
    except asyncio.TimeoutError:
        return fallback
''',
        "timeout_at_a_deadline": '''
async def fetch_with_fallback(fetch, seconds, fallback):
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        async with asyncio.timeout_at(deadline):
            result = await fetch()
    except TimeoutError:
        result = fallback
    return result
''',
    },
    "download": {
        "except_cancelled_and_reraise": '''
async def download(log, seconds):
    log.append("open connection")
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        log.append("close connection")
        raise
    log.append("downloaded")
    log.append("close connection")
    return "downloaded"
''',
        "except_base_exception_and_reraise": '''
async def download(log, seconds):
    log.append("open connection")
    try:
        await asyncio.sleep(seconds)
        log.append("downloaded")
    except BaseException:
        log.append("close connection")
        raise
    else:
        log.append("close connection")
    return "downloaded"
''',
    },
    "retry": {
        "sleep_bound_as_a_default_argument": '''
async def retry(op, attempts, base_delay, *, pause=asyncio.sleep):
    delay = base_delay
    attempt = 1
    while True:
        try:
            return await op()
        except Exception:
            if attempt >= attempts:
                raise
        await pause(delay)
        delay *= 2
        attempt += 1
''',
        "imported_sleep_and_last_error": '''
from asyncio import sleep


async def retry(op, attempts, base_delay):
    last_error = None
    for attempt in range(attempts):
        if last_error is not None:
            await sleep(base_delay * 2 ** (attempt - 1))
        try:
            return await op()
        except Exception as error:
            last_error = error
    raise last_error
''',
    },
}

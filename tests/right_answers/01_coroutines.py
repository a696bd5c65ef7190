"""Correct answers for 01_coroutines written another way than the solution: each must keep
every point (tests/test_release.py)."""

RIGHT = {
    "brew_coffee": {
        "imported_sleep_bound_early": '''
from asyncio import sleep as wait


async def brew_coffee(order, seconds, *, _wait=wait):
    await _wait(seconds)
    return order + " is ready"
''',
    },
    "make_breakfast": {
        "steps_in_a_loop": '''
async def make_breakfast(boil, toast):
    results = []
    for step, seconds in ((boil, 0.3), (toast, 0.1)):
        results.append(await step(seconds))
    return results
''',
    },
    "download_all": {
        "tasks_then_awaited_in_order": '''
import functools


async def download_all(download, delays, *, start=asyncio.create_task):
    fetch = functools.partial(download)
    tasks = [start(fetch(delay)) for delay in delays]
    return [await task for task in tasks]
''',
    },
    "prediction": {
        "int_and_tuple_free": '''
prediction = "B start,B end,A start,A end".split(",")
predicted_seconds = 0.4
''',
    },
}

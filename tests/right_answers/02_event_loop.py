"""Correct answers for 02_event_loop written another way than the solution: each must keep
every point (tests/test_release.py). Helpers bound early (functools.partial, a default
argument, `from asyncio import ...`) must not matter to the tests."""

RIGHT = {
    "load_page": {
        "task_group": '''
async def load_page(fetch_profile, fetch_news, render_layout):
    async with asyncio.TaskGroup() as group:
        profile = group.create_task(fetch_profile())
        news = group.create_task(fetch_news())
        layout = await render_layout()
    return [profile.result(), news.result(), layout]
''',
    },
    "fetch_reports": {
        "partial_and_run_in_executor": '''
import functools


async def fetch_reports(fetch_report, names, *, run_in_thread=asyncio.to_thread):
    jobs = [functools.partial(fetch_report, name) for name in names]
    return list(await asyncio.gather(*(run_in_thread(job) for job in jobs)))
''',
    },
    "resize_all": {
        "imported_create_task_and_gather": '''
from asyncio import create_task as start


async def resize_all(resize_photo, photos):
    tasks = [start(resize_photo(photo, seconds)) for photo, seconds in photos.items()]
    results = await asyncio.gather(*tasks)
    return dict(zip(photos, results))
''',
    },
}

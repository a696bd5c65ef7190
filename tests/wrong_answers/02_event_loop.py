"""Typical wrong answers for 02_event_loop: each must score 0 on its own exercise."""

WRONG = {
    "load_page": {
        "sequential_awaits": '''
async def load_page(fetch_profile, fetch_news, render_layout):
    profile = await fetch_profile()
    news = await fetch_news()
    layout = await render_layout()
    return [profile, news, layout]
''',
        "await_right_after_create_task": '''
async def load_page(fetch_profile, fetch_news, render_layout):
    profile = await asyncio.create_task(fetch_profile())
    news = await asyncio.create_task(fetch_news())
    layout = await render_layout()
    return [profile, news, layout]
''',
        "layout_before_tasks": '''
async def load_page(fetch_profile, fetch_news, render_layout):
    layout = await render_layout()
    profile_task = asyncio.create_task(fetch_profile())
    news_task = asyncio.create_task(fetch_news())
    return [await profile_task, await news_task, layout]
''',
        "tasks_never_awaited": '''
async def load_page(fetch_profile, fetch_news, render_layout):
    profile_task = asyncio.create_task(fetch_profile())
    news_task = asyncio.create_task(fetch_news())
    layout = await render_layout()
    return [profile_task, news_task, layout]
''',
        "plain_gather": '''
async def load_page(fetch_profile, fetch_news, render_layout):
    return list(await asyncio.gather(fetch_profile(), fetch_news(), render_layout()))
''',
    },
    "prediction": {
        "tasks_start_at_create_task": '''
prediction = ["A start", "B start", "main waits for A", "B end", "A end",
              "main waits for B", "main done"]
predicted_seconds = 0.3
''',
        "tasks_run_only_when_awaited": '''
prediction = ["main waits for A", "A start", "A end", "main waits for B", "B start", "B end",
              "main done"]
predicted_seconds = 0.4
''',
        "await_order_is_finish_order": '''
prediction = ["main waits for A", "A start", "B start", "A end", "B end",
              "main waits for B", "main done"]
predicted_seconds = 0.3
''',
        "right_order_summed_time": '''
prediction = ["main waits for A", "A start", "B start", "B end", "A end",
              "main waits for B", "main done"]
predicted_seconds = 0.4
''',
        "float_that_equals_anything": '''
class Seconds(float):
    def __sub__(self, other):
        return 0.0

    def __rsub__(self, other):
        return 0.0


prediction = ["main waits for A", "A start", "B start", "B end", "A end",
              "main waits for B", "main done"]
predicted_seconds = Seconds(9)
''',
    },
    "fetch_reports": {
        "blocking_call_in_coroutine": '''
async def fetch_reports(fetch_report, names):
    return [fetch_report(name) for name in names]
''',
        "called_before_to_thread": '''
async def fetch_reports(fetch_report, names):
    return [await asyncio.to_thread(fetch_report(name)) for name in names]
''',
        "one_thread_at_a_time": '''
async def fetch_reports(fetch_report, names):
    return [await asyncio.to_thread(fetch_report, name) for name in names]
''',
        "two_thread_pool": '''
import concurrent.futures


async def fetch_reports(fetch_report, names):
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return list(await asyncio.gather(
            *(loop.run_in_executor(pool, fetch_report, name) for name in names)))
''',
    },
    "resize_all": {
        "await_in_loop": '''
async def resize_all(resize_photo, photos):
    results = {}
    for photo, seconds in photos.items():
        results[photo] = await asyncio.create_task(resize_photo(photo, seconds))
    return results
''',
        "returns_tasks": '''
async def resize_all(resize_photo, photos):
    return {photo: asyncio.create_task(resize_photo(photo, seconds))
            for photo, seconds in photos.items()}
''',
        "fire_and_forget_then_sleep": '''
async def resize_all(resize_photo, photos):
    results = {}

    async def one(photo, seconds):
        results[photo] = await resize_photo(photo, seconds)

    for photo, seconds in photos.items():
        asyncio.create_task(one(photo, seconds))  # no reference kept
    await asyncio.sleep(max(photos.values(), default=0))
    return {photo: results.get(photo) for photo in photos}
''',
        "fire_and_forget_then_poll": '''
async def resize_all(resize_photo, photos):
    results = {}

    async def one(photo, seconds):
        results[photo] = await resize_photo(photo, seconds)

    for photo, seconds in photos.items():
        asyncio.create_task(one(photo, seconds))  # no reference kept
    while len(results) < len(photos):
        await asyncio.sleep(0.01)
    return {photo: results[photo] for photo in photos}
''',
    },
}

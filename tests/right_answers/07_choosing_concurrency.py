"""Right answers for 07_choosing_concurrency other than the instructor's: each must score full
marks on its own exercise (written the way students write them, helpers bound early included)."""

RIGHT = {
    "choices": {
        "built_key_by_key": '''
CHOICES = {}
CHOICES["invoices"] = "threads"      # a blocking SDK: a worker thread
CHOICES["thumbnails"] = "processes"  # pure-Python computing: other cores
CHOICES["prices"] = "asyncio"        # an async library: the event loop
''',
    },
    "score_all": {
        "partial_bound_early": '''
import functools
from asyncio import gather, get_running_loop


async def score_all(texts, score, pool):
    in_pool = functools.partial(get_running_loop().run_in_executor, pool, score)
    return list(await gather(*map(in_pool, texts)))
''',
        "task_group": '''
async def score_all(texts, score, pool, get_loop=asyncio.get_running_loop):
    loop = get_loop()

    async def one(text):
        return await loop.run_in_executor(pool, score, text)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(text)) for text in texts]
    return [task.result() for task in tasks]
''',
    },
    "process_pages": {
        "stage_by_stage": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    loop = asyncio.get_running_loop()
    pages = await asyncio.gather(*(fetch(page_id) for page_id in page_ids))
    records = await asyncio.gather(*(loop.run_in_executor(pool, parse, html) for html in pages))
    return list(await asyncio.gather(*(asyncio.to_thread(save, record) for record in records)))
''',
        "task_group_and_default_executor": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    loop = asyncio.get_running_loop()

    async def one(page_id):
        html = await fetch(page_id)
        record = await loop.run_in_executor(pool, parse, html)
        return await loop.run_in_executor(None, save, record)

    async with asyncio.TaskGroup() as tg:
        tasks = [tg.create_task(one(page_id)) for page_id in page_ids]
    return [task.result() for task in tasks]
''',
        "partials_bound_early": '''
from functools import partial
from asyncio import gather, to_thread


async def process_pages(page_ids, fetch, parse, save, pool):
    parse_in_pool = partial(asyncio.get_running_loop().run_in_executor, pool, parse)
    save_in_thread = partial(to_thread, save)

    async def one(page_id):
        return await save_in_thread(await parse_in_pool(await fetch(page_id)))

    return [row for row in await gather(*map(one, page_ids))]
''',
    },
}

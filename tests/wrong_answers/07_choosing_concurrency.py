"""Typical wrong answers for 07_choosing_concurrency: each must score 0 on its own exercise."""


def _choices(prices, thumbnails, invoices):
    return (f'CHOICES = {{"prices": "{prices}", "thumbnails": "{thumbnails}", '
            f'"invoices": "{invoices}"}}\n')


WRONG = {
    "choices": {
        # computing in threads: the GIL lets one thread compute at a time
        "threads_for_computing": _choices("asyncio", "threads", "threads"),
        # the SDK's connection cannot be pickled
        "processes_for_the_sdk": _choices("asyncio", "processes", "processes"),
        # a blocking SDK called in the event loop's thread
        "asyncio_for_the_sdk": _choices("asyncio", "processes", "asyncio"),
        # everything in the event loop: the computation blocks it
        "all_asyncio": _choices("asyncio", "asyncio", "asyncio"),
        # an async library run in threads: nothing runs its coroutines
        "all_threads": _choices("threads", "threads", "threads"),
        "all_processes": _choices("processes", "processes", "processes"),
        "swapped": _choices("asyncio", "threads", "processes"),
        "not_a_model": _choices("async", "processes", "threads"),
    },
    "score_all": {
        "called_in_the_coroutine": '''
async def score_all(texts, score, pool):
    return [score(text) for text in texts]
''',
        "to_thread": '''
async def score_all(texts, score, pool):
    return list(await asyncio.gather(*(asyncio.to_thread(score, text) for text in texts)))
''',
        "default_executor": '''
async def score_all(texts, score, pool):
    loop = asyncio.get_running_loop()
    return list(await asyncio.gather(*(loop.run_in_executor(None, score, text) for text in texts)))
''',
        "one_at_a_time": '''
async def score_all(texts, score, pool):
    loop = asyncio.get_running_loop()
    return [await loop.run_in_executor(pool, score, text) for text in texts]
''',
        "pool_map_blocks_the_loop": '''
async def score_all(texts, score, pool):
    return list(pool.map(score, texts))
''',
        "submit_then_result": '''
async def score_all(texts, score, pool):
    futures = [pool.submit(score, text) for text in texts]
    return [future.result() for future in futures]
''',
        "a_pool_of_its_own": '''
async def score_all(texts, score, pool):
    loop = asyncio.get_running_loop()
    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as own:
        return list(await asyncio.gather(*(loop.run_in_executor(own, score, text)
                                           for text in texts)))
''',
    },
    "process_pages": {
        "everything_in_the_loop": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    async def one(page_id):
        html = await fetch(page_id)
        return save(parse(html))

    return list(await asyncio.gather(*(one(page_id) for page_id in page_ids)))
''',
        "parse_in_threads": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    async def one(page_id):
        html = await fetch(page_id)
        record = await asyncio.to_thread(parse, html)
        return await asyncio.to_thread(save, record)

    return list(await asyncio.gather(*(one(page_id) for page_id in page_ids)))
''',
        "save_in_the_pool": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    loop = asyncio.get_running_loop()

    async def one(page_id):
        html = await fetch(page_id)
        record = await loop.run_in_executor(pool, parse, html)
        return await loop.run_in_executor(pool, save, record)

    return list(await asyncio.gather(*(one(page_id) for page_id in page_ids)))
''',
        "save_blocks_the_loop": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    loop = asyncio.get_running_loop()

    async def one(page_id):
        html = await fetch(page_id)
        record = await loop.run_in_executor(pool, parse, html)
        return save(record)

    return list(await asyncio.gather(*(one(page_id) for page_id in page_ids)))
''',
        "one_page_at_a_time": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    loop = asyncio.get_running_loop()
    rows = []
    for page_id in page_ids:
        html = await fetch(page_id)
        record = await loop.run_in_executor(pool, parse, html)
        rows.append(await asyncio.to_thread(save, record))
    return rows
''',
        "parses_one_at_a_time": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    loop = asyncio.get_running_loop()
    pages = await asyncio.gather(*(fetch(page_id) for page_id in page_ids))
    records = [await loop.run_in_executor(pool, parse, html) for html in pages]
    return list(await asyncio.gather(*(asyncio.to_thread(save, r) for r in records)))
''',
        "to_thread_given_the_result": '''
async def process_pages(page_ids, fetch, parse, save, pool):
    loop = asyncio.get_running_loop()

    async def one(page_id):
        html = await fetch(page_id)
        record = await loop.run_in_executor(pool, parse, html)
        return await asyncio.to_thread(save(record))

    return list(await asyncio.gather(*(one(page_id) for page_id in page_ids)))
''',
    },
}

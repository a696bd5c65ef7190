"""asynclab: helpers the asyncio course notebooks import."""

"""Index new documents: a driver lists them and fans batches out to embedding workers, then stores the index.

Both environments reuse their containers. The durations are a real job's, in seconds,
times SECOND: 0.01 runs it at `reuse-ref run --time-scale 0.01` (a policy second lasts
0.01 s); on Flyte, set SECOND = 1.
"""
import asyncio

import flyte

SECOND = 0.01  # wall seconds per second of the real job

workers = flyte.TaskEnvironment(
    name="worker",
    resources=flyte.Resources(cpu=2, memory="4Gi"),
    reusable=flyte.ReusePolicy(replicas=(0, 3), concurrency=2, idle_ttl=600, scaledown_ttl=120),
)
driver = flyte.TaskEnvironment(
    name="driver",
    resources=flyte.Resources(cpu=1, memory="1Gi"),
    reusable=flyte.ReusePolicy(replicas=(1, 2), concurrency=4, idle_ttl=600, scaledown_ttl=120),
    depends_on=[workers],
)


@workers.task
async def embed(batch: int) -> int:
    await asyncio.sleep(90 * SECOND)  # a model embeds one batch of chunks: about 90 s
    return 100 + batch  # the batch's vectors, here a count


@workers.task
async def store(vectors: int) -> int:
    await asyncio.sleep(20 * SECOND)  # write the index: about 20 s
    return vectors


@driver.task
async def index(batches: int = 6) -> int:
    await asyncio.sleep(10 * SECOND)  # list the new documents and cut them into batches: about 10 s
    vectors = await asyncio.gather(*[embed(b) for b in range(batches)])
    return await store(sum(vectors))

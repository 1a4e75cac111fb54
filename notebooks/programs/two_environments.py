"""Two environments: a driver without reuse fans work out to a small autoscaling pool."""
import asyncio

import flyte

workers = flyte.TaskEnvironment(
    name="embedder",
    resources=flyte.Resources(cpu=1, memory="500Mi"),
    reusable=flyte.ReusePolicy(replicas=(1, 3), concurrency=2, idle_ttl=120, scaledown_ttl=30),
)
driver = workers.clone_with(name="driver", reusable=None, depends_on=[workers])


@workers.task
async def embed(doc: int) -> int:
    await asyncio.sleep(0.2)  # stands in for a model call
    return doc % 7


@driver.task
async def index(docs: int = 12) -> int:
    with flyte.group("embed"):
        vectors = await asyncio.gather(*[embed(d) for d in range(docs)])
    return sum(vectors)

"""Runs of the program with the recommended policies (index_recommended.py, which tutorial 18 writes), each
started at its time (slice.json), on the reference's runtime: `reuse-ref run slice_runs.py`. A harness for
that runtime (it reads the runtime's clock), not a program for Flyte."""
import asyncio
import json

import flyte
from reuse_ref.flyte.session import runtime  # the harness's one line of reuse_ref: the runtime's clock

from index_recommended import SECOND, index

SLICE = json.load(open("slice.json"))  # {"starts": [policy seconds], "batches": N, "one_after_another": bool}


async def start(at):
    await asyncio.sleep(max(0.0, at - runtime().now()) * SECOND)  # at policy second `at` of the runtime's clock
    return await flyte.run.aio(index, batches=SLICE["batches"])


async def main():
    if SLICE["one_after_another"]:
        return [await flyte.run.aio(index, batches=SLICE["batches"]) for _ in SLICE["starts"]]
    return await asyncio.gather(*[start(at) for at in SLICE["starts"]])


if __name__ == "__main__":
    flyte.init()
    asyncio.run(main())

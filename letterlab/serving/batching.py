"""Micro-batching: requests that arrive together go through one forward pass.

A small model answers one image in a few milliseconds, most of it fixed per-call cost; 32 images
cost little more. So the server queues each request's images, and one worker takes everything
queued (up to `max_images`), runs one forward pass on a thread of its own (the event loop keeps
accepting requests meanwhile) and hands each request its rows. An idle server answers at once; under
load, the next batch gathers while the last one runs, so throughput rises with load. `window` > 0
also waits that long for company before each pass (more batching, more latency)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np


class MicroBatcher:
    """`await predict(images)` -> probabilities (N, classes), sharing forward passes with other callers."""

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], window: float = 0.0, max_images: int = 256,
                 batch_independent: bool = True):
        self.forward, self.window, self.max_images = forward, window, max_images
        # A model whose output for an image depends on the others in its batch (batch norm with the
        # batch's statistics) must see each request alone, as `letterlab predict` would.
        self.batch_independent = batch_independent
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="letterlab-forward")
        self.queue: asyncio.Queue | None = None
        self.worker: asyncio.Task | None = None

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            await asyncio.gather(self.worker, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def predict(self, images: np.ndarray) -> np.ndarray:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((images, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            count, deadline = len(batch[0][0]), loop.time() + self.window
            while self.batch_independent and count < self.max_images:
                try:
                    if not self.queue.empty() or deadline <= loop.time():
                        item = self.queue.get_nowait()
                    else:
                        item = await asyncio.wait_for(self.queue.get(), deadline - loop.time())
                except (TimeoutError, asyncio.QueueEmpty):
                    break
                batch.append(item)
                count += len(item[0])
            await self._answer(batch, loop)

    async def _answer(self, batch: list[tuple[np.ndarray, asyncio.Future]], loop) -> None:
        try:
            probabilities = await loop.run_in_executor(self.executor, self.forward, np.concatenate([images for images, _ in batch]))
        except Exception as error:  # every waiting request gets the error instead of hanging
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            return
        start = 0
        for images, future in batch:
            if not future.done():  # the client may have gone away
                future.set_result(probabilities[start:start + len(images)])
            start += len(images)

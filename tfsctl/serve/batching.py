"""Request batching (--enable_batching), after TF Serving's batching session.

Concurrent runs of the same signature of the same loaded version are queued
and merged along the 0th dimension into one session run of at most
`max_batch_size` rows: a batch closes when it is full or `batch_timeout_micros`
after its first request arrived, is padded up to the next
`allowed_batch_sizes` entry by repeating its first row (as TF Serving pads),
runs on one of `num_batch_threads` threads, and its outputs are split back
to the requests. A request larger than `max_batch_size` is refused, and a
queue holding `max_enqueued_batches` full batches refuses more, with TF
Serving's messages. Requests whose inputs have different non-batch shapes
are never merged with each other.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from tfsctl.serve.configfiles import Batching
from tfsctl.servingapi.status import Code, ServingError, invalid

Run = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass
class _Task:
    inputs: dict[str, np.ndarray]
    size: int
    shapes: tuple[tuple[str, tuple[int, ...]], ...]
    future: Future = field(default_factory=Future)


@dataclass
class _Queue:
    run: Run
    tasks: deque[_Task] = field(default_factory=deque)
    ready: threading.Condition = field(default_factory=threading.Condition)
    rows: int = 0


class Batcher:
    def __init__(self, params: Batching):
        self.params = params
        self._pool = ThreadPoolExecutor(params.num_batch_threads, thread_name_prefix="batch")
        self._queues: dict[Hashable, _Queue] = {}
        self._lock = threading.Lock()

    def run(self, key: Hashable, run: Run, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`run(inputs)`, merged with other requests under the same `key` (same version and
        signature and outputs, so that `run` is the same computation for all of them)."""
        if not inputs or any(v.ndim == 0 for v in inputs.values()):
            raise invalid("Batching session Run() input tensors must have at least one dimension")
        sizes = {int(v.shape[0]) for v in inputs.values()}
        if len(sizes) != 1:
            raise invalid("Batching session Run() input tensors must have equal 0th-dimension size")
        size = sizes.pop()
        limit = self.params.max_batch_size
        if size > limit:
            raise invalid(f"Task size {size} is larger than maximum input batch size {limit}")
        task = _Task(inputs, size, tuple(sorted((k, v.shape[1:]) for k, v in inputs.items())))
        queue = self._queue(key, run)
        with queue.ready:
            if queue.rows + size > limit * self.params.max_enqueued_batches:
                raise ServingError(Code.UNAVAILABLE, "The batch scheduling queue to which this task "
                                                     "was submitted is full")
            queue.tasks.append(task)
            queue.rows += size
            queue.ready.notify_all()
        return task.future.result()

    def _queue(self, key: Hashable, run: Run) -> _Queue:
        with self._lock:
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = _Queue(run)
                threading.Thread(target=self._form_batches, args=(queue,), daemon=True,
                                 name="batch-scheduler").start()
            return queue

    def _form_batches(self, queue: _Queue) -> None:
        timeout = self.params.batch_timeout_micros / 1e6
        while True:
            with queue.ready:
                queue.ready.wait_for(lambda: queue.tasks)
                first = queue.tasks[0]
                deadline = time.monotonic() + timeout
                while True:  # wait for the batch to fill up, or for its timeout
                    fitting = sum(t.size for t in queue.tasks if t.shapes == first.shapes)
                    left = deadline - time.monotonic()
                    if fitting >= self.params.max_batch_size or left <= 0:
                        break
                    queue.ready.wait(left)
                batch, rows = [], 0
                for task in list(queue.tasks):
                    if task.shapes == first.shapes and rows + task.size <= self.params.max_batch_size:
                        batch.append(task)
                        rows += task.size
                        queue.tasks.remove(task)
                queue.rows -= rows
            self._pool.submit(self._process, queue.run, batch, rows)

    def _padded(self, rows: int) -> int:
        return next((size for size in self.params.allowed_batch_sizes if size >= rows), rows)

    def _process(self, run: Run, batch: list[_Task], rows: int) -> None:
        padding = self._padded(rows) - rows
        merged = {}
        for name in batch[0].inputs:
            parts = [task.inputs[name] for task in batch]
            if padding:
                parts.append(np.repeat(parts[0][:1], padding, axis=0))
            merged[name] = np.concatenate(parts)
        try:
            outputs = run(merged)
            for name, value in outputs.items():
                if np.ndim(value) == 0 or value.shape[0] != rows + padding:
                    raise ServingError(Code.FAILED_PRECONDITION,
                                       f"Batched output tensor {name}'s 0th dimension does not "
                                       "equal the sum of the 0th dimension sizes of the input "
                                       "tensors")
        except Exception as exc:  # noqa: BLE001 - every request of the batch gets the failure
            for task in batch:
                task.future.set_exception(exc)
            return
        offset = 0
        for task in batch:
            task.future.set_result({k: v[offset:offset + task.size] for k, v in outputs.items()})
            offset += task.size

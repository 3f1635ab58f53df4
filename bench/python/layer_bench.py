#!/usr/bin/python3
"""channels_redis 4 side of the layer benchmark (bench/layer.ts runs it).

Usage: /usr/bin/python3 bench/python/layer_bench.py '<json>'
with {"url": ..., "prefix": ..., "workload": {...}}, the workload objects of
bench/lib/workloads.ts. Prints one JSON object on stdout: {"runtime": ...,
"result": ...}, result shaped like WorkloadResult.

Only /usr/bin/python3 has channels_redis (Debian's python3-channels-redis).

The closed loop, the receive loops and the counting mirror bench/lib/closed-loop.ts
and bench/lib/gredis-runner.ts so that the two figures are comparable: keep them
in step.
"""

import asyncio
import json
import os
import platform
import sys
import time
import traceback

import channels_redis
import msgpack
import redis
from channels_redis.core import RedisChannelLayer

# When nothing completes for this long, the run is stuck: fail it.
STALL_SECONDS = 20
# How many group joins run at once during setup (not timed).
JOIN_BATCH = 200


class ClosedLoop:
    """`window` units in flight end to end: a unit takes a credit when issued and
    returns it when the receiving side calls complete() for it."""

    def __init__(self, window):
        self.window = window
        self.credits = asyncio.Semaphore(window)
        self.issued = 0
        self.completed = 0
        self.drained = None
        self.failed = asyncio.get_running_loop().create_future()
        self.tasks = set()

    def complete(self):
        self.completed += 1
        self.credits.release()
        if self.drained is not None and self.completed == self.issued:
            if not self.drained.done():
                self.drained.set_result(None)

    def fail(self, error):
        if not self.failed.done():
            self.failed.set_exception(error)

    async def run(self, issue, units=None, seconds=None):
        watchdog = asyncio.create_task(self._watch())
        driver = asyncio.create_task(self._drive(issue, units, seconds))
        try:
            await asyncio.wait({driver, self.failed}, return_when=asyncio.FIRST_COMPLETED)
            if self.failed.done():
                driver.cancel()
                self.failed.result()
            return driver.result()
        finally:
            watchdog.cancel()

    async def _drive(self, issue, units, seconds):
        started = time.perf_counter()
        deadline = float("inf") if seconds is None else started + seconds
        max_units = float("inf") if units is None else units
        while self.issued < max_units:
            await self.credits.acquire()
            # Checked after waiting for a credit, so the last unit is not issued late.
            if time.perf_counter() >= deadline:
                self.credits.release()
                break
            self.issued += 1
            task = asyncio.create_task(issue())
            # Held here because asyncio keeps only weak references to running tasks.
            self.tasks.add(task)
            task.add_done_callback(self._issued_done)
        if self.completed < self.issued:
            self.drained = asyncio.get_running_loop().create_future()
            await self.drained
        return {"units": self.completed, "seconds": time.perf_counter() - started}

    def _issued_done(self, task):
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.fail(task.exception())

    async def _watch(self):
        last = -1
        last_progress = time.perf_counter()
        while True:
            await asyncio.sleep(1)
            if self.completed != last:
                last = self.completed
                last_progress = time.perf_counter()
            elif time.perf_counter() - last_progress > STALL_SECONDS:
                self.fail(
                    RuntimeError(
                        f"no progress for {STALL_SECONDS} s: issued {self.issued}, "
                        f"completed {self.completed}"
                    )
                )
                return


def count_round_trips(layer):
    """Counts the commands and pipelines the layer's connection to host 0 sends:
    the channels_redis counterpart of Gredis's layer.stats.roundTrips (one host)."""
    connection = layer.connection(0)
    counter = {"round_trips": 0}
    execute_command = connection.execute_command
    make_pipeline = connection.pipeline

    async def counted_execute_command(*args, **options):
        counter["round_trips"] += 1
        return await execute_command(*args, **options)

    def counted_pipeline(*args, **options):
        pipe = make_pipeline(*args, **options)
        execute = pipe.execute

        async def counted_execute(*a, **k):
            counter["round_trips"] += 1
            return await execute(*a, **k)

        pipe.execute = counted_execute
        return pipe

    connection.execute_command = counted_execute_command
    connection.pipeline = counted_pipeline
    return counter


def make_layer(url, prefix):
    return RedisChannelLayer(hosts=[url], prefix=prefix)


def receive_loop(layer, channel, handle, on_error, tasks):
    """Receives on `channel` until cancelled, as a consumer or worker does."""

    async def loop():
        while True:
            message = await layer.receive(channel)
            handle(message)

    task = asyncio.create_task(loop())

    def done(t):
        if not t.cancelled() and t.exception() is not None:
            on_error(t.exception())

    task.add_done_callback(done)
    # Held here because asyncio keeps only weak references to running tasks.
    tasks.append(task)


def message_text(length):
    base = "The quick brown fox jumps over the lazy dog. "
    return (base * (length // len(base) + 1))[:length]


def summarise(operations, deliveries, seconds, round_trips, skipped):
    return {
        "operations": operations,
        "deliveries": deliveries,
        "seconds": seconds,
        "deliveriesPerSecond": deliveries / seconds,
        "operationsPerSecond": operations / seconds,
        "roundTripsPerOperation": round_trips / operations if operations else 0,
        "skipped": skipped,
    }


async def warm_then_time(state, workload, issue, counter):
    """Issues workload["warmup"] units untimed on state["loop"], then times
    workload["seconds"] on a fresh loop put in its place (a loop counts from its
    first unit; the receivers complete units on whichever loop state holds): the
    result is of the timed part alone. gredis-runner.ts's warmThenTime does the
    same for Gredis."""
    await state["loop"].run(issue, units=workload["warmup"])

    state["loop"] = ClosedLoop(workload["window"])
    deliveries_before = state["deliveries"]
    round_trips_before = counter["round_trips"]
    timed = await state["loop"].run(issue, seconds=workload["seconds"])
    return summarise(
        timed["units"],
        state["deliveries"] - deliveries_before,
        timed["seconds"],
        counter["round_trips"] - round_trips_before,
        0,
    )


async def run_send(url, prefix, workload, tasks):
    sender = make_layer(url, prefix)
    receiver = make_layer(url, prefix)
    if workload["channel"] == "plain":
        channel = "bench.requests"
    else:
        channel = await receiver.new_channel("bench")
    message = {"type": "websocket.receive", "text": message_text(workload["textLength"])}
    state = {"loop": ClosedLoop(workload["window"]), "deliveries": 0}

    def handle(received):
        if received.get("type") != "websocket.receive":
            state["loop"].fail(RuntimeError(f"unexpected message {received!r}"))
            return
        state["deliveries"] += 1
        state["loop"].complete()

    receive_loop(receiver, channel, handle, lambda e: state["loop"].fail(e), tasks)

    async def send():
        await sender.send(channel, message)

    return await warm_then_time(state, workload, send, count_round_trips(sender))


async def run_group(url, prefix, workload, tasks):
    sender = make_layer(url, prefix)
    receivers = [make_layer(url, prefix) for _ in range(workload["processes"])]
    group = f"room-{workload['members']}"
    members = []
    for i in range(workload["members"]):
        layer = receivers[i % len(receivers)]
        if workload["memberKind"] == "specific":
            channel = await layer.new_channel("bench")
        else:
            channel = f"bench.member{i}"
        members.append((layer, channel))
    for i in range(0, len(members), JOIN_BATCH):
        await asyncio.gather(
            *(layer.group_add(group, channel) for layer, channel in members[i : i + JOIN_BATCH])
        )

    state = {"loop": ClosedLoop(workload["window"]), "deliveries": 0, "next_seq": 0}
    # Members still to receive each group send, by its sequence number.
    pending = {}

    def handle(received):
        seq = received.get("seq")
        if not isinstance(seq, int) or received.get("type") != "chat.message":
            state["loop"].fail(RuntimeError(f"unexpected message {received!r}"))
            return
        state["deliveries"] += 1
        left = pending.get(seq)
        if left is None:
            state["loop"].fail(RuntimeError(f"delivery of unknown or finished group send #{seq}"))
        elif left > 1:
            pending[seq] = left - 1
        else:
            del pending[seq]
            state["loop"].complete()

    for layer, channel in members:
        receive_loop(layer, channel, handle, lambda e: state["loop"].fail(e), tasks)

    text = message_text(workload["textLength"])

    async def group_send():
        seq = state["next_seq"]
        state["next_seq"] += 1
        # Registered before sending: a member may receive before group_send returns.
        pending[seq] = len(members)
        # channels_redis does not report members skipped as full (it only logs
        # them); a loss shows up as a stall of the closed loop instead.
        await sender.group_send(group, {"type": "chat.message", "text": text, "seq": seq})

    return await warm_then_time(state, workload, group_send, count_round_trips(sender))


def runtime():
    return {
        "python": platform.python_version(),
        "channels_redis": channels_redis.__version__,
        "redis_py": redis.__version__,
        "hiredis": bool(getattr(redis.utils, "HIREDIS_AVAILABLE", False)),
        "msgpack": ".".join(str(part) for part in msgpack.version),
    }


async def main(args):
    workload = args["workload"]
    tasks = []
    runner = run_send if workload["kind"] == "send" else run_group
    try:
        result = await runner(args["url"], args["prefix"], workload, tasks)
    except Exception:
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.write(json.dumps({"runtime": runtime(), "result": result}) + "\n")
    sys.stdout.flush()
    # Receivers sit in BZPOPMIN with channels_redis's 5 s timeout, and cancelling a
    # blocked redis-py command is not clean; the figures are out and bench/layer.ts
    # flushes the keys, so leave without asyncio.run's wait for every task.
    os._exit(0)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: layer_bench.py '<json args>'")
    asyncio.run(main(json.loads(sys.argv[1])))

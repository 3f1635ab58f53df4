"""Drives channels_redis 4 for test/layer-interop.test.ts (wire compatibility).

Run with Debian's interpreter, the only one that can import channels_redis:

    /usr/bin/python3 test/python/interop.py '<json command>'

The command is one JSON object (argv[1], or stdin when there is no argument):

    {"action": ..., "url": "redis://...", "hosts"?: [url, ...], "prefix": "...",
     "keys": ["secret"]?, "options"?: {...}, "token_clock_offset"?: seconds, ...}

"hosts", when given, are the layer's hosts (sharding) in place of "url";
"options" are more RedisChannelLayer arguments (capacity, channel_capacity,
expiry, group_expiry); "token_clock_offset" moves the clock Fernet stamps its
tokens with (a sender whose clock is ahead or behind).

actions:
    send        {"channel" | "channels": [...], "messages": [...], "count_full"?}
                sends each, in order, to each channel in turn; with "count_full"
                a ChannelFull is no error and "sent" lists the refused messages'
                indexes as "full"
    group_send  {"group", "message"}  also reports {"event": "sent"}
    group_add   {"group", "channels": [...]}, group_discard likewise, and flush
                {}: each reports {"event": "done"}
    listen      {"channel"? | "new_channels": n, "groups"?: [...], "count"?: 1,
                 "expect"?: [message, ...], "echo_to"?: channel,
                 "then_send"?: {"channel", "message"}}
                makes its channels, adds them to the groups, reports ready, does
                then_send, then receives `count` (default: one per expected)
                messages on each channel, round by round, reporting each,
                comparing round i with expect[i] strictly (types too) and sending
                it back unchanged to `echo_to` when given. With "report_errors",
                a receive that raises is reported as {"event": "receive_error",
                "error"} and counts as that round's message (what a consumer
                sees: the message is gone).

Output: one JSON object per line: {"event": "ready", "channels": [...]},
{"event": "received", "channel", "message", "same"?, "difference"?},
{"event": "sent"}, or {"event": "error", "error"} (exit status 1).

Bytes travel through JSON as {"__bytes__": "<base64>"}, the non-finite floats
JSON cannot carry as {"__float__": "inf" | "-inf" | "nan"}, and integers beyond
±2^53 (which JavaScript's JSON.parse would round) as {"__int__": "<digits>"}, and
a dict whose keys are not all str (bytes keys) as {"__map__": [[key, value], ...]};
the tags exist only here and in the test, never on the wire.
"""

import asyncio
import base64
import time
import types
import json
import math
import sys
import traceback

import cryptography.fernet
from channels.exceptions import ChannelFull
from channels_redis.core import RedisChannelLayer

BYTES_TAG = "__bytes__"
FLOAT_TAG = "__float__"
INT_TAG = "__int__"
MAP_TAG = "__map__"
SAFE_INTEGER = 2**53 - 1


def from_json(value):
    """JSON (with the bytes tag) to the Python values channels_redis carries."""
    if isinstance(value, dict):
        if set(value) == {BYTES_TAG}:
            return base64.b64decode(value[BYTES_TAG])
        if set(value) == {INT_TAG}:
            return int(value[INT_TAG])
        if set(value) == {MAP_TAG}:
            return {from_json(key): from_json(item) for key, item in value[MAP_TAG]}
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def to_json(value):
    if isinstance(value, float) and not math.isfinite(value):
        # Plain JSON has no inf/nan; a broken float must still reach the report.
        return {FLOAT_TAG: repr(value)}
    if isinstance(value, bytes):
        return {BYTES_TAG: base64.b64encode(value).decode("ascii")}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER:
        return {INT_TAG: str(value)}
    if isinstance(value, dict):
        return {key: to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    return value


def difference(got, want, path="message"):
    """Where `got` and `want` differ, or None.

    Stricter than ==, which would accept 1 == 1.0 == True and so hide a decoder
    that turned an int into a float or a bool into an int.
    """
    if type(got) is not type(want):
        return f"{path}: {type(got).__name__} {got!r} != {type(want).__name__} {want!r}"
    if isinstance(want, dict):
        if set(got) != set(want):
            return f"{path}: keys {sorted(got)} != {sorted(want)}"
        for key in want:
            found = difference(got[key], want[key], f"{path}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(want, list):
        if len(got) != len(want):
            return f"{path}: length {len(got)} != {len(want)}"
        for index, (g, w) in enumerate(zip(got, want)):
            found = difference(g, w, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if got == want else f"{path}: {got!r} != {want!r}"


def report(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def make_layer(command):
    offset = command.get("token_clock_offset")
    if offset:
        # Only Fernet's clock: the scores channels_redis gives stay the real time.
        cryptography.fernet.time = types.SimpleNamespace(time=lambda: time.time() + offset)
    return RedisChannelLayer(
        hosts=command.get("hosts") or [command["url"]],
        prefix=command["prefix"],
        symmetric_encryption_keys=command.get("keys") or None,
        **command.get("options", {}),
    )


async def listen(layer, command):
    if "channel" in command:
        channels = [command["channel"]]
    else:
        channels = [await layer.new_channel() for _ in range(command["new_channels"])]
    for group in command.get("groups", []):
        for channel in channels:
            await layer.group_add(group, channel)
    report("ready", channels=channels)
    then_send = command.get("then_send")
    if then_send:
        await layer.send(then_send["channel"], from_json(then_send["message"]))
    expected = from_json(command.get("expect", []))
    for round_ in range(command.get("count", len(expected) or 1)):
        for channel in channels:
            try:
                message = await layer.receive(channel)
            except Exception as error:
                if not command.get("report_errors"):
                    raise
                report("receive_error", channel=channel, error=f"{type(error).__name__}: {error}")
                continue
            fields = {"channel": channel, "message": to_json(message)}
            if expected:
                found = difference(message, expected[round_])
                fields["same"] = found is None
                if found:
                    fields["difference"] = found
            report("received", **fields)
            if "echo_to" in command:
                await layer.send(command["echo_to"], message)


async def run(command):
    layer = make_layer(command)
    try:
        action = command["action"]
        if action == "send":
            refused = []
            for channel in command.get("channels") or [command["channel"]]:
                for index, message in enumerate(from_json(command["messages"])):
                    try:
                        await layer.send(channel, message)
                    except ChannelFull:
                        if not command.get("count_full"):
                            raise
                        refused.append(index)
            report("sent", **({"full": refused} if command.get("count_full") else {}))
        elif action == "group_send":
            await layer.group_send(command["group"], from_json(command["message"]))
            report("sent")
        elif action in ("group_add", "group_discard"):
            for channel in command["channels"]:
                await getattr(layer, action)(command["group"], channel)
            report("done")
        elif action == "flush":
            await layer.flush()
            report("done")
        elif action == "listen":
            await listen(layer, command)
        else:
            raise ValueError(f"unknown action {action!r}")
    finally:
        # The backup-queue cleaners run as detached tasks; let them finish so no
        # stray "$inflight" entry outlives the process.
        await layer.close_pools()


def main():
    # The JSON helpers recurse two frames per level (comprehensions are frames):
    # the default 1000 stops short of the 511 levels msgpack packs.
    sys.setrecursionlimit(10_000)
    text = sys.argv[1] if len(sys.argv) > 1 else sys.stdin.read()
    try:
        asyncio.run(run(json.loads(text)))
    except Exception as error:  # reported to the test rather than as a bare traceback
        traceback.print_exc()
        report("error", error=f"{type(error).__name__}: {error}")
        sys.exit(1)


if __name__ == "__main__":
    main()

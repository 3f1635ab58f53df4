"""Runs a command in a pseudo-terminal and plays a script against it, for tests.

Usage: /usr/bin/python3 pty_drive.py '<json>' where the JSON is
  {"argv": [...], "env": {...}, "cwd": "...", "steps": [{"expect": "text", "send": "text"}, ...],
   "timeout": seconds}
Each step waits until `expect` appears in the terminal output after the previous
match, then types `send`. Prints JSON {"output": all terminal output, "status": exit
status, "timed_out": bool, "echo_off_at": [...]}; `echo_off_at` records, for each
step, whether the terminal's ECHO flag was off when `send` was typed.
"""
import json
import os
import pty
import select
import sys
import termios
import time


def main():
    spec = json.loads(sys.argv[1])
    timeout = float(spec.get("timeout", 20))
    env = dict(os.environ)
    env.update(spec.get("env", {}))
    pid, fd = pty.fork()
    if pid == 0:
        if spec.get("cwd"):
            os.chdir(spec["cwd"])
        os.execvpe(spec["argv"][0], spec["argv"], env)
    output = b""
    matched = 0
    deadline = time.monotonic() + timeout
    timed_out = False
    echo_off = []

    def read_some(wait):
        nonlocal output
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            return True
        try:
            data = os.read(fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        output += data
        return True

    alive = True
    for step in spec.get("steps", []):
        needle = step["expect"].encode()
        while alive and output.find(needle, matched) == -1:
            if time.monotonic() > deadline:
                timed_out = True
                break
            alive = read_some(0.05)
        if timed_out or not alive:
            break
        matched = output.find(needle, matched) + len(needle)
        # Give the program a moment to settle into its read (e.g. raw mode) before typing.
        time.sleep(0.05)
        echo_off.append(not (termios.tcgetattr(fd)[3] & termios.ECHO))
        os.write(fd, step["send"].encode())
    while alive and not timed_out:
        if time.monotonic() > deadline:
            timed_out = True
            break
        alive = read_some(0.05)
    if timed_out:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({
        "output": output.decode("utf-8", "replace"),
        "status": code,
        "timed_out": timed_out,
        "echo_off_at": echo_off,
    }))


main()

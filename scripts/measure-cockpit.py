#!/usr/bin/env python3
"""Measures the cockpit the way a terminal sees it.

Runs the real binary in a pseudo-terminal of 80x24 and reports:
  * time to the first frame: from spawning the process to the first byte
    of the header (" helmsman") arriving on the terminal;
  * bytes written to the terminal per second while watching;
  * CPU used by the process (user + system, % of one core) over the window.

Usage: scripts/measure-cockpit.py BINARY [SECONDS]
It measures `helmsman demo` (a live world: releases, load, metrics twice a
second) and `helmsman --config config.example.toml` (nothing runs: nothing
changes but the clock).
"""

import fcntl
import os
import pty
import select
import struct
import sys
import tempfile
import termios
import time

HEADER = b" helmsman"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of the whole line.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def measure(argv, seconds, env):
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(argv[0], argv, env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    started = time.monotonic()
    first_frame = None
    seen = b""
    counted = 0
    window_start = cpu_start = None
    deadline = started + 30
    while True:
        now = time.monotonic()
        if first_frame is not None and now - window_start >= seconds:
            break
        if first_frame is None and now > deadline:
            raise SystemExit(f"no frame within 30 s from {argv}")
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if first_frame is None:
            seen += chunk
            if HEADER in seen:
                first_frame = time.monotonic() - started
                # The window starts after the first frame (which paints the
                # whole screen once) and a 2 s settling period.
                time.sleep(2)
                while select.select([fd], [], [], 0)[0]:
                    os.read(fd, 65536)
                window_start = time.monotonic()
                cpu_start = cpu_seconds(pid)
        else:
            counted += len(chunk)
    elapsed = time.monotonic() - window_start
    cpu = cpu_seconds(pid) - cpu_start
    os.write(fd, b"q")
    time.sleep(0.5)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    return first_frame, counted / elapsed, 100 * cpu / elapsed


def main():
    binary = os.path.abspath(sys.argv[1])
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
    state = tempfile.mkdtemp()
    env = dict(os.environ, HELMSMAN_STATE_DIR=state, TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    runs = [
        ("helmsman demo (live world)", [binary, "demo"]),
        ("helmsman over config.example.toml (idle)", [binary, "--config", "config.example.toml"]),
    ]
    print(f"cockpit at 80x24, {seconds:.0f} s window after the first frame, {os.cpu_count()} CPU(s)")
    print()
    print("| run | first frame | bytes/s to the terminal | CPU (% of one core) |")
    print("|---|---:|---:|---:|")
    for label, argv in runs:
        first, rate, cpu = measure(argv, seconds, env)
        print(f"| {label} | {first * 1000:.0f} ms | {rate:.0f} | {cpu:.1f} % |")
    print()
    print("targets: first frame < 200 ms, < 2 KB/s while watching the demo, < 1 % CPU while nothing changes")
    print("(the demo's CPU includes its whole world: sample services, data planes, load, engines)")


if __name__ == "__main__":
    main()

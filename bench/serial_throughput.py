"""Frames per second through SerialTransport against a bare pyserial read loop, on the same pty.

    python bench/serial_throughput.py [--frames 20000] [--rounds 5]

A writer process owns the pty master and writes JT/T 808 frames (the public 2019 0x0200
test vector from xtream-codec, 58 bytes) as fast as the pty takes them. The reader side
opens the pty slave with pyserial and feeds every chunk to a JT/T 808 Deframer:

- baseline: a bare loop in the main thread with the same read strategy as the transport
  (take all of `in_waiting` if anything waits, else block in `read(1)` with a 0.2 s timeout
  and then take what arrived with it), nothing else;
- transport: SerialTransport (its own reader thread, that strategy, plus its counters,
  callback dispatch and stop checks) with the Deframer in its `on_data`.

Both arms read the same frames from the same pty, decode them with the same Deframer and
stop the clock at the last frame decoded; the arms alternate for several rounds. The headline
ratio compares each arm's best run (the one least disturbed by other load on a shared
machine); the ratio of medians is printed next to it. A second comparison without the Deframer (raw bytes only) shows
the transport's own overhead with nothing else in the way. Prints the ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import serial  # noqa: E402

from drivers.jt808 import Deframer  # noqa: E402
from drivers.serial_transport import SerialTransport  # noqa: E402

# xtream-codec test data, 2019 header, 0x0200 location report (see /shared/REFERENCES.md)
FRAME = bytes.fromhex(
    "7e02004026010000000001391234432900000000006f0000001601dc9a0707456246007b004200032501292233440202006401040000000c417e"
)
READ_TIMEOUT = 0.2


def writer_main(master_fd: int, commands: Connection) -> None:
    """Child process: on each command `n`, write n frames into the pty master as fast as it takes them."""
    while True:
        n = commands.recv()
        if n is None:
            return
        block = FRAME * 256
        full, rest = divmod(n, 256)
        for _ in range(full):
            view = memoryview(block)
            while view:
                view = view[os.write(master_fd, view):]
        view = memoryview(FRAME * rest)
        while view:
            view = view[os.write(master_fd, view):]


class Counter:
    """Counts frames (through a Deframer) or raw bytes, and notes when the target is reached."""

    def __init__(self, target: int, decode: bool) -> None:
        self.target = target
        self.done = threading.Event()
        self.end = 0.0
        self.count = 0
        self.deframer = Deframer() if decode else None

    def feed(self, data: bytes) -> None:
        if self.deframer is not None:
            self.count += len(self.deframer.feed(data))
        else:
            self.count += len(data)
        if self.count >= self.target and not self.done.is_set():
            self.end = time.perf_counter()
            self.done.set()


@dataclass
class Bench:
    slave_path: str
    commands: Connection

    def run_baseline(self, frames: int, decode: bool) -> float:
        counter = Counter(frames if decode else frames * len(FRAME), decode)
        port = serial.serial_for_url(self.slave_path, baudrate=115200, timeout=READ_TIMEOUT)
        try:
            start = time.perf_counter()
            self.commands.send(frames)
            feed = counter.feed
            while not counter.done.is_set():
                waiting = port.in_waiting
                if waiting:
                    feed(port.read(waiting))
                    continue
                data = port.read(1)
                if data:
                    waiting = port.in_waiting
                    feed(data + port.read(waiting) if waiting else data)
        finally:
            port.close()
        return self._rate(frames, counter, start)

    def run_transport(self, frames: int, decode: bool) -> float:
        counter = Counter(frames if decode else frames * len(FRAME), decode)
        transport = SerialTransport(self.slave_path, counter.feed, read_timeout=READ_TIMEOUT)
        transport.start()
        try:
            if not transport.wait_connected(5):
                raise RuntimeError(f"transport did not open {self.slave_path}: {transport.stats().last_error}")
            start = time.perf_counter()
            self.commands.send(frames)
            if not counter.done.wait(120):
                raise RuntimeError(f"transport got {counter.count} of {counter.target} in 120 s")
        finally:
            transport.stop()
        return self._rate(frames, counter, start)

    @staticmethod
    def _rate(frames: int, counter: Counter, start: float) -> float:
        if counter.deframer is not None:
            stats = counter.deframer.stats
            if stats.frames != frames or stats.bad_frame_total:
                raise RuntimeError(f"decoded {stats.frames} of {frames} frames, {stats.bad_frame_total} bad")
        return frames / (counter.end - start)


def compare(bench: Bench, frames: int, rounds: int, decode: bool, say: Callable[[str], None]) -> tuple[float, float]:
    """Alternate the arms `rounds` times each; print both and return (best-run ratio, median ratio)."""
    base: list[float] = []
    trans: list[float] = []
    for i in range(rounds):
        # alternate which arm goes first so drift (other load on the machine) hits both
        arms = [("b", bench.run_baseline), ("t", bench.run_transport)]
        for tag, arm in arms if i % 2 == 0 else arms[::-1]:
            (base if tag == "b" else trans).append(arm(frames, decode))
    what = "frames/s (read + JT/T 808 Deframer)" if decode else f"frames/s (raw bytes / {len(FRAME)}, no decoding)"
    say(f"{what}:")
    for name, rates in (("baseline, bare pyserial loop", base), ("SerialTransport", trans)):
        say(f"  {name:<29}: best {max(rates):>10,.0f}  median {statistics.median(rates):>10,.0f}"
            f"   runs {', '.join(f'{x:,.0f}' for x in rates)}")
    best = max(trans) / max(base)
    median = statistics.median(trans) / statistics.median(base)
    say(f"  ratio transport / baseline   : best-run {best:.2f}, median {median:.2f}")
    return best, median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000, help="frames per measured run with decoding")
    parser.add_argument("--raw-frames", type=int, default=400_000, help="frames per measured run without decoding")
    parser.add_argument("--rounds", type=int, default=5, help="runs per arm (alternating); medians are compared")
    args = parser.parse_args(argv)

    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    slave_path = os.ttyname(slave)
    ctx = mp.get_context("fork")
    parent_end, child_end = ctx.Pipe()
    writer = ctx.Process(target=writer_main, args=(master, child_end), daemon=True)
    writer.start()
    began = time.perf_counter()
    try:
        bench = Bench(slave_path, parent_end)
        bench.run_baseline(1000, True)  # warm-up: imports, caches, pty buffers
        bench.run_transport(1000, True)
        print(f"serial throughput on a pty ({slave_path}), frames of {len(FRAME)} B, {args.rounds} runs per arm "
              f"(alternating), writer in its own process; {args.frames:,} frames per run decoded, "
              f"{args.raw_frames:,} raw")
        ratio, median = compare(bench, args.frames, args.rounds, True, print)
        raw_ratio, raw_median = compare(bench, args.raw_frames, args.rounds, False, print)
        verdict = "meets" if ratio >= 0.8 else "BELOW"
        print(f"RATIO {ratio:.2f} frames/s through SerialTransport vs a bare pyserial loop, with decoding, best run "
              f"of each arm (median {median:.2f}; raw bytes {raw_ratio:.2f}, median {raw_median:.2f}); "
              f"{verdict} the aim of 0.80; took {time.perf_counter() - began:.1f} s")
    finally:
        parent_end.send(None)
        writer.join(5)
        os.close(slave)
        os.close(master)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

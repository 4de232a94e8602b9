"""Shared by the benchmark scripts: interleaved rounds, wall and CPU time, medians, load.

Every benchmark measures its baseline and ours *in alternating rounds in one process tree*
(round 1: baseline, ours; round 2: ours, baseline; ...), at least 3 rounds, so that a
change in machine load hits both sides alike; it reports wall and CPU seconds per round and
their medians, and the machine's load average before and after (the machines these run on
are shared: read the load next to the figures). CPU seconds are those of this process and
of its children that have ended (worker pools, subprocesses).
"""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

MIN_ROUNDS = 3


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its ended children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def machine_load() -> dict[str, Any]:
    """Load averages (1, 5, 15 min) and the number of CPUs."""
    one, five, fifteen = os.getloadavg()
    return {"load_1m": round(one, 2), "load_5m": round(five, 2), "load_15m": round(fifteen, 2),
            "cpus": os.cpu_count()}


def print_load(when: str) -> dict[str, Any]:
    load = machine_load()
    print(f"machine load {when}: {load['load_1m']} / {load['load_5m']} / {load['load_15m']} "
          f"(1/5/15 min) on {load['cpus']} CPUs")
    return load


@dataclass
class Timing:
    """Wall and CPU seconds of each round of one variant, and the last round's result."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    result: Any = None

    @property
    def wall_median(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def as_dict(self, units: float | None = None, unit: str = "items") -> dict[str, Any]:
        """Per-round and median seconds; with ``units``, the median rate ``<unit>_per_s``."""
        out: dict[str, Any] = {"wall_s": [round(x, 3) for x in self.wall], "cpu_s": [round(x, 3) for x in self.cpu],
                               "median_wall_s": round(self.wall_median, 3), "median_cpu_s": round(self.cpu_median, 3)}
        if units is not None:
            out[f"{unit}_per_s"] = round(units / self.wall_median, 1)
        return out


@dataclass
class Reported:
    """What a variant returns when it times its measured part itself (e.g. a subprocess
    that leaves out its start-up): used instead of the round's own wall and CPU time."""

    result: Any
    wall: float
    cpu: float


def measure(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(fn(), wall seconds, CPU seconds)``."""
    w, c = time.perf_counter(), cpu_seconds()
    result = fn()
    return result, time.perf_counter() - w, cpu_seconds() - c


def interleave(variants: dict[str, Callable[[], Any]], rounds: int = MIN_ROUNDS,
               verbose: bool = True) -> dict[str, Timing]:
    """Run every variant once per round, in alternating order (reversed every other
    round), ``rounds`` >= 3 times; return each variant's :class:`Timing` (a variant may
    return :class:`Reported` to give its own timing)."""
    if rounds < MIN_ROUNDS:
        raise ValueError(f"at least {MIN_ROUNDS} rounds, got {rounds}")
    names: Sequence[str] = list(variants)
    out = {name: Timing() for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else list(reversed(names))):
            result, wall, cpu = measure(variants[name])
            if isinstance(result, Reported):
                result, wall, cpu = result.result, result.wall, result.cpu
            t = out[name]
            t.wall.append(wall)
            t.cpu.append(cpu)
            t.result = result
            if verbose:
                print(f"  round {r + 1}/{rounds} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    return out


def ratio(baseline: Timing, ours: Timing, baseline_units: float = 1, ours_units: float = 1) -> dict[str, float]:
    """Speed-up of ours over the baseline from the medians, per unit of work when the two
    process different amounts (``*_units``: rows, sentences...), in wall and CPU seconds,
    and the smallest and largest per-round wall ratio (rounds paired in order)."""
    scale = ours_units / baseline_units
    per_round = [b / o * scale for b, o in zip(baseline.wall, ours.wall) if o > 0]
    cpu = baseline.cpu_median / ours.cpu_median * scale if ours.cpu_median > 0 else float("inf")
    return {"wall": round(baseline.wall_median / ours.wall_median * scale, 2), "cpu": round(cpu, 2),
            "wall_min_round": round(min(per_round), 2), "wall_max_round": round(max(per_round), 2)}

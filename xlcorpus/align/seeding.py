"""Reproducible eflomal runs, one call at a time, without process-wide state.

eflomal 2.0's sampler takes no seed: each direction reads 8 bytes from ``/dev/urandom``
with ``fopen`` (``random_system_state`` in its ``random.c``) and splits per-sampler states
from them in the order OpenMP threads ask. :func:`eflomal_command` returns the command
line and environment of *one* run of eflomal's own, unmodified binary such that its
output is a function of (input, options, seed):

- it runs in a private mount namespace of an unprivileged user namespace
  (``unshare --user --map-root-user --mount``) where a file holding the seed's 8 bytes is
  bind-mounted over ``/dev/urandom``: only that process sees it, whatever C library it
  uses and however it opens the device;
- its environment (passed to that one subprocess, ``os.environ`` is not touched) sets
  ``OMP_NUM_THREADS=1``, so samplers take their states in a fixed order.

Nothing is compiled, preloaded or loaded from a cache, nothing is locked: any number of
seeded runs may go at once. Where user namespaces are disabled (some containers, a kernel
setting) runs are not repeatable and a warning says so once.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)
MOUNT_SEED = 'mount --bind "$0" /dev/urandom && exec "$@"'


def eflomal_binary() -> str:
    """The eflomal executable installed with the ``eflomal`` package."""
    import eflomal

    return str(Path(eflomal.__file__).with_name("bin") / "eflomal")


@functools.cache
def can_seed() -> bool:
    """Whether this machine lets an unprivileged process mount over ``/dev/urandom`` in its
    own namespace (checked once per process, by doing it)."""
    unshare, sh = shutil.which("unshare"), shutil.which("sh")
    if unshare is None or sh is None or shutil.which("mount") is None:
        return False
    probe = [unshare, "--user", "--map-root-user", "--mount", "--", sh, "-c",
             MOUNT_SEED, "/dev/null", "head", "-c", "1", "/dev/urandom"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0 and done.stdout == b""  # /dev/null served as /dev/urandom


@functools.cache
def _warn_unseeded() -> None:
    log.warning("user namespaces are not available here: eflomal runs are not reproducible")


def eflomal_command(args: list[str], seed: int | None, workdir: str | Path) -> tuple[list[str], dict[str, str]]:
    """Command line and environment running eflomal with ``args``; with ``seed`` (and
    :func:`can_seed`), seeded. The seed file is written to ``workdir``."""
    env = dict(os.environ)
    argv = [eflomal_binary(), *args]
    if seed is None:
        return argv, env
    env["OMP_NUM_THREADS"] = "1"
    if not can_seed():
        _warn_unseeded()
        return argv, env
    seed_file = Path(workdir) / "seed"
    seed_file.write_bytes((seed % (1 << 64)).to_bytes(8, "little"))
    wrapped = [shutil.which("unshare") or "unshare", "--user", "--map-root-user", "--mount", "--",
               shutil.which("sh") or "sh", "-c", MOUNT_SEED, str(seed_file), *argv]
    return wrapped, env


def run_eflomal(args: list[str], seed: int | None, workdir: str | Path,
                on_line: Callable[[str], None] | None = None) -> None:
    """Run eflomal once (see :func:`eflomal_command`), passing each line it writes on stderr
    to ``on_line`` as it comes (and to the DEBUG log); its error output is in the exception."""
    argv, env = eflomal_command(args, seed, workdir)
    tail: deque[str] = deque(maxlen=20)
    with subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors="replace") as proc:
        for line in proc.stderr:
            line = line.rstrip("\n")
            tail.append(line)
            log.debug("eflomal: %s", line)
            if on_line is not None:
                on_line(line)
    if proc.returncode != 0:
        raise RuntimeError(f"eflomal failed (exit {proc.returncode}): {chr(10).join(tail).strip()[-500:]}")

"""Reproducible eflomal runs.

eflomal seeds its Gibbs samplers from ``/dev/urandom`` and its OpenMP samplers draw in a
thread-dependent order, so two runs on the same input differ. :func:`seeded` runs the
eflomal binary with

- ``LD_PRELOAD`` of a tiny shim (``seeded_urandom.c``, compiled once with the system C
  compiler into ``$XDG_CACHE_HOME/xlcorpus/``) that serves ``/dev/urandom`` from a
  SplitMix64 stream of the given seed, and
- ``OMP_NUM_THREADS=1`` (samplers run one after the other),

which makes its output a function of (input, options, seed). Without a C compiler the run is
not reproducible and a warning says so. The environment is process-wide, so calls are
serialised by a lock (eflomal runs inside one ``align_pairs`` run one after the other).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("seeded_urandom.c")
_LOCK = threading.Lock()
_ENV_KEYS = ("LD_PRELOAD", "XLCORPUS_EFLOMAL_SEED", "OMP_NUM_THREADS")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "xlcorpus"


def shim_path() -> Path | None:
    """The compiled shim (built on first use); None when no C compiler is available."""
    code = SOURCE.read_bytes()
    target = _cache_dir() / f"seeded-urandom-{hashlib.blake2b(code, digest_size=8).hexdigest()}.so"
    if target.exists():
        return target
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        log.warning("no C compiler found: eflomal runs will not be reproducible")
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so")
    os.close(fd)
    done = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", tmp, str(SOURCE), "-ldl", "-lpthread"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        os.unlink(tmp)
        log.warning("could not build the eflomal seeding shim (%s): runs will not be reproducible",
                    done.stderr.strip()[:300])
        return None
    os.replace(tmp, target)
    return target


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[bool]:
    """Run the enclosed eflomal call reproducibly with ``seed``; yields whether it could."""
    shim = shim_path()
    with _LOCK:
        saved = {k: os.environ.get(k) for k in _ENV_KEYS}
        if shim is not None:
            preload = os.environ.get("LD_PRELOAD")
            os.environ["LD_PRELOAD"] = f"{shim}:{preload}" if preload else str(shim)
            os.environ["XLCORPUS_EFLOMAL_SEED"] = str(seed % (1 << 64))
            os.environ["OMP_NUM_THREADS"] = "1"
        try:
            yield shim is not None
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

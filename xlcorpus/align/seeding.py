"""Reproducible eflomal runs.

eflomal seeds its Gibbs samplers from ``/dev/urandom`` and its OpenMP samplers draw in a
thread-dependent order, so two runs on the same input differ. :func:`seeded` runs the
eflomal binary with

- ``LD_PRELOAD`` of a tiny shim (``seeded_urandom.c``, compiled once with the system C
  compiler into the user's cache folder, :func:`xlcorpus.trust.cache_dir`; it is loaded
  only from a file and folder nobody else can write, else built in a fresh private
  temporary folder) that serves ``/dev/urandom`` from a
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

from ..trust import cache_dir, private_folder, trusted, untrusted_reason

log = logging.getLogger(__name__)
SOURCE = Path(__file__).with_name("seeded_urandom.c")
_LOCK = threading.Lock()
_ENV_KEYS = ("LD_PRELOAD", "XLCORPUS_EFLOMAL_SEED", "OMP_NUM_THREADS")


_TMP: list[tempfile.TemporaryDirectory] = []  # private build folders, removed at exit


def _build_dir() -> Path:
    """The cache folder if only this user can write it, else a private temporary folder."""
    folder = cache_dir()
    why = private_folder(folder)
    if why is None:
        return folder
    log.warning("not using %s for the eflomal seeding shim (%s): building it in a private "
                "temporary folder", folder, why)
    if not _TMP:
        _TMP.append(tempfile.TemporaryDirectory(prefix="xlcorpus-shim-"))
    return Path(_TMP[0].name)


def shim_path() -> Path | None:
    """The compiled shim (built on first use); None when no C compiler is available."""
    code = SOURCE.read_bytes()
    target = _build_dir() / f"seeded-urandom-{hashlib.blake2b(code, digest_size=8).hexdigest()}.so"
    if target.exists():
        if trusted(target):
            return target
        log.warning("not loading %s (%s): building it again", target, untrusted_reason(target))
        target.unlink(missing_ok=True)
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        log.warning("no C compiler found: eflomal runs will not be reproducible")
        return None
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so")
    os.close(fd)
    done = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", tmp, str(SOURCE), "-ldl", "-lpthread"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        os.unlink(tmp)
        log.warning("could not build the eflomal seeding shim (%s): runs will not be reproducible",
                    done.stderr.strip()[:300])
        return None
    os.chmod(tmp, 0o700)
    os.replace(tmp, target)
    return target if trusted(target) else None


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

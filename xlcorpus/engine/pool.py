"""A small process pool for the local engine: ordered results, loud failures, clean exits.

Why not ``concurrent.futures.ProcessPoolExecutor``: its feeder and manager threads can
block interpreter exit after Ctrl-C, its workers outlive a killed parent, and a worker whose
initializer fails surfaces as ``BrokenProcessPool`` instead of the error itself. Here:

- each worker is a spawned process with one duplex pipe; a task is sent only to an idle
  worker, so a send never blocks behind a busy one (no threads at all in the parent);
- a worker runs ``init(*initargs)`` once; an exception there (a model that cannot load) is
  sent back and re-raised in the parent as that exception. A pool can be started before its
  ``init`` is known (:meth:`Pool.setup` sends it later): its workers import ``preload``
  modules meanwhile, so process start-up overlaps the caller's own work;
- a task's exception is re-raised in the parent with the worker's traceback as its cause;
- workers die with their parent: ``PR_SET_PDEATHSIG`` on Linux, and a watchdog thread in
  the worker that exits when the parent process is gone (every platform);
- :meth:`Pool.close` on error or Ctrl-C kills the workers at once (no draining), so the
  caller is back within a fraction of a second whatever the workers are doing.
"""

from __future__ import annotations

import ctypes
import importlib
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.connection import Connection, wait
from typing import Any

from ..errors import WorkerError

_PARENT_POLL_S = 0.5
_OK, _ERR, _SETUP_ERR = "ok", "err", "setup_err"
_LATER = "later"  # init: sent by Pool.setup once the caller has it


class RemoteTraceback(Exception):
    """The worker-side traceback, attached as ``__cause__`` of an error raised in the parent."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os._exit(1)
            time.sleep(_PARENT_POLL_S)

    threading.Thread(target=watch, daemon=True, name="xlcorpus-parent-watch").start()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a WorkerError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        return WorkerError(f"{type(exc).__name__}: {exc}")


def _worker_main(conn: Connection, parent: int, init: Callable[..., None] | str | None, initargs: tuple,
                 preload: tuple[str, ...] = ()) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _die_with_parent(parent)
    try:
        for name in preload:  # a head start only: what fails here is imported (and fails) later
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001
                pass
        if init == _LATER:
            try:
                init, initargs = conn.recv()
            except EOFError:
                return
        if callable(init):
            init(*initargs)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send((_SETUP_ERR, _portable(exc), "".join(traceback.format_exception(exc))))
        conn.close()
        return
    conn.send((_OK, None, None))
    while True:
        try:
            task = conn.recv()
        except EOFError:
            break
        if task is None:
            break
        fn, args = task
        try:
            result = (_OK, fn(*args), None)
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            result = (_ERR, _portable(exc), "".join(traceback.format_exception(exc)))
        try:
            conn.send(result)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            conn.send((_ERR, WorkerError(f"cannot send a result back: {exc}"), ""))
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    # Models and lookup tables of millions of objects take seconds to free, for nothing:
    # the parent has every result, leave without tearing the heap down.
    os._exit(0)


class Pool:
    """``workers`` spawned processes running ``init(*initargs)`` once, then tasks in order."""

    def __init__(self, workers: int, init: Callable[..., None] | None = None, initargs: tuple = (),
                 preload: tuple[str, ...] = (), later: bool = False):
        """With ``later``, the workers import ``preload`` and wait for :meth:`setup`."""
        ctx = mp.get_context("spawn")
        self._later = later
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        try:
            for _ in range(workers):
                ours, theirs = ctx.Pipe(duplex=True)
                proc = ctx.Process(target=_worker_main,
                                   args=(theirs, os.getpid(), _LATER if later else init, initargs, preload),
                                   daemon=True, name="xlcorpus-worker")
                proc.start()
                theirs.close()
                self._procs.append(proc)
                self._conns.append(ours)
            self._ready = [False] * workers
        except BaseException:
            self.close()
            raise

    @property
    def size(self) -> int:
        """The number of workers."""
        return len(self._procs)

    def setup(self, init: Callable[..., None], initargs: tuple = ()) -> None:
        """Send a pool started with ``later`` its workers' ``init(*initargs)``."""
        if not self._later:
            raise RuntimeError("this pool was given its init when it started")
        self._later = False
        for w, conn in enumerate(self._conns):
            try:
                conn.send((init, initargs))
            except (OSError, ValueError):
                raise self._died(w) from None

    def map(self, fn: Callable[..., Any], tasks: Iterable[tuple], window: int | None = None,
            passthrough: Callable[[Any], bool] | None = None) -> Iterator[Any]:
        """``fn(*task)`` for every task, results yielded in task order.

        At most ``window`` (default 2 x workers) tasks are ahead of the oldest unfinished
        one. Items for which ``passthrough(item)`` is true are not tasks: they are yielded
        as they are, in order.
        """
        n = len(self._procs)
        window = window or 2 * n
        idle: deque[int] = deque()
        busy: dict[int, int] = {}  # worker -> sequence number of its task
        waiting: deque[tuple[int, tuple]] = deque()  # tasks read but not sent
        done: dict[int, Any] = {}
        source = iter(tasks)
        seq = next_out = 0
        exhausted = False

        def fill() -> None:
            """Read tasks while the window allows and send them to idle workers."""
            nonlocal seq, exhausted
            while not exhausted and len(waiting) < n and seq - next_out < window:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                if passthrough is not None and passthrough(item):
                    done[seq] = item
                else:
                    waiting.append((seq, item))
                seq += 1
            while idle and waiting:
                w = idle.popleft()
                s, args = waiting.popleft()
                self._conns[w].send((fn, args))
                busy[w] = s

        self._await_ready(idle)
        while True:
            fill()
            while next_out in done:
                yield done.pop(next_out)
                next_out += 1
                fill()  # the window moved: idle workers get work before the next result waits
            if exhausted and not waiting and not busy and next_out == seq:
                return
            if not busy:
                continue
            for w, value in self._receive(busy):
                done[busy.pop(w)] = value
                idle.append(w)

    def _await_ready(self, idle: deque[int]) -> None:
        pending = {w for w, ok in enumerate(self._ready) if not ok}
        while pending:
            for w, _ in self._receive({w: -1 for w in pending}):
                self._ready[w] = True
                pending.discard(w)
        idle.extend(range(len(self._procs)))

    def _receive(self, busy: dict[int, int]) -> Iterator[tuple[int, Any]]:
        conns = {self._conns[w]: w for w in busy}
        sentinels = {self._procs[w].sentinel: w for w in busy}
        for ready in wait(list(conns) + list(sentinels)):
            if ready in conns:
                w = conns[ready]
                try:
                    status, value, text = ready.recv()
                except EOFError:
                    raise self._died(w) from None
                if status != _OK:
                    where = "setting up a worker" if status == _SETUP_ERR else "on a worker"
                    raise value from RemoteTraceback(f"\n\n({where})\n{text}")
                yield w, value
            elif not self._conns[sentinels[ready]].poll():
                raise self._died(sentinels[ready])

    def _died(self, w: int) -> WorkerError:
        proc = self._procs[w]
        proc.join(timeout=1)
        code = proc.exitcode
        how = f"was killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        hint = " (out of memory?)" if code == -signal.SIGKILL else ""
        return WorkerError(f"a worker process {how}{hint} while running a task")

    def close(self, kill: bool = False) -> None:
        """Stop the workers: politely (they finish and exit) or, with ``kill``, at once."""
        for conn, proc in zip(self._conns, self._procs):
            if kill:
                proc.kill()
            else:
                try:
                    conn.send(None)
                except (OSError, ValueError):
                    proc.kill()
        deadline = time.monotonic() + (2 if kill else 30)
        for proc in self._procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=2)
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(kill=exc_type is not None)

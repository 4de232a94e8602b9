"""Atomicity under SIGKILL and behaviour of concurrent writers, with real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from xlcorpus.errors import ConflictError
from xlcorpus.schema import contract
from xlcorpus.store import Store

WRITER = textwrap.dedent("""
    import sys, time
    from xlcorpus.schema import contract
    from xlcorpus.store import Store
    root, lang, n, mode, delay, barrier, via = sys.argv[1:8]
    n, delay = int(n), float(delay)
    c = contract("bitext")
    def batches():
        for b in range(n):
            rows = [dict(id=f"{lang}-{b}-{i}", src_lang="en", tgt_lang=lang, src="s" * 50,
                         tgt="t" * 50, source=lang, line=b * 1000 + i) for i in range(1000)]
            yield c.batch(rows)
            if delay:
                time.sleep(delay)
    if barrier != "-":
        import pathlib
        while not pathlib.Path(barrier).exists():
            time.sleep(0.005)
    try:
        if via == "files":  # part files written first (in the bucket for s3://), then added as they are
            from xlcorpus.staging import Staging
            import os
            w = Staging(Store(root).ref(), f"w-{lang}-{os.getpid()}").writer("bitext", "w")
            for b in batches():
                w.add(b)
            v = Store(root).add_files("bitext", w.close(), mode=mode)
        else:
            v = Store(root).write("bitext", batches(), mode=mode)
        print("OK", v, flush=True)
    except Exception as exc:
        print("ERR", type(exc).__name__, exc, flush=True)
        sys.exit(3)
""")


def spawn(root, lang, n, mode="append", delay=0.0, barrier="-", via="write"):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), lang, str(n), mode, str(delay), barrier, via],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def seed(store: Store, n=5):
    rows = [dict(id=f"seed{i}", src_lang="en", tgt_lang="fr", src="a", tgt="b", source="s", line=i)
            for i in range(n)]
    store.write("bitext", contract("bitext").batch(rows))


def test_sigkill_mid_write_leaves_previous_version_intact(any_store):
    store = any_store
    seed(store)
    # 1000 rows per batch, 0.05 s between batches, a small target file size -> files appear early
    proc = spawn(store.root, "de", 10_000, delay=0.01)
    time.sleep(4.0)  # the writer is now streaming (it needs well over a minute to finish)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    fresh = Store(store.root)
    assert fresh.version("bitext") == 0
    table = fresh.to_arrow("bitext")
    assert table.num_rows == 5 and set(table.column("tgt_lang").to_pylist()) == {"fr"}
    assert fresh.sql("SELECT count(*) AS n FROM bitext").column("n")[0].as_py() == 5


@pytest.mark.parametrize("via", ["write", "files"])
def test_two_concurrent_appends_both_land_exactly_once(any_store, tmp_path, via):
    store = any_store
    seed(store)
    barrier = tmp_path / "go"
    a = spawn(store.root, "de", 20, barrier=str(barrier), via=via)
    b = spawn(store.root, "it", 20, barrier=str(barrier), via=via)
    time.sleep(1.0)
    barrier.touch()
    outs = [p.communicate(timeout=120)[0] for p in (a, b)]
    assert all(o.startswith("OK") for o in outs), outs
    table = Store(store.root).to_arrow("bitext")
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 5 + 2 * 20_000
    assert Store(store.root).version("bitext") == 2


def test_concurrent_merge_and_append_never_half_visible(any_store, tmp_path):
    store = any_store
    """A merge racing an append: both land, or the merge fails with ConflictError and none of
    its rows are visible."""
    seed(store)
    barrier = tmp_path / "go"
    merge = spawn(store.root, "de", 20, mode="merge", barrier=str(barrier))
    append = spawn(store.root, "it", 20, barrier=str(barrier))
    time.sleep(1.0)
    barrier.touch()
    m_out, a_out = merge.communicate(timeout=120)[0], append.communicate(timeout=120)[0]
    table = Store(store.root).to_arrow("bitext")
    langs = table.column("tgt_lang").to_pylist()
    ids = table.column("id").to_pylist()
    assert len(ids) == len(set(ids))
    for out, lang in ((m_out, "de"), (a_out, "it")):
        if out.startswith("OK"):
            assert langs.count(lang) == 20_000
        else:
            assert out.startswith("ERR ConflictError"), out
            assert langs.count(lang) == 0
    assert m_out.startswith("OK") or a_out.startswith("OK")


@pytest.mark.parametrize("via", ["write", "files"])
def test_identical_merges_into_a_fresh_store_at_once_leave_each_row_once(any_store, tmp_path, via):
    """Two writers creating the same table at the same instant: one creates it, the other
    merges into it (files) or fails with ConflictError (a stream cannot be read twice); never
    are both creations committed, one on top of the other. Repeated: the race is narrow."""
    for i in range(4):
        root = f"{any_store.root}/r{i}"
        barrier = tmp_path / f"go{i}"
        writers = [spawn(root, "de", 2, mode="merge", barrier=str(barrier), via=via) for _ in range(2)]
        time.sleep(1.5)
        barrier.touch()
        outs = [p.communicate(timeout=120)[0] for p in writers]
        assert all(o.startswith(("OK", "ERR ConflictError")) for o in outs), outs
        assert any(o.startswith("OK") for o in outs), outs
        if via == "files":
            assert all(o.startswith("OK") for o in outs), outs
        ids = Store(root).to_arrow("bitext").column("id").to_pylist()
        assert len(ids) == len(set(ids)) == 2000, (i, len(ids), outs)


def test_conflict_error_is_raised_in_process(store, monkeypatch):
    """A commit that loses the race surfaces as ConflictError with a clear message."""
    from deltalake.exceptions import CommitFailedError

    seed(store)

    def boom(*a, **k):
        raise CommitFailedError("Transaction failed: version already exists")

    monkeypatch.setattr("deltalake.write_deltalake", boom)
    with pytest.raises(ConflictError, match="another writer committed first.*nothing of this write is visible"):
        store.write("bitext", contract("bitext").batch([]))


def test_error_mode_on_an_existing_table_is_a_conflict(any_store):
    store = any_store
    """deltalake's ``DeltaError`` for a table that exists (mode ``error``) becomes ConflictError."""
    seed(store)
    before = store.version("bitext")
    with pytest.raises(ConflictError, match="created by another writer"):
        store.write("bitext", contract("bitext").batch([]), mode="error")
    assert store.version("bitext") == before

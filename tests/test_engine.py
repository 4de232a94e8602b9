from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest

from xlcorpus import pipeline as pl
from xlcorpus.engine import LocalEngine, Stage, Step
from xlcorpus.errors import XlcorpusError
from xlcorpus.sources.bitext import BitextImport, ToBitext, read_pairs
from xlcorpus.store import Store


def make_pairs(path: Path, n: int, bad_every: int = 0) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            if bad_every and i % bad_every == 0:
                fh.write(f"broken line {i}\n")
            else:
                fh.write(f"sentence number {i} ||| phrase numéro {i}\n")
    return path


class Explode(Stage):
    """Fails on any batch holding a record whose source text contains BOOM."""

    name = "explode"

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if any("BOOM" in s for s in batch.column("src").to_pylist()):
            raise ValueError("found BOOM")
        return batch


def step_for(path: Path, stages=None, batch_size=100) -> Step:
    return Step("import", read_pairs(path, "pipes", batch_size),
                (stages or []) + [ToBitext("en", "fr")], ["bitext"], dedupe={"bitext": "id"})


def table_rows(store: Store, table: str):
    return store.to_arrow(table).sort_by("id").to_pylist()


def test_workers_do_not_change_the_table(tmp_path):
    src = make_pairs(tmp_path / "p.txt", 3000, bad_every=97)
    one, two = Store(tmp_path / "one"), Store(tmp_path / "two")
    r1 = LocalEngine(workers=1, progress=False).run_step(step_for(src), one, "run", {})
    r2 = LocalEngine(workers=2, progress=False).run_step(step_for(src, batch_size=37), two, "run", {})
    assert r1.rows == r2.rows == {"bitext": 3000 - 31}
    assert r1.rejects == r2.rejects == 31
    assert table_rows(one, "bitext") == table_rows(two, "bitext")
    assert table_rows(one, "bitext_rejects") == table_rows(two, "bitext_rejects")


def test_a_bad_record_is_rejected_not_fatal(tmp_path, store):
    src = tmp_path / "p.txt"
    src.write_text("a ||| b\nBOOM here ||| x\nc ||| d\n", encoding="utf-8")
    step = dataclasses.replace(step_for(src, [Explode()]), max_reject_share=0.5)  # 1 of 3 records
    report = LocalEngine(progress=False).run_step(step, store, "run", {})
    assert report.rows["bitext"] == 2 and report.rejects == 1
    (rej,) = store.to_arrow("bitext_rejects").to_pylist()
    assert rej["position"] == 2 and rej["source"] == "p.txt" and rej["stage"] == "import"
    assert rej["reason"] == "ValueError: found BOOM" and "BOOM here" in rej["raw"]
    assert rej["run_id"] == "run"


def test_fail_fast_aborts_and_commits_nothing(tmp_path, store):
    src = tmp_path / "p.txt"
    src.write_text("a ||| b\nBOOM ||| x\n", encoding="utf-8")
    with pytest.raises(ValueError, match="BOOM"):
        LocalEngine(fail_fast=True, progress=False).run_step(step_for(src, [Explode()]), store, "run", {})
    assert store.tables() == []
    assert not (Path(store.root) / "_staging").exists()


def test_interrupt_commits_nothing_and_cleans_staging(tmp_path, store):
    src = make_pairs(tmp_path / "p.txt", 1000)
    LocalEngine(progress=False).run_step(step_for(src), store, "first", {})

    def interrupted():
        for i, item in enumerate(read_pairs(src, "pipes", 100)):
            if i == 3:
                raise KeyboardInterrupt
            yield item

    for workers in (1, 2):
        step = Step("import", interrupted(), [ToBitext("en", "de")], ["bitext"])
        with pytest.raises(KeyboardInterrupt):
            LocalEngine(workers=workers, progress=False).run_step(step, store, "second", {})
        assert store.version("bitext") == 0 and store.count("bitext") == 1000
        assert not (Path(store.root) / "_staging").exists()


def test_rerun_is_skipped_and_forced_rerun_does_not_duplicate(tmp_path, store):
    src = make_pairs(tmp_path / "p.txt", 200)
    pipe = BitextImport(src_lang="en", tgt_lang="fr", pairs=src)
    first = pl.run(pipe, store, LocalEngine(progress=False))
    again = pl.run(pipe, store, LocalEngine(progress=False))
    assert not first.steps[0].skipped and again.steps[0].skipped
    pl.run(pipe, store, LocalEngine(progress=False), force=True)
    assert store.count("bitext") == 200
    # a changed input is not skipped; only its new rows are added
    make_pairs(src, 250)
    changed = pl.run(pipe, store, LocalEngine(progress=False))
    assert not changed.steps[0].skipped and store.count("bitext") == 250


def test_workers_must_be_positive():
    with pytest.raises(XlcorpusError, match="at least 1"):
        LocalEngine(workers=0)


def _record_pid(path: str) -> None:
    import os

    Path(path, str(os.getpid())).write_text("ready")


def _module_loaded(name: str) -> bool:
    import sys

    return name in sys.modules


def test_a_pool_started_early_preloads_then_takes_its_init_later(tmp_path):
    from xlcorpus.engine.pool import Pool

    with Pool(2, preload=("xlcorpus.filters.neardup", "no_such_module_anywhere"), later=True) as pool:
        assert not list(tmp_path.iterdir())  # no init ran yet; a failing preload is not fatal
        pool.setup(_record_pid, (str(tmp_path),))
        loaded = list(pool.map(_module_loaded, [("xlcorpus.filters.neardup",)] * 4))
    assert loaded == [True] * 4
    assert len(list(tmp_path.iterdir())) == 2  # init ran once in each worker


def _meet(folder: str, me: int, partner: int | None) -> bool:
    """Mark task ``me`` started; wait (10 s at most) until ``partner`` has started too."""
    import time

    Path(folder, f"started-{me}").touch()
    if partner is None:
        return True
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if Path(folder, f"started-{partner}").exists():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.parametrize("window", [2, None])
def test_pool_keeps_every_worker_busy_within_the_window(tmp_path, window):
    """Tasks 2k and 2k+1 must run at the same time: each pair only finishes if its partner
    starts while it runs (once the first results are yielded, the window has room for both).
    A pool that read the next task before yielding left one of two workers idle."""
    from xlcorpus.engine.pool import Pool

    tasks = [(str(tmp_path), i, i ^ 1) for i in range(6)]
    with Pool(2) as pool:
        met = list(pool.map(_meet, tasks, window))
    assert met == [True] * 6


class _SetupFails(Stage):
    name = "setup_fails"

    def setup(self) -> None:
        raise RuntimeError("the model folder /nowhere does not exist")

    def __call__(self, batch):
        return batch


def test_a_stage_that_cannot_set_up_fails_the_step_with_its_own_error(tmp_path, store):
    step = step_for(make_pairs(tmp_path / "p.txt", 50), [_SetupFails()])
    with pytest.raises(RuntimeError, match="/nowhere does not exist"):
        LocalEngine(workers=2, progress=False).run_step(step, store, "run1", {})
    assert "bitext" not in store.tables()

"""The Ray engine gives the local engine's tables, for every pipeline in pipelines/.

One local Ray (2 CPUs, small object store) is started per test module.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from xlcorpus import pipeline as pl
from xlcorpus.engine import LocalEngine, Reject, Stage, Step
from xlcorpus.errors import PipelineError
from xlcorpus.sources.bitext import ToBitext, read_pairs
from xlcorpus.store import Store

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data")
from xlcorpus.engine.ray_engine import RayEngine, gpus_per_actor, init_ray, needs_actors  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PIPELINES = sorted((REPO / "pipelines").glob("*.yaml"))


@pytest.fixture(scope="module")
def ray_session():
    init_ray(2, object_store_mb=256, num_gpus=1)  # a logical GPU: actors that ask get one
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # test stages ship by value
    yield
    ray.shutdown()


def rows(store: Store, table: str) -> list[str]:
    """The table's rows, order-independent (nested values included)."""
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in store.to_arrow(table).to_pylist())


def ids(store: Store, table: str) -> list[str]:
    return sorted(store.to_arrow(table, columns=["id"]).column("id").to_pylist())


def assert_same_tables(a: Store, b: Store, tables: list[str]) -> None:
    for t in tables:
        assert a.read(t).schema == b.read(t).schema, t
        assert ids(a, t) == ids(b, t), t
        assert rows(a, t) == rows(b, t), t




class _Chain:
    """A store holding the outputs of the pipelines sorted before a given one (as the demo)."""

    def __init__(self, root: Path):
        self.store = root / "chain"
        self.done: set[Path] = set()

    def before(self, path: Path) -> Path:
        for p in PIPELINES:
            if p == path:
                return self.store
            if p not in self.done:
                pl.run(pl.load(p).pipeline, Store(self.store), LocalEngine(progress=False))
                self.done.add(p)
        raise AssertionError(path)

    def advance(self, path: Path, store_dir: Path) -> None:
        """``store_dir`` is the chain's store plus ``path``'s outputs (local engine): go on from it."""
        self.store = store_dir
        self.done.add(path)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    return _Chain(tmp_path_factory.mktemp("chain"))


@pytest.mark.parametrize("path", PIPELINES, ids=[p.stem for p in PIPELINES])
def test_every_pipeline_gives_the_same_tables(path, ray_session, chain, tmp_path):
    base = chain.before(path)
    stores = {}
    for name in ("local", "ray"):
        if base.exists():
            shutil.copytree(base, tmp_path / name)
        stores[name] = Store(tmp_path / name)
    spec = pl.load(path)
    local = pl.run(spec.pipeline, stores["local"], LocalEngine(progress=False))
    chain.advance(path, tmp_path / "local")
    remote = pl.run(pl.load(path).pipeline, stores["ray"], RayEngine(workers=2, progress=False))
    tables = sorted({t for s in local.steps for t in s.versions})
    assert tables and tables == sorted({t for s in remote.steps for t in s.versions})
    assert [s.step for s in local.steps] == [s.step for s in remote.steps]
    for t in tables:
        assert stores["local"].read(t).schema == stores["ray"].read(t).schema, t
    written = [s for s in remote.steps if not s.skipped]
    earlier = Store(base) if base.exists() else None   # tables an earlier pipeline wrote keep its commits
    assert written and all(stores["ray"].history(t)[0]["engine"] == "ray"
                           for s in written for t in s.versions
                           if earlier is None or not earlier.exists(t) or stores["ray"].version(t) > earlier.version(t))
    assert [s.input_rows for s in local.steps] == [s.input_rows for s in remote.steps]
    assert [s.rows for s in local.steps] == [s.rows for s in remote.steps]
    assert [s.rejects for s in local.steps] == [s.rejects for s in remote.steps]
    assert_same_tables(stores["local"], stores["ray"], tables)


# ------------------------------------------------------------ custom steps
def write_pairs(path: Path, n: int) -> Path:
    lines = []
    for i in range(n):
        if i % 41 == 0:
            lines.append(f"no separator {i}")
        elif i % 53 == 0:
            lines.append(f"BOOM {i} ||| boum {i}")
        else:
            lines.append(f"sentence {i % 300} ||| phrase {i % 300}")  # many duplicates
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Upper(Stage):
    """A stage with state loaded in setup() (runs as a Ray actor); rejects BOOM rows by raising."""

    name = "upper"

    def setup(self) -> None:
        self.table = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        src = batch.column("src").to_pylist()
        if any(s.startswith("BOOM") for s in src):
            raise ValueError("BOOM in the source")
        return batch.set_column(batch.schema.get_field_index("tgt"), "tgt",
                                pa.array([t.translate(self.table) for t in batch.column("tgt").to_pylist()]))


def crash(batch: pa.RecordBatch) -> pa.RecordBatch:
    raise RuntimeError("stage crashed")


class PartsReader:
    """A reader with ``parts()``: each file is read in its own Ray task."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def parts(self, workers=1):
        return [_Part(p) for p in self.paths]

    def __iter__(self):
        for part in self.parts():
            yield from part()


class _Part:
    def __init__(self, path: Path):
        self.path = path

    def __call__(self):
        return read_pairs(self.path, "pipes", batch_size=50)


def step(reader, stages) -> Step:
    return Step("import", reader, stages + [ToBitext("en", "fr")], ["bitext"], dedupe={"bitext": "id"})


def test_actor_stage_rejects_and_dedupe_match_local(ray_session, tmp_path):
    src = write_pairs(tmp_path / "p.txt", 1200)
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    assert needs_actors([Upper()]) and not needs_actors([ToBitext("en", "fr")])
    ra = LocalEngine(progress=False).run_step(step(read_pairs(src, "pipes", 64), [Upper()]), a, "r", {})
    rb = RayEngine(workers=2, progress=False).run_step(step(read_pairs(src, "pipes", 64), [Upper()]), b, "r", {})
    assert ra.rows == rb.rows and ra.rejects == rb.rejects and ra.duplicates == rb.duplicates
    bad = sum(1 for i in range(1200) if i % 41 == 0 or i % 53 == 0)
    assert ra.rejects == bad and ra.duplicates == 1200 - bad - 300
    assert_same_tables(a, b, ["bitext", "bitext_rejects"])
    assert all(r["tgt"] == r["tgt"].upper() for r in b.to_arrow("bitext").to_pylist())


def test_partitioned_reader_runs_per_part(ray_session, tmp_path):
    files = [write_pairs(tmp_path / f"p{i}.txt", 400 + 50 * i) for i in range(3)]
    a, b = Store(tmp_path / "a"), Store(tmp_path / "b")
    ra = LocalEngine(progress=False).run_step(step(PartsReader(files), []), a, "r", {})
    rb = RayEngine(workers=2, progress=False).run_step(step(PartsReader(files), []), b, "r", {})
    assert (ra.input_rows, ra.rejects, ra.duplicates) == (rb.input_rows, rb.rejects, rb.duplicates)
    assert_same_tables(a, b, ["bitext", "bitext_rejects"])


@pytest.mark.parametrize("stage", [crash, Upper()], ids=["task", "actor"])
def test_a_failed_run_commits_nothing(ray_session, tmp_path, stage):
    src = write_pairs(tmp_path / "p.txt", 300)
    store = Store(tmp_path / "s")
    store.write("bitext", ToBitext("en", "fr")(pa.RecordBatch.from_pylist(
        [{"source": "x", "position": 1, "src": "kept", "tgt": "gardé"}])).batch)
    engine = RayEngine(workers=2, fail_fast=True, progress=False)
    with pytest.raises((RuntimeError, ValueError), match="crashed|BOOM"):
        engine.run_step(step(read_pairs(src, "pipes", 64), [stage]), store, "r", {})
    assert store.version("bitext") == 0 and store.count("bitext") == 1
    assert not store.exists("bitext_rejects")
    assert not any((tmp_path / "s" / "_staging").glob("*"))


def test_reader_error_commits_nothing(ray_session, tmp_path):
    def reader():
        yield from read_pairs(write_pairs(tmp_path / "p.txt", 100), "pipes", 10)
        raise PipelineError("input.txt: truncated at line 101")

    store = Store(tmp_path / "s")
    with pytest.raises(PipelineError, match="truncated"):
        RayEngine(workers=2, progress=False).run_step(step(reader(), []), store, "r", {})
    assert store.tables() == []


class NeedsGPU(Stage):
    """A 'neural' stage: checks in setup() that Ray gave its actor a GPU."""

    name = "needs_gpu"

    def __init__(self, num_gpus: float):
        self.num_gpus = num_gpus

    def setup(self) -> None:
        self.gpus = ray.get_gpu_ids()

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.gpus:
            raise RuntimeError("no GPU for this actor")
        return batch


def test_gpu_stages_get_gpus_on_their_actors(ray_session, tmp_path):
    assert gpus_per_actor([ToBitext("en", "fr"), NeedsGPU(0.5)]) == 0.5
    assert gpus_per_actor([ToBitext("en", "fr")]) == 0.0
    src = write_pairs(tmp_path / "p.txt", 100)
    engine = RayEngine(workers=2, fail_fast=True, progress=False)
    report = engine.run_step(step(read_pairs(src, "pipes", 20), [NeedsGPU(1)]), Store(tmp_path / "a"), "r", {})
    assert report.rows["bitext"] > 0
    with pytest.raises(RuntimeError, match="no GPU"):  # the same stage without asking for one
        engine.run_step(step(read_pairs(src, "pipes", 20), [NeedsGPU(0)]), Store(tmp_path / "b"), "r", {})


def test_without_ray_the_message_says_how_to_install(monkeypatch, tmp_path):
    from xlcorpus.cli import entry

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(PipelineError, match=r"pip install 'xlcorpus\[ray\]'"):
        RayEngine(workers=2)
    code = entry(["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(tmp_path / "s"),
                  "--engine", "ray"])
    assert code == 1 and not (tmp_path / "s" / "bitext").exists()


def test_reader_rejects_reach_the_rejects_table(ray_session, tmp_path):
    def reader():
        yield Reject("f.txt", 7, "read", "bad line", "xx")
        yield from read_pairs(write_pairs(tmp_path / "p.txt", 20), "pipes", 10)

    store = Store(tmp_path / "s")
    report = RayEngine(workers=2, progress=False).run_step(step(reader(), []), store, "r", {})
    assert report.rejects == 1 + 1  # the reader's reject and one line without a separator
    assert "bad line" in store.to_arrow("bitext_rejects").column("reason").to_pylist()


def test_a_store_given_as_a_uri_works(ray_session, tmp_path):
    """Stores named by URI (``s3://`` on a cluster; ``file://`` here) spill to a local temp folder."""
    store = Store(f"file://{tmp_path / 'remote'}")
    assert not store.is_local
    report = pl.run(pl.load(REPO / "pipelines" / "import_bitext.yaml").pipeline, store,
                    RayEngine(workers=2, progress=False))
    local = Store(tmp_path / "local")
    pl.run(pl.load(REPO / "pipelines" / "import_bitext.yaml").pipeline, local, LocalEngine(progress=False))
    assert report.steps[0].rows["bitext"] > 0
    assert_same_tables(local, store, ["bitext", "bitext_rejects"])
    assert not (tmp_path / "remote" / "_staging").exists()

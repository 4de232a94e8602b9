"""The Ray engine on a local two-node cluster (``ray.cluster_utils.Cluster``): the workers of
both nodes read their own parts and write their own part files; the driver commits them and
the table equals the local engine's."""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

from xlcorpus.engine import LocalEngine, Stage, Step
from xlcorpus.engine.core import call
from xlcorpus.sources.bitext import ToBitext, read_pairs
from xlcorpus.store import Store

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": 200 << 20})
    c.add_node(num_cpus=1, object_store_memory=200 << 20)
    c.wait_for_nodes()
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield c
    ray.shutdown()
    c.shutdown()


class NodeLog(Stage):
    """Records which node ran each work unit (a file per process under ``folder``)."""

    name = "node_log"

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import os

        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
        with open(f"{self.folder}/{os.getpid()}.txt", "a") as fh:
            fh.write(node + "\n")
        return batch


class FileParts:
    def __init__(self, paths: list[Path]):
        self.paths = paths

    def parts(self, workers: int = 1):
        return [call(read_pairs, p, "pipes", 100) for p in self.paths]

    def __iter__(self):
        for part in self.parts():
            yield from part


def test_two_nodes_write_their_parts_and_match_the_local_engine(cluster, tmp_path):
    from xlcorpus.engine.ray_engine import RayEngine

    files = []
    for i in range(8):
        path = tmp_path / f"in{i}.txt"
        path.write_text("".join(f"s{i}-{k} ||| t{i}-{k}\n" for k in range(300)) + "no separator\n", encoding="utf-8")
        files.append(path)
    nodes = tmp_path / "nodes"
    nodes.mkdir()

    def step(folder: Path) -> Step:
        return Step("import", FileParts(files), [NodeLog(str(folder)), ToBitext("en", "fr")], ["bitext"],
                    mode="merge")

    ray_store, local_store = Store(tmp_path / "ray"), Store(tmp_path / "local")
    engine = RayEngine(workers=2, progress=False, address=cluster.address)
    report = engine.run_step(step(nodes), ray_store, "r", {}, txn=("cluster-test", 1))
    (tmp_path / "lnodes").mkdir()
    LocalEngine(workers=2, progress=False).run_step(step(tmp_path / "lnodes"), local_store, "r", {})
    assert report.rows["bitext"] == 8 * 300 and report.rejects == 8
    seen = {line for f in nodes.iterdir() for line in f.read_text().split()}
    assert len(seen) == 2, seen  # both nodes ran work units
    for table in ("bitext", "bitext_rejects"):
        a = sorted(ray_store.to_arrow(table, columns=["id"]).column("id").to_pylist())
        b = sorted(local_store.to_arrow(table, columns=["id"]).column("id").to_pylist())
        assert a == b, table
    assert ray_store.transaction_version("bitext", "cluster-test") == 1
    assert not any((tmp_path / "ray" / "_staging").glob("*"))


def test_two_nodes_write_parts_into_the_bucket_and_the_driver_adds_them(cluster, s3_endpoint, s3_root, tmp_path):
    """With an ``s3://`` store, the workers of both nodes write their part files under each
    table's staging prefix in the bucket; the driver's commit adds them where they are."""
    import pyarrow.fs as pafs

    from xlcorpus.engine.ray_engine import RayEngine

    files = []
    for i in range(4):
        path = tmp_path / f"in{i}.txt"
        path.write_text("".join(f"s{i}-{k} ||| t{i}-{k}\n" for k in range(200)) + "no separator\n", encoding="utf-8")
        files.append(path)
    (tmp_path / "nodes").mkdir()
    options = {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}  # the workers get them with the store
    store = Store(s3_root, options)
    step = Step("import", FileParts(files), [NodeLog(str(tmp_path / "nodes")), ToBitext("en", "fr")], ["bitext"],
                mode="merge")
    report = RayEngine(workers=2, progress=False, address=cluster.address).run_step(step, store, "r", {})
    assert report.rows["bitext"] == 4 * 200 and report.rejects == 4
    assert len({line for f in (tmp_path / "nodes").iterdir() for line in f.read_text().split()}) == 2
    for table in ("bitext", "bitext_rejects"):
        paths = store._delta(table).get_add_actions(flatten=True).column("path").to_pylist()
        written = store.filesystem().get_file_info(pafs.FileSelector(f"{table}/_staging", recursive=True))
        assert paths and all(p.startswith("_staging/") for p in paths)  # added where they were written
        assert {i.path for i in written if i.is_file} == {f"{table}/{p}" for p in paths}  # nothing else left
    ids = store.to_arrow("bitext", columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 800
    assert sorted(store.to_arrow("bitext", columns=["src"]).column("src").to_pylist()) == sorted(
        f"s{i}-{k}" for i in range(4) for k in range(200))

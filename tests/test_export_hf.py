"""Hub export: the folder loads back with ``datasets`` offline, config by config, row for row."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from xlcorpus import pipeline as pl
from xlcorpus.cli import entry
from xlcorpus.engine import LocalEngine
from xlcorpus.export import ExportError, export_hf, push_hf
from xlcorpus.schema import contracts
from xlcorpus.sources.bitext import BitextImport
from xlcorpus.store import Store

datasets = pytest.importorskip("datasets")
REPO = Path(__file__).resolve().parents[1]
NESTED = sorted(n for n, c in contracts().items()
                if not n.startswith("_") and any(pa.types.is_nested(f.type) for f in c.fields))


@pytest.fixture(autouse=True)
def offline_hf(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))


def load(folder: Path, config: str, cache: Path):
    return datasets.load_dataset(str(folder), config, split="train", cache_dir=str(cache))


def canon(rows: list[dict]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)


def assert_loads_back(store: Store, exp, tmp_path: Path) -> None:
    """Every config loads offline; together they are exactly the table version's rows and types."""
    c = contracts()[exp.table]
    card = (exp.folder / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---")[1])
    names = [cfg.name for cfg in exp.configs]
    assert [m["config_name"] for m in meta["configs"]] == (names if names == ["all"] else ["all"] + names)
    loaded = []
    for cfg in exp.configs:
        ds = load(exp.folder, cfg.name, tmp_path / "cache")
        assert len(ds) == cfg.rows and f"| `{cfg.name}` |" in card
        for f in c.fields:  # nested columns keep their Arrow types
            assert ds.data.table.schema.field(f.name).type == f.type, f.name
        rows = ds.to_list()
        assert all(all(r[p] == cfg.values[p] for p in c.partition_by) for r in rows)
        loaded += rows
    assert canon(loaded) == canon(store.to_arrow(exp.table, exp.version).to_pylist())


# ---------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    """The demo's bitext (and EntityCS, whose entities are list<struct>, when its pipeline exists)."""
    store = Store(tmp_path_factory.mktemp("demo") / "store")
    for name in ("import_bitext.yaml", "entitycs.yaml"):
        if (REPO / "pipelines" / name).exists():
            pl.run(pl.load(REPO / "pipelines" / name).pipeline, store, LocalEngine(progress=False))
    en_de = BitextImport("en", "de", pairs=REPO / "data" / "sample" / "bitext" / "sample.en-de.txt")
    pl.run(en_de, store, LocalEngine(progress=False))  # a second language pair
    return store


@pytest.mark.parametrize("table", ["bitext", "entitycs"])
def test_demo_tables_load_back_offline(demo_store, table, tmp_path):
    if table not in demo_store.tables():
        pytest.skip(f"no pipeline builds {table} yet")
    exp = export_hf(demo_store, table, tmp_path / "hf", license="cc-by-4.0")
    assert exp.rows == demo_store.count(table)
    assert_loads_back(demo_store, exp, tmp_path)
    card = (exp.folder / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == "cc-by-4.0" and meta["size_categories"] == ["n<1K"]
    assert meta["task_categories"] and set(meta["language"]) >= {cfg.values[p] for cfg in exp.configs
                                                                 for p in cfg.values}
    lineage = demo_store.history(table)[0]
    assert f"pipeline: `{lineage['pipeline']}`" in card and f"run_id: `{lineage['run_id']}`" in card
    assert "library_version" in card and "/work/" not in card and str(REPO) not in card
    for f in contracts()[table].fields:
        assert f"| `{f.name}` | `{f.type_text}` |" in card


def test_bitext_configs_are_language_pairs(demo_store, tmp_path):
    exp = export_hf(demo_store, "bitext", tmp_path / "hf", license="cc-by-4.0")
    assert [c.name for c in exp.configs] == ["en-de", "en-fr"]
    for c in exp.configs:  # partition columns are inside the files, not only in folder names
        for f in c.files:
            assert {"src_lang", "tgt_lang"} <= set(pq.read_schema(exp.folder / f).names)
            assert "=" not in f


# ---------------------------------------------------------- every nested table
def sample(dtype: pa.DataType, i: int):
    """A value of ``dtype`` for row ``i`` (nested types recurse; lists have 0-2 items)."""
    if pa.types.is_struct(dtype):
        return {f.name: sample(f.type, i + k) for k, f in enumerate(dtype)}
    if pa.types.is_list(dtype):
        return [sample(dtype.value_type, i + k) for k in range(i % 3)]
    if pa.types.is_map(dtype):
        return [(sample(dtype.key_type, i + k), sample(dtype.item_type, i)) for k in range(i % 2)]
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return f"s{i} é"
    if pa.types.is_binary(dtype):
        return f"b{i}".encode()
    if pa.types.is_boolean(dtype):
        return i % 2 == 0
    if pa.types.is_integer(dtype):
        return i % 100
    if pa.types.is_floating(dtype):
        return i + 0.5
    if pa.types.is_date(dtype):
        return dt.date(2024, 1, 1 + i % 28)
    if pa.types.is_timestamp(dtype):
        return dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc if dtype.tz else None)
    raise AssertionError(f"no sample for {dtype}")


def sample_rows(table: str, n: int, start: int = 0) -> list[dict]:
    c = contracts()[table]
    rows = []
    for i in range(start, start + n):
        row = {f.name: sample(f.type, i) for f in c.fields}
        row["id"] = f"{table}-{i}"
        for k, p in enumerate(c.partition_by):
            row[p] = ["en", "de", "fr"][(i + k) % 3] if "lang" in p else f"p{i % 2}"
        rows.append(row)
    return rows


@pytest.mark.parametrize("table", NESTED)
def test_nested_tables_keep_their_types_and_versions(table, tmp_path):
    store = Store(tmp_path / "store")
    c = contracts()[table]
    store.write(table, c.batch(sample_rows(table, 30)))
    store.write(table, c.batch(sample_rows(table, 10, start=30)))  # version 1 has 10 more rows
    exp = export_hf(store, table, tmp_path / "hf", version=0, max_shard_mb=0.0001, license="cc0-1.0")
    assert exp.version == 0 and exp.rows == 30
    assert any(len(cfg.files) > 1 for cfg in exp.configs)  # tiny shard size: several shards
    assert_loads_back(store, exp, tmp_path)


# ---------------------------------------------------------------- CLI, push
def test_cli_release_export_and_refusals(demo_store, tmp_path):
    demo_store.tag("r1", ["bitext"])
    out = tmp_path / "hf"
    args = ["export", "hf", "bitext", "--release", "r1", "--to", str(out), "--store", demo_store.root,
            "--license", "cc-by-4.0"]
    assert entry(args) == 0
    assert "release `r1`" in (out / "README.md").read_text(encoding="utf-8")
    assert entry(args) == 1  # not empty: needs --overwrite
    assert entry(args + ["--overwrite"]) == 0
    assert entry(["export", "hf", "bitext", "--version", "99", "--to", str(tmp_path / "x"),
                  "--store", demo_store.root, "--license", "mit"]) == 1
    assert not (tmp_path / "x").exists()
    assert entry(["export", "hf", "nope", "--to", str(tmp_path / "y"), "--store", demo_store.root]) == 1


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_push_offline_fails_fast_and_keeps_the_folder(demo_store, tmp_path):
    exp = export_hf(demo_store, "bitext", tmp_path / "hf", license="cc-by-4.0")
    before = snapshot(exp.folder)
    with pytest.raises(ExportError, match="offline"):
        push_hf(exp.folder, "someone/bitext")
    assert snapshot(exp.folder) == before


def test_push_to_an_unreachable_hub_is_quick_clear_and_hides_the_token(demo_store, tmp_path):
    out = tmp_path / "hf"
    secret = "hf_NotARealTokenButSecret123"
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9", "HF_TOKEN": secret}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "xlcorpus", "export", "hf", "bitext", "--to", str(out),
                           "--store", demo_store.root, "--push", "someone/bitext", "--private", "--license", "mit"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert time.perf_counter() - start < 5 + 3  # + interpreter start-up
    assert proc.returncode == 1
    assert "cannot be reached" in proc.stderr and "someone/bitext" in proc.stderr
    assert secret not in proc.stdout + proc.stderr
    assert (out / "README.md").exists() and list((out / "data").rglob("*.parquet"))


def test_push_with_a_rejected_token_says_so(demo_store, tmp_path):
    """A Hub that answers 401 (a real local HTTP server): ``HfHubHTTPError`` -> a login message."""
    import http.server
    import threading

    class Unauthorized(http.server.BaseHTTPRequestHandler):
        def _deny(self):
            body = b'{"error": "Invalid credentials"}'
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = _deny

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "hf_RejectedTokenSecret456"
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}",
           "HF_TOKEN": secret}
    try:
        proc = subprocess.run([sys.executable, "-m", "xlcorpus", "export", "hf", "bitext", "--to", str(tmp_path / "hf"),
                               "--store", demo_store.root, "--push", "someone/bitext", "--license", "mit"],
                              env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
    assert proc.returncode == 1
    assert "not logged in or the token is not valid" in proc.stderr, proc.stderr
    assert secret not in proc.stdout + proc.stderr


# ------------------------------------------------------------------ the card
def test_entitycs_card_carries_license_sources_citations_and_stats(demo_store, tmp_path):
    from huggingface_hub import DatasetCard

    if "entitycs" not in demo_store.tables():
        pytest.skip("no entitycs pipeline")
    exp = export_hf(demo_store, "entitycs", tmp_path / "hf")  # no license given: from the sources
    card = DatasetCard.load(exp.folder / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-sa-4.0"  # Wikipedia text (CC BY-SA) with Wikidata labels (CC0)
    assert data["source_datasets"] == ["extended|wikimedia/wikipedia", "extended|wikidata"]
    assert data["multilinguality"] == "multilingual" and set(data["language"]) == {"en", "de", "fr", "mt"}
    assert data["configs"][0] == {"config_name": "all", "default": True,
                                  "data_files": [{"split": "train", "path": "data/*/train-*.parquet"}]}
    assert "@inproceedings{whitehouse-etal-2022-entitycs" in card.text and "vrandecic2014wikidata" in card.text
    n = demo_store.count("entitycs")
    assert f"## entitycs (v{exp.version})" not in card.text and f"entitycs v{exp.version}" in card.content
    assert "switched entities per sentence" in card.text and "| de | 13 |" in card.text
    # load_dataset(DIR) gives the "all" config: every row, not only the first language's
    assert len(datasets.load_dataset(str(exp.folder), split="train", cache_dir=str(tmp_path / "c"))) == n


def test_unknown_license_must_be_given(demo_store, tmp_path):
    with pytest.raises(ExportError, match=r"license is unknown \(its inputs sample.en-fr.en, sample.en-fr.fr"):
        export_hf(demo_store, "bitext", tmp_path / "hf")
    assert not (tmp_path / "hf").exists()
    assert entry(["export", "hf", "bitext", "--to", str(tmp_path / "hf"), "--store", demo_store.root]) == 1


def test_split_option_and_split_column(demo_store, tmp_path):
    exp = export_hf(demo_store, "bitext", tmp_path / "hf", license="cc-by-4.0", split="test")
    meta = yaml.safe_load((exp.folder / "README.md").read_text(encoding="utf-8").split("---")[1])
    assert meta["multilinguality"] == "translation"
    assert all(f.split("/")[-1].startswith("test-") for cfg in exp.configs for f in cfg.files)
    got = datasets.load_dataset(str(exp.folder), "en-fr", cache_dir=str(tmp_path / "c"))
    assert list(got) == ["test"] and len(got["test"]) == exp.configs[1].rows
    # a table with a split column: one config's rows go to one split per value
    import dataclasses

    import pyarrow.dataset as pads

    from xlcorpus.export.hf import Config, write_config
    from xlcorpus.schema import Field

    base = contracts()["bitext"]
    c = dataclasses.replace(base, fields=(*base.fields, Field("split", pa.string(), False, "split")))
    rows = sample_rows("bitext", 12)
    for i, r in enumerate(rows):
        r["split"] = ["train", "validation", "test"][i % 3]
    cfg = Config("default", {})
    write_config(c, pads.dataset(pa.Table.from_pylist(rows, schema=c.arrow_schema)), cfg, tmp_path / "s", 500)
    assert cfg.splits == {"test": 4, "train": 4, "validation": 4} and cfg.rows == 12
    assert sorted(f.split("/")[-1] for f in cfg.files) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet"]
    got = pq.read_table(tmp_path / "s" / "data" / "default" / "validation-00000-of-00001.parquet")
    assert set(got.column("split").to_pylist()) == {"validation"}

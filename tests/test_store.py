from __future__ import annotations

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlcorpus.errors import QueryError, SchemaError, StoreError
from xlcorpus.schema import Field, TableContract, contract, parse_type
from xlcorpus.store import Store


def rows(n, lang="fr", start=0):
    return [dict(id=f"{lang}{i}", src_lang="en", tgt_lang=lang, src=f"s{i}", tgt=f"t{i}",
                 source="f", line=i) for i in range(start, start + n)]


def batch(n, lang="fr", start=0):
    return contract("bitext").batch(rows(n, lang, start))


def test_write_read_versions_and_time_travel(any_store):
    store = any_store
    assert store.write("bitext", batch(3), metadata={"pipeline": "p"}) == 0
    assert store.write("bitext", batch(2, "de")) == 1
    assert store.count("bitext") == 5
    assert store.count("bitext", version=0) == 3
    assert store.write("bitext", batch(1), mode="overwrite") == 2
    assert store.count("bitext") == 1 and store.count("bitext", version=1) == 5
    with pytest.raises(StoreError, match="versions 0..2, not 7"):
        store.read("bitext", version=7)
    assert store.tables() == ["bitext"]


def test_partitions_on_disk(store):
    store.write("bitext", [batch(2, "fr"), batch(2, "de")])
    root = store.uri("bitext")
    import os

    assert sorted(os.listdir(f"{root}/src_lang=en")) == ["tgt_lang=de", "tgt_lang=fr"]


def test_merge_never_duplicates_ids(any_store):
    store = any_store
    store.write("bitext", batch(3), mode="merge")
    store.write("bitext", batch(5), mode="merge")  # 3 old + 2 new
    table = store.to_arrow("bitext")
    assert table.num_rows == 5
    assert len(set(table.column("id").to_pylist())) == 5


def test_lineage_in_history(any_store):
    store = any_store
    meta = {"pipeline": "bitext-import", "params": {"src_lang": "en"}, "inputs": {"src": "abc"},
            "rows": 3, "run_id": "r1", "fingerprint": "fp"}
    store.write("bitext", batch(3), metadata=meta)
    (h,) = store.history("bitext")
    assert h["pipeline"] == "bitext-import" and h["params"] == {"src_lang": "en"}
    assert h["inputs"] == {"src": "abc"} and h["rows"] == 3 and h["run_id"] == "r1"
    from xlcorpus import __version__

    assert h["library_version"] == __version__
    assert store.last_fingerprint("bitext") == "fp"


def test_invalid_batches_are_refused_and_nothing_is_written(any_store):
    store = any_store
    store.write("bitext", batch(2))
    bad = batch(2).set_column(3, "src", pa.array(["x", None]))
    with pytest.raises(SchemaError, match="'src' is not nullable"):
        store.write("bitext", [batch(2, "de"), bad])
    assert store.version("bitext") == 0 and store.count("bitext") == 2


@pytest.mark.parametrize("name", ["../x", "", "a/b", "a\\b", "x\x00", "tab\tle", "Bitext", ".hidden", "a" * 64])
def test_bad_table_names(store, name):
    with pytest.raises(StoreError, match="invalid table name"):
        store.write(name, batch(1))


@pytest.mark.parametrize("value", ["", "..", ".", "a/b", "x\ny", "\u202e", "a\\b"])
def test_bad_partition_values(store, value):
    r = rows(1)
    r[0]["tgt_lang"] = value
    with pytest.raises(StoreError, match="invalid partition value"):
        store.write("bitext", contract("bitext").batch(r))
    assert not store.exists("bitext") or store.count("bitext") == 0


def test_releases(any_store):
    store = any_store
    store.write("bitext", batch(2))
    assert store.tag("v1") == {"bitext": 0}
    store.write("bitext", batch(3, "de"))
    assert store.count("bitext", release="v1") == 2
    assert store.sql("SELECT count(*) AS n FROM bitext", release="v1").column("n")[0].as_py() == 2
    with pytest.raises(StoreError, match="exists"):
        store.tag("v1")
    assert store.tag("v1", overwrite=True) == {"bitext": 1}
    with pytest.raises(StoreError, match="invalid release name"):
        store.tag("../bad")
    with pytest.raises(StoreError, match="no release"):
        store.read("bitext", release="nope")


def test_sql_views_versions_and_read_only(any_store, tmp_path):
    store = any_store
    store.write("bitext", batch(2))
    store.write("bitext", batch(3, "de"))
    q = "SELECT tgt_lang, count(*) AS n FROM bitext GROUP BY ALL ORDER BY tgt_lang"
    assert store.sql(q).to_pylist() == [{"tgt_lang": "de", "n": 3}, {"tgt_lang": "fr", "n": 2}]
    assert store.sql("SELECT count(*) AS n FROM bitext", at={"bitext": 0}).to_pylist() == [{"n": 2}]
    assert store.sql("SELECT count(*) AS n FROM bitext__v0").to_pylist() == [{"n": 2}]
    target = tmp_path / "leak.csv"
    with pytest.raises(QueryError, match="disabled"):
        store.sql(f"COPY bitext TO '{target}'")
    assert not target.exists()
    with pytest.raises(StoreError, match="unknown table"):
        store.sql("SELECT 1", at={"nosuch": 0})


def test_polars_reads_the_same_table(any_store):
    store = any_store
    store.write("bitext", [batch(2), batch(3, "de")])
    df = store.scan("bitext").filter(pl.col("tgt_lang") == "de").collect()
    assert df.height == 3 and df.schema["line"] == pl.Int64
    assert pl.scan_delta(store.uri("bitext")).collect().height == 5


# ---- property: any valid batch round-trips exactly (flat and nested types)
NESTED = TableContract(
    "nested_probe", "test table", (
        Field("id", pa.string(), False, ""),
        Field("lang", pa.string(), False, ""),
        Field("text", pa.string(), True, ""),
        Field("n", pa.int64(), True, ""),
        Field("score", pa.float64(), True, ""),
        Field("spans", parse_type("list<struct<start:int32, end:int32, label:string>>"), True, ""),
        Field("tokens", parse_type("list<string>"), True, ""),
    ), ("lang",), "test")

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
span = st.fixed_dictionaries({"start": st.integers(0, 2**31 - 1), "end": st.integers(0, 2**31 - 1),
                              "label": st.none() | text})
row = st.fixed_dictionaries({
    "lang": st.sampled_from(["en", "de", "zh-hans", "be-tarask"]),
    "text": st.none() | text,
    "n": st.none() | st.integers(-2**63, 2**63 - 1),
    "score": st.none() | st.floats(allow_nan=False),
    "spans": st.none() | st.lists(span, max_size=4),
    "tokens": st.none() | st.lists(st.none() | text, max_size=4),
})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(row, min_size=1, max_size=20))
def test_any_valid_batch_round_trips(tmp_path_factory, rows_):
    store = Store(tmp_path_factory.mktemp("rt"))
    for i, r in enumerate(rows_):
        r["id"] = f"r{i}"
    b = NESTED.batch(rows_)
    store.write("nested_probe", b, contract_=NESTED)
    back = store.read("nested_probe").to_table().select(NESTED.names).sort_by("id")
    expected = pa.Table.from_batches([b]).sort_by("id")
    assert back.to_pylist() == expected.to_pylist()

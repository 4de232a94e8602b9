"""Part files written before a commit, and Store.add_files (commit without rewriting)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from xlcorpus.errors import ConflictError, StoreError
from xlcorpus.parts import PartWriter, read_parts
from xlcorpus.schema import contract


def rows(n, langs=("fr", "de"), start=0, src="en"):
    return [dict(id=f"{langs[i % len(langs)]}{i}", src_lang=src, tgt_lang=langs[i % len(langs)], src=f"s{i}",
                 tgt=f"t{i}", source="f", line=i) for i in range(start, start + n)]


def staged(tmp_path, n, prefix="w", **kw):
    w = PartWriter(tmp_path / "staging", contract("bitext"), prefix=prefix)
    w.add(contract("bitext").batch(rows(n, **kw)))
    return w.close()


def test_writer_splits_by_partition_and_leaves_partition_columns_out(tmp_path):
    files = staged(tmp_path, 7, langs=("fr", "de", "a b%é="))
    assert sorted(tuple(f.partition.values()) for f in files) == [("en", "a b%é="), ("en", "de"), ("en", "fr")]
    assert sum(f.rows for f in files) == 7
    for f in files:
        assert "src_lang=en/tgt_lang=" in f.path and "/" not in Path(f.path).parent.name
        assert "tgt_lang" not in pq.read_schema(f.path).names
        table = pq.read_table(f.path)
        assert set(i[:len(i.rstrip("0123456789"))] for i in table.column("id").to_pylist()) == {f.partition["tgt_lang"]}
    back = read_parts(contract("bitext"), files).read_all()
    assert sorted(back.to_pylist(), key=lambda r: r["line"]) == rows(7, langs=("fr", "de", "a b%é="))


def test_writer_rejects_bad_partition_values(tmp_path):
    w = PartWriter(tmp_path, contract("bitext"))
    with pytest.raises(StoreError, match="invalid partition value '..'"):
        w.add(contract("bitext").batch(rows(2, langs=("..",))))


def test_file_stats(tmp_path):
    (f,) = staged(tmp_path, 3, langs=("fr",))
    stats = json.loads(f.stats)
    assert stats["numRecords"] == 3
    assert stats["minValues"]["id"] == "fr0" and stats["maxValues"]["id"] == "fr2"
    assert stats["minValues"]["line"] == 0 and stats["maxValues"]["line"] == 2
    assert stats["nullCount"]["src"] == 0 and "tgt_lang" not in stats["nullCount"]


def test_long_strings_have_stats_and_filters_find_them(tmp_path, store):
    long = "x" * 5000  # longer than what Parquet footers keep
    w = PartWriter(tmp_path / "st", contract("bitext"))
    w.add(contract("bitext").batch([dict(r, source=long) for r in rows(4)]))
    files = w.close()
    assert json.loads(files[0].stats)["minValues"]["source"] == long
    store.add_files("bitext", files)
    import pyarrow.dataset as pads

    assert store.read("bitext").count_rows(filter=pads.field("source") == long) == 4
    assert store.sql(f"SELECT count(*) AS n FROM bitext WHERE source = '{long}'").column("n").to_pylist() == [4]


def test_add_files_commits_without_rewriting(tmp_path, store):
    files = staged(tmp_path, 6)
    inodes = sorted(os.stat(f.path).st_ino for f in files)
    assert store.add_files("bitext", files, mode="merge", metadata={"rows": 6}) == 0
    table_files = sorted(Path(store.uri("bitext")).rglob("*.parquet"))
    assert sorted(os.stat(p).st_ino for p in table_files) == inodes  # moved, not rewritten
    assert store.to_arrow("bitext").num_rows == 6
    assert store.history("bitext")[0]["rows"] == 6
    assert store.scan("bitext").collect().height == 6
    assert store.sql("SELECT count(*) AS n FROM bitext WHERE tgt_lang = 'fr'").column("n").to_pylist() == [3]

    assert store.add_files("bitext", staged(tmp_path, 2, prefix="a", start=10), mode="append") == 1
    assert store.count("bitext") == 8
    # merge into an existing table reads the files back: only new ids are inserted
    assert store.add_files("bitext", staged(tmp_path, 12, prefix="m"), mode="merge") == 2
    assert store.count("bitext") == 12  # ids 6..9 are new
    assert store.add_files("bitext", staged(tmp_path, 1, prefix="o"), mode="overwrite") == 3
    assert store.to_arrow("bitext").column("id").to_pylist() == ["fr0"]
    assert store.count("bitext", version=2) == 12
    with pytest.raises(ConflictError, match="already exists"):
        store.add_files("bitext", staged(tmp_path, 1, prefix="e"), mode="error")


def test_failed_commit_leaves_table_and_no_files(tmp_path, store):
    store.add_files("bitext", staged(tmp_path, 2), mode="append")
    before = sorted(Path(store.uri("bitext")).rglob("*.parquet"))
    files = staged(tmp_path, 2, prefix="x")
    os.remove(files[-1].path)  # a file that vanished: the commit must fail cleanly
    with pytest.raises(FileNotFoundError):
        store.add_files("bitext", files, mode="append")
    assert sorted(Path(store.uri("bitext")).rglob("*.parquet")) == before
    assert store.version("bitext") == 0 and store.count("bitext") == 2


def test_a_column_without_min_max_gives_row_count_only(tmp_path, store):
    c = contract("lexical_table")
    rows_ = [dict(id=f"i{i}", src_lang="en", tgt_lang="fr", src=f"w{i}", tgt=f"m{i}", count=i,
                  p_tgt_given_src=p, p_src_given_tgt=0.5) for i, p in enumerate([0.25, float("inf")])]
    w = PartWriter(tmp_path / "lx", c)
    w.add(c.batch(rows_))
    files = w.close()
    assert json.loads(files[0].stats) == {"numRecords": 2}
    store.add_files("lexical_table", files)
    import pyarrow.dataset as pads

    assert store.read("lexical_table").count_rows(filter=pads.field("src") == "w1") == 1
    assert store.read("lexical_table").count_rows(filter=pads.field("count") == 0) == 1

"""Every CLI command on a corpus of broken inputs built from the bundled samples: exit 1 or
2 naming the file (and line), or exit 0 with the expected rejects; never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlcorpus import pipeline as pl
from xlcorpus.engine.local import LocalEngine
from xlcorpus.store import Store

from .broken_inputs import REPO, Case, build, damage_store, run_case, verdict



@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict[str, Case]]:
    root = tmp_path_factory.mktemp("broken")
    return root, {c.name: c for c in build(root / "inputs")}


def names() -> list[str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        return [c.name for c in build(Path(tmp))]


@pytest.mark.parametrize("name", names())
def test_broken_input(corpus, name):
    root, cases = corpus
    case = cases[name]
    proc = run_case(case, root)
    problem = verdict(case, proc)
    assert problem is None, f"{name}: {' '.join(case.args)}\n{problem}"


def test_rejects_are_counted_where_the_run_goes_on(corpus):
    root, cases = corpus
    proc = run_case(cases["pairs-bad-bytes"], root)
    store = Store(cases["pairs-bad-bytes"].args[cases["pairs-bad-bytes"].args.index("--store") + 1])
    reasons = sorted(r["reason"] for r in store.to_arrow("bitext_rejects").to_pylist())
    assert proc.returncode == 0 and reasons == ["expected exactly one '|||' separator, found 0",  # in the sample
                                                "invalid UTF-8 at byte 10 of line 1",
                                                "source side: control character U+0000 at offset 3"]
    proc = run_case(cases["wikidata-duplicated"], root)
    store = Store(cases["wikidata-duplicated"].args[cases["wikidata-duplicated"].args.index("--store") + 1])
    ids = store.to_arrow("wikidata_labels").column("id").to_pylist()
    assert proc.returncode == 0 and len(ids) == len(set(ids))
    assert any("duplicate entity" in r["reason"] for r in store.to_arrow("wikidata_labels_rejects").to_pylist())
    proc = run_case(cases["wikipedia-bad-byte"], root)
    store = Store(cases["wikipedia-bad-byte"].args[cases["wikipedia-bad-byte"].args.index("--store") + 1])
    (rej,) = store.to_arrow("wiki_sentences_rejects").to_pylist()
    assert "malformed page 2 at byte" in rej["reason"] and store.count("wiki_sentences") > 0


def test_damaged_store_commands(tmp_path):
    store = Store(tmp_path / "store")
    pl.run(pl.load(REPO / "pipelines" / "import_bitext.yaml").pipeline, store, LocalEngine(progress=False))
    for case in damage_store(Path(store.root)):
        proc = run_case(case, tmp_path)
        problem = verdict(case, proc)
        assert problem is None, f"{case.name}: {' '.join(case.args)}\n{problem}"

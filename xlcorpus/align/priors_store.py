"""eflomal priors as a versioned store artefact: the ``align_priors`` table.

:func:`priors_rows` turns :class:`~xlcorpus.align.priors.Priors` into table rows under a
``priors_id``; :func:`priors_from_table` reads one set back. :func:`load_priors` accepts
what ``--priors`` names: an eflomal priors file, or a store table ``STORE/align_priors``
with an optional version and set, ``STORE/align_priors@3`` or ``...@3#PRIORS_ID`` (the
set is needed only when that version holds several).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import PipelineError
from ..ids import stable_id
from ..schema import contract
from .priors import Priors

TABLE = "align_priors"


def priors_rows(p: Priors, priors_id: str, src_lang: str, tgt_lang: str) -> pa.RecordBatch:
    """``align_priors`` rows of one priors set."""
    cols: dict[str, list] = {k: [] for k in ("kind", "src", "tgt", "value", "count")}

    def add(kind, src, tgt, value, count):
        for k, v in zip(cols, (kind, src, tgt, value, count)):
            cols[k].append(v)

    for (s, t), c in p.lex.items():
        add("LEX", s, t, None, c)
    for (w, f), c in p.ferf.items():
        add("FERF", w, None, f, c)
    for (w, f), c in p.ferr.items():
        add("FERR", None, w, f, c)
    for kind, table in (("HMMF", p.hmmf), ("HMMR", p.hmmr)):
        for jump, c in table.items():
            add(kind, None, None, jump, c)
    n = len(cols["kind"])
    ids = [stable_id(priors_id, k, s, t, v) for k, s, t, v in zip(cols["kind"], cols["src"], cols["tgt"], cols["value"])]
    return contract(TABLE).batch({"id": ids, "priors_id": [priors_id] * n, "src_lang": [src_lang] * n,
                                  "tgt_lang": [tgt_lang] * n, **cols})


def priors_from_table(t: pa.Table) -> Priors:
    """A :class:`Priors` from ``align_priors`` rows of one set."""
    p = Priors()
    d = t.select(["kind", "src", "tgt", "value", "count"]).to_pydict()
    for kind, s, w, v, c in zip(d["kind"], d["src"], d["tgt"], d["value"], d["count"]):
        if kind == "LEX":
            p.lex[(s, w)] += c
        elif kind == "FERF":
            p.ferf[(s, v)] += c
        elif kind == "FERR":
            p.ferr[(w, v)] += c
        else:
            getattr(p, kind.lower())[v] += c
    return p


def read_set(store, priors_id: str | None, version: int | None = None, where: str = TABLE) -> tuple[Priors, str]:
    """One priors set of the store's ``align_priors`` (``priors_id`` None: the only one)."""
    if not store.exists(TABLE):
        raise PipelineError(f"{where}: the store has no {TABLE} table")
    t = store.to_arrow(TABLE, version=version)
    ids = sorted(set(t["priors_id"].to_pylist()))
    if priors_id is None:
        if len(ids) != 1:
            raise PipelineError(f"{where}: {len(ids)} priors sets in {TABLE}; name one with #ID (known: {ids})")
        priors_id = ids[0]
    elif priors_id not in ids:
        raise PipelineError(f"{where}: no priors set {priors_id!r} in {TABLE} (known: {ids})")
    return priors_from_table(t.filter(pc.equal(t["priors_id"], priors_id))), priors_id


def parse_spec(spec: str) -> tuple[str, int | None, str | None]:
    """``PATH[@VERSION][#PRIORS_ID]`` -> (path, version, priors_id)."""
    path, _, pid = spec.partition("#")
    version = None
    head, at, tail = path.rpartition("@")
    if at and tail.isdigit():
        path, version = head, int(tail)
    return path, version, pid or None


def load_priors(spec: str | Path) -> Priors:
    """The priors ``--priors`` names: a priors file or a store table (see the module doc)."""
    from ..store import Store

    path, version, pid = parse_spec(str(spec))
    p = Path(path)
    if p.is_file():
        return Priors.read(p)
    if (p / "_delta_log").is_dir() and p.name == TABLE:
        return read_set(Store(p.parent), pid, version, str(spec))[0]
    raise PipelineError(f"--priors {spec}: neither a priors file nor a store table .../{TABLE}[@VERSION][#ID]")


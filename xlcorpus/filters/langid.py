"""Language identification filter: ``py3langid`` (langid.py's model, shipped in the package).

The model is applied to a whole batch at once (:class:`BatchIdentifier`): its byte DFA is
walked for every text of the batch in one numpy step per byte position, the feature counts
go into one sparse matrix multiplied by the model's table, then the same length-scaled
softmax as ``LanguageIdentifier`` gives the same probabilities (``tests/test_filters.py``
checks them against the library's own ``rank``). A side repeated across pairs (the English
side of a multi-way corpus) is identified once per worker (``CACHE_SIZE`` results kept).

Chosen by ``benchmarks/langid_choice.py`` on every NTREX-128 and Tatoeba side (see the
README): the most accurate of the candidates that ship their model and also among the
fastest. Scores are the identifier's normalised probability of the *expected* language of
each side (``language_id_src``, ``language_id_tgt``) and its best guess
(``language_id_src_top``, ``language_id_tgt_top``); a side whose expected language the
model does not know scores null and is kept.
"""

from __future__ import annotations

import logging
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..params import Help, Ratio
from .base import Filter, reason_where


def model_code(code: str) -> str:
    """A language code as the identifier spells it (``zh-hans`` -> ``zh``, ``eng`` -> ``en``)."""
    import langcodes

    base = code.split("-")[0].split("_")[0].lower()
    try:
        return langcodes.standardize_tag(base).split("-")[0] if len(base) == 3 else base
    except (ValueError, langcodes.LanguageTagError):
        return base


log = logging.getLogger(__name__)
_IDENT: dict[str, Any] = {}
CACHE_SIZE = 500_000  # (text, expected language) results kept per worker


def identifier(uncompressed: str | None = None) -> Any:
    """The process-wide ``py3langid`` identifier (normalised probabilities), loaded once:
    from py3langid's model file (LZMA: about a second to decompress) or from ``uncompressed``,
    the same file decompressed by :func:`decompress_model` (milliseconds)."""
    if "ident" not in _IDENT:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        if uncompressed:
            from py3langid.modelio import _to_array  # how py3langid's own loader builds its tables

            try:
                with np.load(uncompressed, allow_pickle=False) as d:
                    _IDENT["ident"] = LanguageIdentifier(
                        d["ptc"], d["pc"], d["classes"].tolist(), _to_array(d["nextmove"]), d["out_feat"].tolist(),
                        norm_probs=True, tk_row=_to_array(d["nextmove_row"]))
            except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:  # damaged: use the packaged file
                log.warning("%s: unreadable decompressed py3langid model (%s); loading the packaged one",
                            uncompressed, exc)
        if "ident" not in _IDENT:
            _IDENT["ident"] = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _IDENT["ident"]


def decompress_model(path: Path) -> None:
    """py3langid's model file, decompressed to ``path`` (for the workers)."""
    import lzma
    import shutil

    from py3langid.langid import MODEL_DIR, MODEL_FILE

    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with lzma.open(Path(MODEL_DIR) / MODEL_FILE) as src, tmp.open("wb") as dst:
        shutil.copyfileobj(src, dst, length=1 << 20)
    tmp.replace(path)


def decompressed_model(workdir: str) -> str:
    """The decompressed model: kept in the user's cache folder (keyed by py3langid's version
    and model file) when that folder is private to this user, else written to ``workdir``."""
    from importlib.metadata import version

    from py3langid.langid import MODEL_DIR, MODEL_FILE

    from ..trust import cache_dir, trusted

    st = (Path(MODEL_DIR) / MODEL_FILE).stat()
    cached = cache_dir() / f"py3langid-{version('py3langid')}-{st.st_size}-{int(st.st_mtime)}.npz"
    try:
        if not cached.exists():
            cached.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            decompress_model(cached)
        if trusted(cached):
            return str(cached)
    except OSError:
        pass
    local = Path(workdir) / "py3langid-model.npz"
    if not local.exists():
        decompress_model(local)
    return str(local)


class BatchIdentifier:
    """``py3langid``'s model applied to many texts at once (same probabilities)."""

    def __init__(self, ident: Any):
        self.ident = ident
        self.nextmove = np.asarray(ident.tk_nextmove, dtype=np.int64)
        self.rowbase = np.asarray(ident.tk_row, dtype=np.int64) << 8
        self.output = np.asarray(ident.tk_output, dtype=np.int64)
        self.table = np.asarray(ident.nb_ptc, dtype=np.float32)
        self.prior = np.asarray(ident.nb_pc, dtype=np.float32)
        self.classes = list(ident.nb_classes)
        self.index = {c: self.classes.index(c) for c in dict.fromkeys(self.classes)}

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """One row of class probabilities per text (columns: ``self.classes``)."""
        from scipy.sparse import csr_matrix

        n = len(texts)
        encoded = [self.ident._encode(t) for t in texts]
        lens = np.fromiter((len(b) for b in encoded), np.int64, n)
        order = np.argsort(-lens, kind="stable")
        sorted_lens = lens[order]
        width = int(sorted_lens[0]) if n else 0
        buf = np.zeros((n, max(width, 1)), np.uint8, order="F")
        flat = np.frombuffer(b"".join(encoded[i] for i in order), np.uint8)
        rows = np.repeat(np.arange(n), sorted_lens)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(sorted_lens) - sorted_lens, sorted_lens)
        buf[rows, cols] = flat
        active = np.searchsorted(-sorted_lens, -np.arange(width), side="left")  # texts longer than i
        state = np.zeros(n, np.int64)
        hit_rows, hit_feats = [], []
        for i in range(width):
            k = int(active[i])
            s = self.nextmove[self.rowbase[state[:k]] + buf[:k, i]]
            state[:k] = s
            f = self.output[s]
            hit = np.nonzero(f >= 0)[0]
            if len(hit):
                hit_rows.append(hit)
                hit_feats.append(f[hit])
        n_feat = self.table.shape[0]
        scores = np.zeros((n, len(self.classes)), np.float32)
        if hit_rows:
            r = np.concatenate(hit_rows)
            m = csr_matrix((np.ones(len(r), np.float32), (r, np.concatenate(hit_feats))), shape=(n, n_feat))
            m.sum_duplicates()  # feature counts per text
            np.log1p(m.data, out=m.data)
            has = np.diff(m.indptr) > 0
            scores[has] = (m @ self.table)[has] + self.prior
        scores *= (1.0 / np.sqrt(np.maximum(sorted_lens, 1))).astype(np.float32)[:, None]
        np.exp(scores - scores.max(axis=1, keepdims=True), out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        for i, j in self.ident._alias_pairs:  # a label with two columns: the first holds both
            scores[:, i] += scores[:, j]
            scores[:, j] = 0.0
        out = np.empty_like(scores)
        out[order] = scores
        return out


@dataclass
class LanguageId(Filter):
    """Probability that each side is in its expected language >= min_score."""

    name: ClassVar[str] = "language_id"
    expect: Annotated[list[str], Help("expected language of src and tgt: a column name or a language code each")] = \
        field(default_factory=lambda: ["src_lang", "tgt_lang"])
    min_score: Annotated[Ratio, Help("smallest probability of the expected language")] = 0.5

    def __post_init__(self) -> None:
        from ..errors import MissingDependency, PipelineError

        if len(self.expect) != 2:
            raise PipelineError(f"language_id: 'expect' needs two entries (src, tgt), found {self.expect!r}")
        import importlib.util

        if importlib.util.find_spec("py3langid") is None:
            raise MissingDependency("the language_id filter needs py3langid: pip install 'xlcorpus[filters]'")

    def columns(self):
        k = self.key
        return {f"{k}_src": pa.float64(), f"{k}_tgt": pa.float64(), f"{k}_src_top": pa.string(),
                f"{k}_tgt_top": pa.string()}

    def prepare(self, workdir, source):
        self._model = decompressed_model(workdir)

    def setup(self):
        self._ident = BatchIdentifier(identifier(getattr(self, "_model", None)))
        self._known = set(self._ident.classes)
        self._cache: dict[tuple[str, str | None], tuple[float | None, str]] = {}

    def _expected(self, batch: pa.RecordBatch, i: int) -> list[str | None]:
        want = self.expect[i]
        codes = batch.column(want).to_pylist() if want in batch.schema.names else [want] * batch.num_rows
        cache: dict[str, str | None] = {}
        out = []
        for c in codes:
            if c not in cache:
                m = model_code(c) if c else None
                cache[c] = m if m in self._known else None
            out.append(cache[c])
        return out

    def score(self, batch):
        if not hasattr(self, "_ident"):
            self.setup()
        out = {}
        classes = self._ident.classes
        cache = self._cache
        for i, side in enumerate(("src", "tgt")):
            keys = list(zip(batch.column(side).to_pylist(), self._expected(batch, i)))
            todo = list(dict.fromkeys(k for k in keys if k not in cache))  # a side repeated across pairs: once
            if todo:
                probs = self._ident.probabilities([t for t, _ in todo])
                top = probs.argmax(axis=1)
                if len(cache) + len(todo) > CACHE_SIZE:
                    cache.clear()
                for j, (text, lang) in enumerate(todo):
                    p = float(probs[j, self._ident.index[lang]]) if lang else None
                    cache[(text, lang)] = (p, classes[top[j]])
            got = [cache[k] for k in keys]
            out[f"{self.key}_{side}"] = pa.array([g[0] for g in got], pa.float64())
            out[f"{self.key}_{side}_top"] = pa.array([g[1] for g in got], pa.string())
        return out

    def accept(self, scores):
        return pc.coalesce(reason_where(pc.less(scores[f"{self.key}_src"], self.min_score), "src"),
                           reason_where(pc.less(scores[f"{self.key}_tgt"], self.min_score), "tgt"))

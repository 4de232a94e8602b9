"""Entity-oriented masking: exact positions per strategy, tokenizer loading, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from xlcorpus.codeswitch.masking import (IGNORE, STRATEGIES, EntityMasking, entity_of_tokens, load_tokenizer,
                                         mask_tokens)
from xlcorpus.errors import InputError

MASK = 99
RANDOM_IDS = np.array([50, 51, 52, 53])


class Draws:
    """A stand-in generator returning prescribed draws, in the order mask_tokens asks."""

    def __init__(self, *arrays):
        self.queue = [np.asarray(a) for a in arrays]

    def random(self, n):
        out = self.queue.pop(0)
        assert len(out) == n
        return out.astype(float)

    def integers(self, lo, hi, n):
        out = self.queue.pop(0)
        assert len(out) == n
        return out


# 7 tokens: [CLS] a b(e0) c(e0) d e(e1) [SEP]
IDS = np.array([1, 10, 11, 12, 13, 14, 2])
ENT = np.array([-1, -1, 0, 0, -1, 1, -1])
SPECIAL = np.array([True, False, False, False, False, False, True])
SELECT = [0.0, 0.1, 0.5, 0.5, 0.05, 0.9, 0.0]  # MLM picks tokens 1 and 4 (< 0.15), never specials
HOW = [0.0, 0.85, 0.5, 0.95, 0.95, 0.82, 0.0]
RAND = [0, 2, 1, 3, 0, 1, 0]


def run(strategy, ent_select=(0.1, 0.1), ent_mask=(0.5, 0.5), entity_prob=None):
    base = strategy.removesuffix("+MLM")
    draws = [SELECT, HOW, RAND] + ([] if base == "MLM" else [ent_select, ent_mask])
    return mask_tokens(IDS, ENT, SPECIAL, strategy, Draws(*draws), MASK, RANDOM_IDS, entity_prob)


def test_mlm_positions():
    out, labels = run("MLM")
    # token 1: how 0.85 -> random id RANDOM_IDS[2]; token 4: how 0.95 -> kept
    assert out.tolist() == [1, 52, 11, 12, 13, 14, 2]
    assert labels.tolist() == [IGNORE, 10, IGNORE, IGNORE, 13, IGNORE, IGNORE]


def test_wep_masks_whole_entities_or_keeps_them():
    out, labels = run("WEP", ent_mask=(0.5, 0.9))  # entity 0 masked (0.5 < 0.8), entity 1 kept
    assert out.tolist() == [1, 10, MASK, MASK, 13, 14, 2]
    assert labels.tolist() == [IGNORE, IGNORE, 11, 12, IGNORE, 14, IGNORE]


def test_wep_entity_probability():
    out, labels = run("WEP", ent_select=(0.7, 0.2), ent_mask=(0.1, 0.1), entity_prob=0.5)
    assert out.tolist() == [1, 10, 11, 12, 13, MASK, 2]  # only entity 1 selected
    assert labels.tolist() == [IGNORE] * 5 + [14, IGNORE]


def test_pep_mrs_positions():
    out, labels = run("PEP_MRS")
    # entity sub-words 2 (how .5 mask), 3 (how .95 keep), 5 (how .82 random RANDOM_IDS[1])
    assert out.tolist() == [1, 10, MASK, 12, 13, 51, 2]
    assert labels.tolist() == [IGNORE, IGNORE, 11, 12, IGNORE, 14, IGNORE]


def test_pep_ms_positions():
    out, labels = run("PEP_MS")
    assert out.tolist() == [1, 10, MASK, 12, 13, 14, 2]
    assert labels.tolist() == [IGNORE, IGNORE, 11, 12, IGNORE, 14, IGNORE]


def test_pep_m_positions_only_masked_predicted():
    out, labels = run("PEP_M")
    assert out.tolist() == [1, 10, MASK, 12, 13, 14, 2]
    assert labels.tolist() == [IGNORE, IGNORE, 11, IGNORE, IGNORE, IGNORE, IGNORE]


def test_wep_plus_mlm_positions():
    # entity probability 0.5: entity 0 (0.1) selected, entity 1 (0.6) not; MLM on non-entity
    # tokens 1 (random) and 4 (kept); entity token 5 never gets MLM
    out, labels = run("WEP+MLM", ent_select=(0.1, 0.6), ent_mask=(0.5, 0.5))
    assert out.tolist() == [1, 52, MASK, MASK, 13, 14, 2]
    assert labels.tolist() == [IGNORE, 10, 11, 12, 13, IGNORE, IGNORE]


def test_pep_variants_plus_mlm():
    out, labels = run("PEP_M+MLM", ent_select=(0.6, 0.1))  # entity 1 only
    assert out.tolist() == [1, 52, 11, 12, 13, 14, 2]
    assert labels.tolist() == [IGNORE, 10, IGNORE, IGNORE, 13, IGNORE, IGNORE]
    out, labels = run("PEP_MRS+MLM", ent_select=(0.1, 0.6))
    assert out.tolist() == [1, 52, MASK, 12, 13, 14, 2]
    assert labels.tolist() == [IGNORE, 10, 11, 12, 13, IGNORE, IGNORE]


def test_entity_of_tokens_overlap():
    offsets = [(0, 0), (0, 3), (4, 7), (7, 9), (10, 12), (0, 0)]
    special = np.array([True, False, False, False, False, True])
    ent = entity_of_tokens(offsets, special, [{"start": 4, "end": 9}, {"start": 11, "end": 12}])
    assert ent.tolist() == [-1, -1, 0, 0, 1, -1]


# ------------------------------------------------------------- real tokenizer
@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = "berlin is the capital of deutschland and europa ##ische union in ##s a city".split()
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, "<", ">", "e", "/"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    path = tmp_path_factory.mktemp("tok") / "tiny-wordpiece"
    fast.save_pretrained(path)
    return path


ROW = {"id": "0123456789abcdef", "tgt_lang": "de", "text": "Berlin is the capital of Deutschland and Europaische Union",
       "marked_text": "<e>Berlin</e> is the capital of <e>Deutschland</e> and <e>Europaische Union</e>",
       "entities": [{"start": 0, "end": 6, "qid": "Q64", "surface": "Berlin", "src_surface": "Berlin"},
                    {"start": 25, "end": 36, "qid": "Q183", "surface": "Deutschland", "src_surface": "Germany"},
                    {"start": 41, "end": 58, "qid": "Q458", "surface": "Europaische Union", "src_surface": "EU"}]}


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        load_tokenizer(tmp_path / "missing")


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_stage_on_real_tokenizer(tokenizer_dir, strategy):
    stage = EntityMasking(tokenizer_dir, strategy, seed=3)
    stage.setup()
    tok = stage._tok
    batch = pa.RecordBatch.from_pylist([ROW])
    out = stage(batch).to_pylist()[0]
    plain = tok(ROW["text"])["input_ids"]
    assert len(out["input_ids"]) == len(plain) == len(out["labels"]) == len(out["entity_mask"])
    # markers never reach the tokenizer: the token sequence is that of the plain text
    assert tok.convert_tokens_to_ids("<") not in plain
    tokens = tok.convert_ids_to_tokens(plain)
    ent_tokens = [t for t, m in zip(tokens, out["entity_mask"]) if m]
    assert ent_tokens == ["berlin", "deutschland", "europa", "##ische", "union"]
    for i, (orig, new, lab, m) in enumerate(zip(plain, out["input_ids"], out["labels"], out["entity_mask"])):
        if i in (0, len(plain) - 1):
            assert new == orig and lab == IGNORE  # specials untouched
        if lab != IGNORE:
            assert lab == orig
        if new != orig:
            assert lab == orig  # every change is predicted
        if not m and not strategy.endswith("MLM"):
            assert lab == IGNORE and new == orig  # entity-only strategies
    if strategy.startswith("WEP") and not strategy.endswith("+MLM"):
        # entity 3 is three sub-words: all masked or all intact, all predicted
        span = [i for i, t in enumerate(tokens) if t in ("europa", "##ische", "union")]
        masked = {out["input_ids"][i] == tok.mask_token_id for i in span}
        assert len(masked) == 1
        assert all(out["labels"][i] == plain[i] for i in span)
    again = EntityMasking(tokenizer_dir, strategy, seed=3)
    assert again(batch).to_pylist()[0] == out  # deterministic, set up lazily
    other = EntityMasking(tokenizer_dir, strategy, seed=4)
    assert other(batch).to_pylist()[0]["id"] != out["id"]


def test_mask_command_and_pipeline_step(tokenizer_dir, tmp_path):
    from xlcorpus.cli import entry
    from xlcorpus.store import Store

    root = Path(__file__).resolve().parents[1]
    store = tmp_path / "store"
    assert entry(["-q", "run", str(root / "pipelines" / "entitycs.yaml"), "--store", str(store),
                  "--set", f"tokenizer={tokenizer_dir}", "--set", "strategy=PEP_MS"]) == 0
    st = Store(store)
    n = st.count("entitycs")
    masked = st.to_arrow("entitycs_masked").to_pylist()
    assert len(masked) == n and {r["strategy"] for r in masked} == {"PEP_MS"}
    assert entry(["-q", "mask", "--store", str(store), "--tokenizer", str(tokenizer_dir),
                  "--strategy", "WEP", "--lang", "mt"]) == 0
    wep = [r for r in st.to_arrow("entitycs_masked").to_pylist() if r["strategy"] == "WEP"]
    assert wep and {r["tgt_lang"] for r in wep} == {"mt"}
    for r in wep:
        assert any(m for m in r["entity_mask"]) or all(lab == IGNORE for lab in r["labels"])
    assert entry(["mask", "--store", str(tmp_path / "none"), "--tokenizer", str(tokenizer_dir)]) == 1

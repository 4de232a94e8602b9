"""AER / precision / recall / F1 with sure and possible links, index bases, CLI."""

import json

import pytest

from xlcorpus.align.evaluate import parse_gold_line, score
from xlcorpus.cli import entry
from xlcorpus.errors import InputError

from .conftest import SHARED, needs_shared


def test_hand_computed_scores():
    # gold: sure {0-0, 1-1}, possible adds {1-2}; prediction {0-0, 1-2, 2-2}
    gold = [parse_gold_line("0-0 1-1 1p2")]
    res = score(gold, [{(0, 0), (1, 2), (2, 2)}])
    # |A|=3, |S|=2, |A&S|=1 (0-0), |A&P|=2 (0-0, 1-2)
    assert res.precision == pytest.approx(2 / 3, abs=1e-6)
    assert res.recall == pytest.approx(1 / 2, abs=1e-6)
    assert res.aer == pytest.approx(1 - (1 + 2) / (3 + 2), abs=1e-6)
    assert res.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), abs=1e-6)
    perfect = score(gold, [{(0, 0), (1, 1)}])
    assert perfect.aer == 0 and perfect.precision == 1 and perfect.recall == 1
    # a possible link predicted does not hurt AER but does not add recall
    assert score(gold, [{(0, 0), (1, 1), (1, 2)}]).aer == 0


def test_index_bases_and_out_of_range_links():
    one = parse_gold_line("1-1 2p3", one_indexed=True)
    zero = parse_gold_line("0-0 1p2")
    assert one.sure == zero.sure and one.possible == zero.possible
    bad = parse_gold_line("0-1 1-1", one_indexed=True)        # 0 is below base 1: skipped
    assert bad.sure == {(0, 0)} and len(bad.skipped) == 1
    with pytest.raises(InputError, match="gold:1: link 5-5 .* outside the 2x2 tokens of pair 1"):
        score([parse_gold_line("0-0 5-5")], [{(0, 0)}], lengths=[(2, 2)])
    with pytest.raises(InputError, match="pred:1: link 0-3 .* outside the 2x2 tokens"):
        score([parse_gold_line("0-0")], [{(0, 0), (0, 3)}], lengths=[(2, 2)])
    with pytest.raises(InputError, match="below the index base"):
        score([bad], [set()])
    res = score([parse_gold_line("0-0 5-5")], [{(0, 0), (0, 3)}], lengths=[(2, 2)], lenient=True)
    assert res.aer == 0 and res.skipped == ["gold:1: link 5-5 outside 2x2 tokens", "pred:1: link 0-3 outside 2x2 tokens"]
    with pytest.raises(ValueError, match="cannot read link"):
        parse_gold_line("0-0 x-1", where="gold:3")
    with pytest.raises(ValueError, match="2 pairs but predictions have 1"):
        score([zero, zero], [set()])


def test_cli_eval_align(tmp_path, capsys):
    gold = tmp_path / "gold"
    gold.write_text("1-1 2-2 2p3\n1-1\n")
    pred = tmp_path / "pred"
    pred.write_text("0-0 1-2\n0-0 7-7\n")
    pairs = tmp_path / "pairs"
    pairs.write_text("a b ||| x y z\nc ||| w\n")
    args = ["eval", "align", "--gold", str(gold), "--pred", str(pred), "--gold-one-indexed", "--pairs", str(pairs)]
    assert entry(args) == 1  # 7-7 lies outside the 1x1 tokens of pair 2
    assert f"error: {pred}:2: link 7-7 (0-indexed) is outside the 1x1 tokens" in capsys.readouterr().err
    assert entry(args + ["--lenient"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"aer", "precision", "recall", "f1"} and out["skipped"] == 1
    # A={0-0,1-2,0-0} 3 links (7-7 skipped); S={0-0,1-1,0-0} 3; A&S=2; A&P=3
    assert out["precision"] == pytest.approx(1.0) and out["recall"] == pytest.approx(2 / 3, abs=1e-6)
    # without --pairs nothing can be checked, and a warning says so
    assert entry(args[:-2]) == 0 and "not checked" in capsys.readouterr().err
    short = tmp_path / "short"
    short.write_text("a b ||| x y z\n")
    assert entry(args[:-1] + [str(short)]) == 1
    assert f"{short}: has 1 sentence pairs but {gold} has 2" in capsys.readouterr().err
    assert entry(["eval", "align", "--gold", str(gold), "--pred", str(pairs)]) == 1   # unreadable pred


@needs_shared
def test_cli_align_and_eval_on_real_gold(tmp_path, capsys):
    """The documented commands on the real en-fr gold (single eflomal run to stay fast)."""
    d = SHARED / "wordalign"
    pred = tmp_path / "links.txt"
    assert entry(["align", "--input", str(d / "enfr.src-tgt"), "--output", str(pred), "--runs", "1",
                  "--symmetrize", "intersection"]) == 0
    lines = pred.read_text().splitlines()
    assert len(lines) == 447
    capsys.readouterr()
    assert entry(["eval", "align", "--gold", str(d / "enfr.gold"), "--pred", str(pred),
                  "--gold-one-indexed"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["aer"] < 0.14   # plain eflomal: ~0.17; similarity priors + prefix: ~0.10-0.11

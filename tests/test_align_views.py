"""Lexical table, alignment-based code-switching and interlinear views."""

import pytest

from xlcorpus.align.codeswitch import code_switch, phrase_units
from xlcorpus.align.interlinear import bitext_view, display_width, igt_view
from xlcorpus.align.lexical import LexicalTable, count_links
from xlcorpus.text import tokenize


def test_lexical_probabilities():
    pairs = [(["The", "cat"], ["le", "chat"], [(0, 0), (1, 1)]),
             (["the", "dog"], ["la", "chien"], [(0, 0), (1, 1)]),
             (["the", "cat"], ["le", "chat"], [(0, 0), (1, 1), (0, 1)])]
    counts = count_links(pairs)
    assert counts[("the", "le")] == 2 and counts[("the", "chat")] == 1
    table = LexicalTable.from_counts(counts)
    rows = {(r["src"], r["tgt"]): r for r in table.rows("en", "fr")}
    assert rows[("the", "le")]["p_tgt_given_src"] == pytest.approx(2 / 4)    # the: le, la, le, chat
    assert rows[("the", "chat")]["p_src_given_tgt"] == pytest.approx(1 / 3)  # chat: cat, cat, the
    assert rows[("cat", "chat")]["count"] == 2
    assert len(table.rows("en", "fr", min_count=2)) == 2
    # the in-memory probabilities are the table's: sqrt(p(t|s) p(s|t)), case-folded
    assert table.prob("The", "Chat") == pytest.approx((1 / 4 * 1 / 3) ** 0.5)
    assert table.transposed().prob("chat", "the") == table.prob("the", "chat")
    assert LexicalTable.from_links([p[0] for p in pairs], [p[1] for p in pairs], [p[2] for p in pairs]).counts == counts


def test_phrase_units_are_consistent():
    # 0-0; 1-2 and 2-1 cross (two separate units); 3-3 and 3-4 one unit; 4-? unaligned
    links = [(0, 0), (1, 2), (2, 1), (3, 3), (3, 4)]
    assert phrase_units(links) == [(0, 0, 0, 0), (1, 1, 2, 2), (2, 2, 1, 1), (3, 3, 3, 4)]
    # 0-0 and 0-2 with 1-1 inside: the box of {0-0, 0-2} contains 1-1: inconsistent alone
    assert (0, 0, 0, 2) not in phrase_units([(0, 0), (0, 2), (1, 1)])


def test_code_switch_offsets_and_seed():
    src, tgt = "the red cat sleeps .", "le chat rouge dort ."
    s, t = tokenize(src, "en", True), tokenize(tgt, "fr", True)
    so, to = list(zip(s.starts, s.ends)), list(zip(t.starts, t.ends))
    links = [(0, 0), (1, 2), (2, 1), (3, 3), (4, 4)]
    full, spans = code_switch(src, so, tgt, to, links, 1.0, seed=0, key="p1")
    assert full == "le rouge chat dort ."                 # every unit switched, source order kept
    for sp in spans:
        assert full[sp.start:sp.end] == tgt[sp.tgt_start:sp.tgt_end]
    none, spans0 = code_switch(src, so, tgt, to, links, 0.0, seed=0, key="p1")
    assert none == src and spans0 == []
    outs = {code_switch(src, so, tgt, to, links, 0.4, seed=k, key="p1")[0] for k in range(12)}
    assert len(outs) > 2                                    # the seed changes the choice
    a = code_switch(src, so, tgt, to, links, 0.4, seed=3, key="p1")
    assert a == code_switch(src, so, tgt, to, links, 0.4, seed=3, key="p1")
    text, spans = a
    assert sum(src[x.src_start:x.src_end].count(" ") + 1 for x in spans) >= 2   # >= 40% of 5 tokens
    for sp in spans:
        assert text[sp.start:sp.end] == tgt[sp.tgt_start:sp.tgt_end]
    with pytest.raises(ValueError, match="ratio"):
        code_switch(src, so, tgt, to, links, 1.5, seed=0)


def test_interlinear_views():
    out = bitext_view(["the", "cat", "sleeps"], ["le", "chat", "dort", "bien"], [(0, 0), (1, 1), (2, 2)])
    lines = out.splitlines()
    assert lines[0].split() == ["the", "cat", "sleeps"] and lines[1].split() == ["le", "chat", "dort"]
    assert lines[0].index("cat") == lines[1].index("chat")          # columns line up
    assert "(unaligned target: bien)" in out
    assert display_width("東京") == 4 and display_width("é") == 1
    cjk = bitext_view(["Tokyo", "is", "big"], ["東京", "は", "大きい"], [(0, 0), (2, 2)])
    top, bottom = cjk.splitlines()[:2]
    assert display_width(top[:top.index("big")]) == display_width(bottom[:bottom.index("大きい")])
    wrapped = bitext_view(["word"] * 30, ["mot"] * 30, [(i, i) for i in range(30)], width=40)
    assert max(len(l) for l in wrapped.splitlines()) <= 40 and wrapped.count("word") == 30
    igt = igt_view(["gatos"], [["gato", "s"]], [["cat", "PL"]], "cats")
    assert igt.splitlines() == ["gatos", "gato-s", "cat-PL", "‘cats’"]

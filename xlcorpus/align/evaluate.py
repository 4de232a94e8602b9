"""Alignment quality against Pharaoh gold: AER, precision, recall, F1 (Och & Ney 2003).

Gold lines hold sure links ``i-j`` and possible links ``ipj`` (sure links count as possible
too). ``P = |A & P| / |A|``, ``R = |A & S| / |S|``, ``AER = 1 - (|A & S| + |A & P|) / (|A| + |S|)``,
F1 from P and R. Gold may be 0- or 1-indexed; predictions are 0-indexed. A link below the
index base, or (when sentence lengths are known, from the ``src ||| tgt`` file) outside its
sentence, is an error naming the file and line; ``lenient`` skips such links instead and lists
them in ``skipped``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import InputError
from ..sources.inputs import input_error, read_pair_lines, text_lines

Link = tuple[int, int]


@dataclass
class GoldPair:
    sure: set[Link]
    possible: set[Link]  # includes the sure links
    skipped: list[str] = field(default_factory=list)  # links below the index base


@dataclass
class AlignmentScores:
    aer: float
    precision: float
    recall: float
    f1: float
    pairs: int
    predicted: int
    sure: int
    possible: int
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def parse_gold_line(line: str, one_indexed: bool = False, where: str = "gold") -> GoldPair:
    """Parse ``i-j`` (sure) and ``ipj`` (possible) links; raise ValueError naming ``where``."""
    base = 1 if one_indexed else 0
    sure, possible, skipped = set(), set(), []
    for item in line.split():
        sep = "-" if "-" in item else "p" if "p" in item else None
        parts = item.split(sep) if sep else []
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{where}: cannot read link {item!r} (expected i-j or ipj)")
        link = (int(parts[0]) - base, int(parts[1]) - base)
        if link[0] < 0 or link[1] < 0:
            skipped.append(f"{where}: link {item!r} is below the index base {base}")
            continue
        possible.add(link)
        if sep == "-":
            sure.add(link)
    return GoldPair(sure, possible, skipped)


def parse_links_line(line: str, where: str = "pred") -> set[Link]:
    pair = parse_gold_line(line, False, where)
    return pair.possible


def score(gold: list[GoldPair], pred: list[set[Link]], lengths: list[tuple[int, int]] | None = None,
          lenient: bool = False, names: tuple[str, str] = ("gold", "pred")) -> AlignmentScores:
    """Score ``pred`` against ``gold`` (equal number of pairs). With ``lengths`` (tokens per
    side), a gold or predicted link outside its sentence raises InputError naming
    ``names[0]:LINE`` or ``names[1]:LINE``, as does a gold link below the index base;
    ``lenient`` skips those links and lists them in ``skipped``."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} pairs but predictions have {len(pred)}")
    if lengths is not None and len(lengths) != len(gold):
        raise ValueError(f"the sentence pairs file has {len(lengths)} pairs but gold has {len(gold)}")
    a_s = a_p = n_a = n_s = n_p = 0
    skipped: list[str] = []
    for i, (g, a) in enumerate(zip(gold, pred)):
        sure, possible = g.sure, g.possible
        if g.skipped and not lenient:
            raise InputError(g.skipped[0])
        skipped.extend(g.skipped)
        if lengths is not None:
            ls, lt = lengths[i]
            for name, links in ((names[0], possible), (names[1], a)):
                bad = {l for l in links if l[0] >= ls or l[1] >= lt}
                if bad and not lenient:
                    s, t = min(bad)
                    raise input_error(name, f"link {s}-{t} (0-indexed) is outside the {ls}x{lt} tokens of pair "
                                            f"{i + 1} (--lenient skips such links)", i + 1)
                skipped.extend(f"{name}:{i + 1}: link {s}-{t} outside {ls}x{lt} tokens" for s, t in sorted(bad))
                if links is possible:
                    sure, possible = sure - bad, possible - bad
                else:
                    a = a - bad
        a_s += len(a & sure)
        a_p += len(a & possible)
        n_a += len(a)
        n_s += len(sure)
        n_p += len(possible)
    precision = a_p / n_a if n_a else 0.0
    recall = a_s / n_s if n_s else 0.0
    aer = 1.0 - (a_s + a_p) / (n_a + n_s) if (n_a + n_s) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return AlignmentScores(round(aer, 6), round(precision, 6), round(recall, 6), round(f1, 6),
                           len(gold), n_a, n_s, n_p, skipped)


def score_files(gold_path: str, pred_path: str, gold_one_indexed: bool = False,
                pairs_path: str | None = None, lenient: bool = False) -> AlignmentScores:
    """Score a Pharaoh prediction file against a gold file; with the ``src ||| tgt`` file,
    links outside the sentences are errors (``lenient``: skipped and listed)."""
    gold = [parse_gold_line(l, gold_one_indexed, f"{gold_path}:{n}") for n, l in text_lines(gold_path)]
    pred = [parse_links_line(l, f"{pred_path}:{n}") for n, l in text_lines(pred_path)]
    lengths = None
    if pairs_path:
        lengths = [(len(s.split()), len(t.split())) for _, s, t in read_pair_lines(pairs_path)]
        if len(lengths) != len(gold):
            raise input_error(pairs_path, f"has {len(lengths)} sentence pairs but {gold_path} has {len(gold)}")
    return score(gold, pred, lengths, lenient, (gold_path, pred_path))

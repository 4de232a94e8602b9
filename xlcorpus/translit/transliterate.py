"""Etymology-conditioned transliteration of Maltese (Micallef et al., EACL 2024).

Per token, an *action* chosen from its predicted origin:

- ``transliterate``: a closed-class token map first (whole lower-cased token, e.g. ``il-``
  -> ``ال+``), otherwise a character-map transducer over the lower-cased token;
- ``translate``: a word dictionary (``token<TAB>translation``; exact form, then
  lower-cased); a token it lacks is kept (the applied action is then ``keep``);
- ``keep``: the token unchanged.

**Map files** start with a header line naming their kind, then ``src<TAB>tgt`` rows (an
empty ``tgt`` deletes ``src``):

- ``#char-map_first``: pass 1 (``għ``, ``ie``); ``#shadda``: pass 2 (doubled consonants);
  ``#char-map``: pass 3 (single characters). Each pass rewrites, longest match first, only
  the characters no earlier pass has rewritten; characters no map covers are copied.
- ``#special``: ``<BOS>``/``<EOS>`` rows give text put before/after every transliterated
  token; other rows join pass 1.
- Token maps (closed-class words) have no header, or ``#token-map``.

A transliterated token ending in ``+`` (``ال+``) is a proclitic: it is joined without a space
to the next token's output if that one is transliterated too (the ``+`` is dropped).

**Presets** (the study's variants): ``transliterate_all``, ``translate_all``,
``transliterate_arabic`` (Arabic-origin tokens transliterated, others kept) and
``transliterate_arabic_translate`` (Arabic-origin transliterated, others translated).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..engine.core import Stage
from ..errors import InputError
from ..sources.inputs import text_lines
from ..ids import stable_id
from ..schema import contract

PASSES = ("char-map_first", "shadda", "char-map")
HEADERS = {*PASSES, "special", "token-map"}
PRESETS = ("transliterate_all", "translate_all", "transliterate_arabic", "transliterate_arabic_translate")
ACTIONS = ("transliterate", "translate", "keep")
CLITIC = "+"


def read_map(path: str | Path, token_map: bool = False) -> tuple[str, list[tuple[str, str]]]:
    """``(kind, rows)`` of a map file; ``token_map`` allows a file without a header."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such map file")
    kind, rows = ("token-map" if token_map else ""), []
    for n, line in text_lines(p):
        if n == 1 and line.startswith("#"):
            kind = line[1:].strip()
            if kind not in HEADERS:
                raise InputError(f"{p}:1: unknown map header {line.strip()!r} "
                                 f"(expected one of {sorted('#' + h for h in HEADERS)})")
            continue
        if not line:
            continue
        if "\t" not in line:
            raise InputError(f"{p}:{n}: expected 'source<TAB>target', found {line[:60]!r}")
        src, tgt = line.split("\t", 1)
        if not src:
            raise InputError(f"{p}:{n}: empty source")
        rows.append((src, tgt))
    if not kind:
        raise InputError(f"{p}: no header line (expected one of {sorted('#' + h for h in PASSES)} or #special)")
    return kind, rows


@dataclass
class CharTransducer:
    """Passes of ``{source: target}`` rules applied longest match first."""

    passes: list[dict[str, str]] = field(default_factory=lambda: [{} for _ in PASSES])
    bos: str = ""
    eos: str = ""

    @classmethod
    def from_files(cls, paths: list[Path]) -> CharTransducer:
        t = cls()
        for p in paths:
            kind, rows = read_map(p)
            if kind == "token-map":
                raise InputError(f"{p}: a token map, not a character map (give it as a token map)")
            for src, tgt in rows:
                if kind == "special" and src in ("<BOS>", "<EOS>"):
                    if src == "<BOS>":
                        t.bos = tgt
                    else:
                        t.eos = tgt
                    continue
                t.passes[0 if kind == "special" else PASSES.index(kind)][src] = tgt
        return t

    def apply(self, text: str) -> str:
        """Transliterate ``text`` (already lower-cased by the caller if wanted)."""
        parts: list[tuple[str, bool]] = [(text, False)]  # (text, done)
        for rules in self.passes:
            if rules:
                longest = max(map(len, rules))
                parts = [q for part in parts for q in ([part] if part[1] else _rewrite(part[0], rules, longest))]
        return self.bos + "".join(t for t, _ in parts) + self.eos


def _rewrite(text: str, rules: dict[str, str], longest: int) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    i, plain = 0, []
    while i < len(text):
        for n in range(min(longest, len(text) - i), 0, -1):
            tgt = rules.get(text[i:i + n])
            if tgt is not None:
                if plain:
                    out.append(("".join(plain), False))
                    plain = []
                out.append((tgt, True))
                i += n
                break
        else:
            plain.append(text[i])
            i += 1
    if plain:
        out.append(("".join(plain), False))
    return out


def read_dictionary(path: str | Path) -> dict[str, str]:
    """``token<TAB>translation`` rows; the first translation of a token wins."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such dictionary file")
    out: dict[str, str] = {}
    for n, line in text_lines(p):
        if not line:
            continue
        src, sep, tgt = line.partition("\t")
        if not sep or not src:
            raise InputError(f"{p}:{n}: expected 'token<TAB>translation', found {line[:60]!r}")
        out.setdefault(src, tgt)
    return out


def policy(preset: str, origin: str, arabic_labels: frozenset[str]) -> str:
    """The action a preset asks for a token of predicted ``origin``."""
    if preset == "transliterate_all":
        return "transliterate"
    if preset == "translate_all":
        return "translate"
    if preset == "transliterate_arabic":
        return "transliterate" if origin in arabic_labels else "keep"
    if preset == "transliterate_arabic_translate":
        return "transliterate" if origin in arabic_labels else "translate"
    raise InputError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")


@dataclass
class Transliterator:
    """Applies actions to tokens: char transducer, token maps, dictionary."""

    chars: CharTransducer
    token_map: dict[str, str] = field(default_factory=dict)
    dictionary: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_files(cls, maps: list[Path], token_maps: list[Path], dictionary: Path | None) -> Transliterator:
        tokens: dict[str, str] = {}
        for p in token_maps:
            kind, rows = read_map(p, token_map=True)
            if kind != "token-map":
                raise InputError(f"{p}: a #{kind} character map, not a token map")
            for src, tgt in rows:
                tokens.setdefault(src.lower(), tgt)
        return cls(CharTransducer.from_files(maps), tokens,
                   read_dictionary(dictionary) if dictionary else {})

    def apply(self, token: str, action: str) -> tuple[str, str]:
        """``(output, applied action)`` for one token."""
        if action == "transliterate":
            low = token.lower()
            hit = self.token_map.get(low)
            return (hit if hit is not None else self.chars.apply(low)), "transliterate"
        if action == "translate":
            hit = self.dictionary.get(token)
            if hit is None:
                hit = self.dictionary.get(token.lower())
            return (hit, "translate") if hit is not None else (token, "keep")
        if action == "keep":
            return token, "keep"
        raise InputError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")


def join_outputs(outputs: list[tuple[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """Join ``(output, action)`` pairs with spaces; a transliterated proclitic ``x+``
    joins the next output without a space when that one is transliterated too (otherwise
    the ``+`` is just dropped). Return the text and each output's span in it."""
    parts, spans, pos = [], [], 0
    for i, (out, action) in enumerate(outputs):
        clitic = action == "transliterate" and out.endswith(CLITIC) and len(out) > 1
        text = out[:-1] if clitic else out
        spans.append((pos, pos + len(text)))
        parts.append(text)
        pos += len(text)
        if i + 1 < len(outputs) and not (clitic and outputs[i + 1][1] == "transliterate"):
            parts.append(" ")
            pos += 1
    return "".join(parts), spans


SENTENCE_SCHEMA = pa.schema([("source", pa.string()), ("position", pa.int64()), ("sentence", pa.string()),
                             ("text", pa.string()), ("starts", pa.list_(pa.int32())),
                             ("ends", pa.list_(pa.int32())), ("gold", pa.list_(pa.string()))])


class MalteseStage(Stage):
    """Stage: sentences ``(source, position, sentence, text, starts, ends, gold)`` ->
    ``transliterated`` rows, one per sentence and preset.

    The etymology model, maps and dictionary are loaded once per worker in :meth:`setup`.
    """

    name = "maltese"

    def __init__(self, model: Path, maps: list[Path], token_maps: list[Path], dictionary: Path | None,
                 presets: list[str], arabic_labels: list[str]):
        for p in presets:
            policy(p, "", frozenset())  # unknown presets fail here, before any work
        self.model, self.maps, self.token_maps, self.dictionary = model, maps, token_maps, dictionary
        self.presets, self.arabic = list(presets), frozenset(arabic_labels)
        self._tagger = self._rules = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tagger": None, "_rules": None}

    def setup(self) -> None:
        if self._tagger is None:
            from .etymology import EtymologyTagger

            self._tagger = EtymologyTagger(self.model)
            self._rules = Transliterator.from_files(self.maps, self.token_maps, self.dictionary)

    def __call__(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        self.setup()
        meta = self._tagger.meta
        model = f"{meta['label_column']} ({meta['tokens']} tokens, {meta['sentences']} sentences)"
        rows = []
        for r in batch.to_pylist():
            text = r["text"]
            surfaces = [text[a:b] for a, b in zip(r["starts"], r["ends"])]
            tags = self._tagger.tag(surfaces)
            gold = r["gold"] or [None] * len(surfaces)
            for preset in self.presets:
                done = [self._rules.apply(t, policy(preset, origin, self.arabic))
                        for t, (origin, _) in zip(surfaces, tags)]
                output, spans = join_outputs(done)
                tokens = [{"start": a, "end": b, "surface": s, "origin": origin, "confidence": conf, "gold": g,
                           "action": action, "output": output[oa:ob], "out_start": oa, "out_end": ob}
                          for a, b, s, (origin, conf), g, (_, action), (oa, ob)
                          in zip(r["starts"], r["ends"], surfaces, tags, gold, done, spans)]
                rows.append({"id": stable_id(preset, r["source"], r["sentence"], text), "preset": preset,
                             "sentence": r["sentence"], "text": text, "output": output, "tokens": tokens,
                             "model": model, "source": r["source"], "line": r["position"]})
        return contract("transliterated").batch(rows)

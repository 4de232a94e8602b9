"""Choose the language identifier of the ``language_id`` filter: accuracy and speed of the
candidates that ship their model inside the package, on the shared NTREX-128 and Tatoeba
sides (every language side, up to ``--per-side`` sentences each).

Accuracy counts a sentence right when the identifier's top language equals the side's
language (ISO 639-1; zh-cn/cmn -> zh). Languages an identifier does not know count as wrong
for it. Speed: sentences per CPU second, one process (lingua's ``_in_parallel`` calls use threads:
their CPU time is counted).

    python benchmarks/langid_choice.py [--per-side 300]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import print_load  # noqa: E402
from _results import write_results  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "parallel"


def sides(per_side: int) -> list[tuple[str, list[str]]]:
    """(ISO 639-1 language, sentences) for every NTREX and Tatoeba side."""
    import langcodes

    out = []
    for path in sorted((DATA / "ntrex128").glob("newstest2019-*.txt")):
        code = path.stem.split(".")[-1].split("-")[0]
        out.append((code, path))
    for path in sorted((DATA / "tatoeba").glob("tatoeba.*")):
        out.append((path.suffix[1:], path))
    result = []
    for code, path in out:
        lang = langcodes.standardize_tag({"cmn": "zh", "arb": "ar", "zho": "zh"}.get(code, code)).split("-")[0]
        lines = [s for s in path.read_text(encoding="utf-8").splitlines() if s.strip()][:per_side]
        result.append((lang, lines))
    return result


def candidates():
    def lingua_fn(low: bool):
        from lingua import LanguageDetectorBuilder

        b = LanguageDetectorBuilder.from_all_languages()
        det = (b.with_low_accuracy_mode() if low else b).build()

        def detect(texts):
            return [None if r is None else r.iso_code_639_1.name.lower()
                    for r in det.detect_languages_in_parallel_of(texts)]
        return detect

    def langid_fn():
        import py3langid as langid

        ident = langid.langid.LanguageIdentifier.from_model_file(langid.langid.MODEL_FILE, norm_probs=True)
        return lambda texts: [ident.classify(t)[0] for t in texts]

    def cld3_fn():
        import gcld3  # the cld3-py package

        ident = gcld3.NNetLanguageIdentifier(min_num_bytes=0, max_num_bytes=1000)

        def detect(texts):
            return [ident.FindLanguage(text=t).language.split("-")[0] for t in texts]
        return detect

    def langid_orig_fn():
        from langid.langid import LanguageIdentifier, model

        ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
        return lambda texts: [ident.classify(t)[0] for t in texts]

    return {"lingua (high accuracy)": lambda: lingua_fn(False), "lingua (low accuracy)": lambda: lingua_fn(True),
            "py3langid": langid_fn, "langid": langid_orig_fn, "cld3-py": cld3_fn}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--per-side", type=int, default=300)
    ap.add_argument("--only", nargs="*", help="candidate names to measure (default: all)")
    args = ap.parse_args()
    load = print_load("before")
    data = sides(args.per_side)
    n = sum(len(x) for _, x in data)
    print(f"{len(data)} sides, {n} sentences")
    results = {}
    for name, make in candidates().items():
        if args.only and name not in args.only:
            continue
        detect = make()
        detect(["warm up this identifier"])
        right, cpu = 0, 0.0
        per_lang: dict[str, list[int]] = {}
        for lang, texts in data:
            t0 = time.process_time()
            got = detect(texts)
            cpu += time.process_time() - t0
            ok = sum(g == lang for g in got)
            right += ok
            acc = per_lang.setdefault(lang, [0, 0])
            acc[0] += ok
            acc[1] += len(texts)
        results[name] = {"accuracy": round(right / n, 4), "sentences_per_cpu_s": round(n / cpu),
                         "per_language": {k: round(a / b, 3) for k, (a, b) in sorted(per_lang.items())}}
        print(f"{name:24s} accuracy {right / n:.4f}  {n / cpu:,.0f} sentences/CPU s")
    load_after = print_load("after")
    write_results("langid_choice", {"sentences": n, "sides": len(data), "results": results,
                                    "load_before": load, "load_after": load_after})


if __name__ == "__main__":
    main()

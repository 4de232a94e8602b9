"""Where a table's data comes from: source licenses, method papers and source datasets.

Each pipeline kind declares the sources it reads (``KIND_SOURCES``: EntityCS reads Wikipedia
and Wikidata) and the papers of its methods (``KIND_METHODS``); inputs of other kinds are
recognised by file name when they are a known corpus (``INPUT_SOURCES``: NTREX-128,
Tatoeba, Multi30k). A table's license follows from the sources of every commit in its
lineage (:func:`resolve_license`); when any input is unknown the license must be given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Source:
    """A corpus or knowledge base that inputs come from."""

    key: str
    name: str
    license: str  # Hub license id
    dataset: str  # for the card's source_datasets
    bibtex: str


# Checked against the publishers' records (ACL Anthology pages, the journal's own page, the
# authors' sites and project READMEs); a field no such record showed is left out, not guessed.
SOURCES: dict[str, Source] = {s.key: s for s in [
    Source("wikipedia", "Wikipedia", "cc-by-sa-4.0", "extended|wikimedia/wikipedia", """@misc{wikipedia,
  author = {{Wikimedia Foundation}},
  title = {Wikimedia Downloads},
  howpublished = {\\url{https://dumps.wikimedia.org}}
}"""),
    Source("wikidata", "Wikidata", "cc0-1.0", "extended|wikidata", """@article{vrandecic2014wikidata,
  author = {Vrande{\\v{c}}i{\\'c}, Denny and Kr{\\"o}tzsch, Markus},
  title = {Wikidata: A Free Collaborative Knowledgebase},
  journal = {Communications of the ACM},
  volume = {57},
  number = {10},
  pages = {78--85},
  year = {2014}
}"""),
    Source("ntrex", "NTREX-128", "cc-by-sa-4.0", "extended|ntrex-128", """@inproceedings{federmann-etal-2022-ntrex,
  author = {Federmann, Christian and Kocmi, Tom and Xin, Ying},
  title = {{NTREX}-128 {--} News Test References for {MT} Evaluation of 128 Languages},
  booktitle = {Proceedings of the First Workshop on Scaling Up Multilingual Evaluation},
  month = nov,
  year = {2022},
  address = {Online},
  publisher = {Association for Computational Linguistics},
  url = {https://aclanthology.org/2022.sumeval-1.4},
  pages = {21--24}
}"""),
    Source("tatoeba", "Tatoeba", "cc-by-2.0-fr", "extended|tatoeba", """@misc{tatoeba,
  title = {Tatoeba: a collection of sentences and translations},
  howpublished = {\\url{https://tatoeba.org}}
}"""),
]}

METHODS: dict[str, str] = {
    "entitycs": """@inproceedings{whitehouse-etal-2022-entitycs,
  author = {Whitehouse, Chenxi and Christopoulou, Fenia and Iacobacci, Ignacio},
  title = {{E}ntity{CS}: Improving Zero-Shot Cross-lingual Transfer with Entity-Centric Code Switching},
  booktitle = {Findings of the Association for Computational Linguistics: EMNLP 2022},
  month = dec,
  year = {2022},
  address = {Abu Dhabi, United Arab Emirates},
  publisher = {Association for Computational Linguistics},
  url = {https://aclanthology.org/2022.findings-emnlp.499},
  doi = {10.18653/v1/2022.findings-emnlp.499},
  pages = {6698--6714}
}""",
    "simalign": """@inproceedings{jalili-sabet-etal-2020-simalign,
  author = {Jalili Sabet, Masoud and Dufter, Philipp and Yvon, Fran{\\c{c}}ois and Sch{\\"u}tze, Hinrich},
  title = {{S}im{A}lign: High Quality Word Alignments Without Parallel Training Data Using Static and Contextualized Embeddings},
  booktitle = {Findings of the Association for Computational Linguistics: EMNLP 2020},
  month = nov,
  year = {2020},
  address = {Online},
  publisher = {Association for Computational Linguistics},
  url = {https://aclanthology.org/2020.findings-emnlp.147},
  doi = {10.18653/v1/2020.findings-emnlp.147},
  pages = {1627--1643}
}""",
    "eflomal": """@article{ostling-tiedemann-2016-efficient,
  author = {{\\"O}stling, Robert and Tiedemann, J{\\"o}rg},
  title = {Efficient Word Alignment with {M}arkov {C}hain {M}onte {C}arlo},
  journal = {The Prague Bulletin of Mathematical Linguistics},
  volume = {106},
  pages = {125--146},
  year = {2016},
  url = {https://ufal.mff.cuni.cz/pbml/106/art-ostling-tiedemann.pdf}
}""",
    "tprojection": """@inproceedings{garcia-ferrero-etal-2023-t,
  author = {Garc{\\'i}a-Ferrero, Iker and Agerri, Rodrigo and Rigau, German},
  title = {{T}-Projection: High Quality Annotation Projection for Sequence Labeling Tasks},
  booktitle = {Findings of the Association for Computational Linguistics: EMNLP 2023},
  year = {2023},
  url = {https://aclanthology.org/2023.findings-emnlp.1015}
}""",
    "uroman": """@inproceedings{hermjakob-etal-2018-box,
  author = {Hermjakob, Ulf and May, Jonathan and Knight, Kevin},
  title = {Out-of-the-box Universal {R}omanization Tool uroman},
  booktitle = {Proceedings of {ACL} 2018, System Demonstrations},
  year = {2018},
  address = {Melbourne, Australia},
  publisher = {Association for Computational Linguistics},
  url = {https://aclanthology.org/P18-4003},
  pages = {13--18}
}""",
    "maltese": """@inproceedings{micallef-etal-2024-cross,
  author = {Micallef, Kurt and Habash, Nizar and Borg, Claudia and Eryani, Fadhl and Bouamor, Houda},
  title = {Cross-Lingual Transfer from Related Languages: Treating Low-Resource {M}altese as Multilingual Code-Switching},
  booktitle = {Proceedings of the 18th Conference of the European Chapter of the Association for Computational Linguistics (Volume 1: Long Papers)},
  month = mar,
  year = {2024},
  address = {St. Julian's, Malta},
  publisher = {Association for Computational Linguistics},
  url = {https://aclanthology.org/2024.eacl-long.61},
  pages = {1014--1025}
}""",
}

# The sources each pipeline kind reads by construction, and the papers of its methods
# ("KIND/METHOD": a kind run with that ``method`` parameter).
KIND_SOURCES: dict[str, tuple[str, ...]] = {"entitycs": ("wikipedia", "wikidata")}
KIND_METHODS: dict[str, tuple[str, ...]] = {
    "entitycs": ("entitycs",),
    "bitext-align": ("eflomal",),
    "bitext-align/neural": ("simalign",),
    "tprojection": ("tprojection",),
    "translate-train": ("tprojection",),
    "romanize": ("uroman",),
    "maltese": ("maltese",),
}
# Inputs of a known corpus, recognised by their path.
INPUT_SOURCES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"ntrex", re.I), "ntrex"),
    (re.compile(r"tatoeba", re.I), "tatoeba"),
]
SHARE_ALIKE = re.compile(r"^cc-by-sa-")


@dataclass
class Provenance:
    """What the lineage of a table version says about its origin."""

    sources: list[Source]
    unknown_inputs: list[str]  # input files of no known source
    methods: list[str]  # keys of METHODS

    @property
    def license(self) -> str | None:
        """The sources' license for the derived data; None when an input is unknown or the
        known licenses do not combine (neither one share-alike license nor all the same)."""
        if self.unknown_inputs or not self.sources:
            return None
        found = sorted({s.license for s in self.sources})
        share_alike = [x for x in found if SHARE_ALIKE.match(x)]
        if len(found) == 1:
            return found[0]
        if len(share_alike) == 1 and all(x == share_alike[0] or x == "cc0-1.0" for x in found):
            return share_alike[0]  # CC0 material may be included in a CC BY-SA work
        return None


def provenance(lineage: list[dict[str, Any]]) -> Provenance:
    """Sources, unknown inputs and methods of the commits in ``lineage``."""
    keys: list[str] = []
    unknown: list[str] = []
    methods: list[str] = []
    for h in lineage:
        kind = h.get("pipeline") or ""
        keys += KIND_SOURCES.get(kind, ())
        params = h.get("params") if isinstance(h.get("params"), dict) else {}
        methods += KIND_METHODS.get(f"{kind}/{params.get('method')}", KIND_METHODS.get(kind, ()))
        if kind in KIND_SOURCES:
            continue  # its inputs are the declared sources
        for path in _input_paths(h):
            key = next((k for pat, k in INPUT_SOURCES if pat.search(path)), None)
            if key:
                keys.append(key)
            else:
                unknown.append(Path(path).name)
    return Provenance([SOURCES[k] for k in dict.fromkeys(keys)], list(dict.fromkeys(unknown)),
                      list(dict.fromkeys(methods)))


def _input_paths(h: dict[str, Any]) -> list[str]:
    params = h.get("params") if isinstance(h.get("params"), dict) else {}
    out = []
    for name in h.get("inputs") or {}:
        value = params.get(name)
        for v in value if isinstance(value, list) else [value]:
            if isinstance(v, str):
                out.append(v)
    return out

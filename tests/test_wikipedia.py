"""Wikipedia readers: wikitext cleaning with link spans, sentences, redirects, WikiExtractor JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from xlcorpus.engine.core import Reject
from xlcorpus.sources.wikipedia import (PAGE_SCHEMA, PagesToSentences, default_dump, read_wikipedia,
                                        resolve_title, scan_redirects)
from xlcorpus.sources.wikitext import clean_extractor_text, clean_wikitext, normalize_title, split_sentences

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikipedia"
ENWIKI = SHARED / "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
TABLES = SHARED / "enwiki-table-markup.xml.bz2"


def spans(paragraphs):
    out = []
    for text, links in paragraphs:
        for lk in links:
            out.append((text[lk.start:lk.end], lk.title))
    return out


def test_links_pipes_trails_anchors_case():
    paras = clean_wikitext("The [[capital city|capital]] of [[germany]] hosts [[European_Union#Members|EU]]s "
                           "and [[Spree]]s, see [[#History|below]] and [[Paris (France)|]].")
    assert paras[0][0] == "The capital of germany hosts EUs and Sprees, see below and Paris."
    assert spans(paras) == [("capital", "Capital city"), ("germany", "Germany"), ("EUs", "European Union"),
                            ("Sprees", "Spree"), ("Paris", "Paris (France)")]


def test_markup_removed():
    text = """{{Infobox city
| name = {{lang|de|Berlin}}
| map = [[File:Map.png|thumb|A [[map]]]]
}}
'''Berlin''' ({{IPA|bɛʁ}}) is a [[city]].<ref name="a">{{cite web|url=http://x.org}}</ref> It has [[Image:X.jpg|thumb|alt]] parks.<ref name="b"/>
<!-- a comment [[Hidden]] -->
{| class="wikitable" style="width:100%"
|-
| [[Cell link]] || 2 {{nowrap|x}}
|}
== Economy ==
* list [[Item]]
It trades with [http://example.org partners] &amp; [[France|the French]]&nbsp;state.
[[Category:Cities]]
[[de:Berlin]]
<gallery>
A.jpg|[[Gallery link]]
</gallery>"""
    paras = clean_wikitext(text)
    joined = " ".join(p for p, _ in paras)
    assert joined == ("Berlin is a city. It has parks. "
                      "It trades with partners & the French state.")
    assert [t for _, t in spans(paras)] == ["City", "France"]
    for p, links in paras:
        for lk in links:
            assert p[lk.start:lk.end] in ("city", "the French")


def test_normalize_title():
    assert normalize_title("  new_York  city#Top") == "New York city"
    assert normalize_title("#Section") is None
    assert normalize_title("caf%C3%A9 &amp; bar") == "Café & bar"


def test_sentence_splitting_abbreviations_and_links():
    text = "Dr. Smith met J. R. Tolkien in St. Louis. He left in 1990! Then [[U.S. Route 66|Route 66. Alt]] was built."
    paras = clean_wikitext(text)
    plain, links = paras[0]
    cuts = [plain[s:e] for s, e in split_sentences(plain, links)]
    assert cuts == ["Dr. Smith met J. R. Tolkien in St. Louis.", "He left in 1990!",
                    "Then Route 66. Alt was built."]


# Pages of a German and a French Wikipedia, with the languages' abbreviations and ordinals.
DE_PAGE = """{{Infobox Stadt|Name=Berlin}}
'''Berlin''' ist die [[Hauptstadt]] der [[Deutschland|Bundesrepublik Deutschland]].<ref>{{Literatur|Titel=x}}</ref> \
Die Stadt hat z. B. viele [[Park]]s und ca. 3,8 Mio. Einwohner. Am 3. Oktober 1990 wurde \
[[Deutsche Wiedervereinigung|Deutschland wiedervereinigt]]. Prof. Dr. Müller lebt hier.
{| class="wikitable"
| [[Tabelle]] || 1
|}
[[Kategorie:Berlin]]"""
FR_PAGE = """'''Paris''' est la [[capitale]] de la [[France]]. M. Dupont y a vu la [[tour Eiffel]], le [[Louvre]], \
etc. Puis il est reparti ! Le {{date|14 juillet}} est la [[Fête nationale française|fête nationale]]. Est-ce vrai ?"""


@pytest.mark.parametrize("lang,page,want", [
    ("de", DE_PAGE, ["Berlin ist die Hauptstadt der Bundesrepublik Deutschland.",
                     "Die Stadt hat z. B. viele Parks und ca. 3,8 Mio. Einwohner.",
                     "Am 3. Oktober 1990 wurde Deutschland wiedervereinigt.", "Prof. Dr. Müller lebt hier."]),
    ("fr", FR_PAGE, ["Paris est la capitale de la France.",
                     "M. Dupont y a vu la tour Eiffel, le Louvre, etc.", "Puis il est reparti !",
                     "Le est la fête nationale.", "Est-ce vrai ?"]),
])
def test_german_and_french_pages_split_with_their_language_rules(lang, page, want):
    stage = PagesToSentences(lang, {}, {"Hauptstadt": "Q5119", "France": "Q142"}, linked_only=False)
    batch = pa.RecordBatch.from_pylist([{"source": "t", "position": 1, "page_id": 1, "title": "T", "text": page,
                                         "format": "wikitext"}], schema=PAGE_SCHEMA)
    rows = stage(batch).to_pylist()
    assert [r["text"] for r in rows] == want
    anchors = [(r["text"][lk["start"]:lk["end"]], lk["title"], lk["qid"]) for r in rows for lk in r["links"]]
    if lang == "de":
        assert anchors == [("Hauptstadt", "Hauptstadt", "Q5119"), ("Bundesrepublik Deutschland", "Deutschland", None),
                           ("Parks", "Park", None), ("Deutschland wiedervereinigt", "Deutsche Wiedervereinigung", None)]
    else:
        assert anchors[:2] == [("capitale", "Capitale", None), ("France", "France", "Q142")]
        assert ("fête nationale", "Fête nationale française", None) in anchors


def test_languages_without_pysbd_rules_use_spacy_sentencizer():
    text = "Il-belt hija sabiħa. Hemm ħafna nies!"  # Maltese: spaCy's multi-language rules
    assert [text[s:e] for s, e in split_sentences(text, [], "mt")] == ["Il-belt hija sabiħa.", "Hemm ħafna nies!"]


def test_bundled_dump_redirects_and_resolution():
    redirects = scan_redirects(default_dump())
    assert redirects == {"Republic of Malta": "Malta", "EU": "European Union"}
    assert resolve_title("EU", {**redirects, "European Union": "EU"}) in ("EU", "European Union")  # loop stops
    stage = PagesToSentences("en", redirects, {"Malta": "Q233", "European Union": "Q458", "France": "Q142"})
    rows = [r for b in read_wikipedia(default_dump()) for r in stage(b).to_pylist()]
    assert {r["page_title"] for r in rows} == {"Berlin", "Malta", "Paris"}  # no redirect, no ns 4
    links = {(r["text"][lk["start"]:lk["end"]], lk["title"], lk["qid"]) for r in rows for lk in r["links"]}
    assert ("Republic of Malta", "Malta", "Q233") in links
    assert ("EU", "European Union", "Q458") in links
    assert ("French", "France", "Q142") in links
    assert not any("Hidden" in r["text"] or "Brandenburg Gate" in r["text"] for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)


def test_truncated_xml_keeps_pages_and_rejects(tmp_path):
    data = default_dump().read_text()
    cut = data[: data.index("<title>Paris</title>") + 40]
    p = tmp_path / "cut.xml"
    p.write_text(cut)
    items = list(read_wikipedia(p))
    rejects = [x for x in items if isinstance(x, Reject)]
    pages = [t for b in items if not isinstance(b, Reject) for t in b.column("title").to_pylist()]
    assert pages == ["Berlin", "Malta"] and len(rejects) == 1
    assert "truncated dump: page 5 at byte" in rejects[0].reason
    assert rejects[0].position == len(cut[:cut.index("<title>Paris")].rsplit("<page>", 1)[0].encode())


def test_broken_page_is_rejected_with_its_offset_and_reading_goes_on(tmp_path):
    """An invalid byte inside one page costs that page only (not the rest of the dump)."""
    data = default_dump().read_bytes()
    at = data.index(b"<title>Malta</title>")
    p = tmp_path / "flipped.xml"
    p.write_bytes(data[:at + 8] + b"\xff" + data[at + 9:])
    items = list(read_wikipedia(p))
    rejects = [x for x in items if isinstance(x, Reject)]
    pages = [t for b in items if not isinstance(b, Reject) for t in b.column("title").to_pylist()]
    clean = [t for b in read_wikipedia(default_dump()) for t in b.column("title").to_pylist()]
    assert pages == [t for t in clean if t != "Malta"] and len(rejects) == 1
    assert rejects[0].position == data.rindex(b"<page>", 0, at) and "malformed page 2" in rejects[0].reason
    no_end = tmp_path / "no_end.xml"
    no_end.write_bytes(data[:data.rindex(b"</mediawiki>")])
    items = list(read_wikipedia(no_end))
    assert [x.reason for x in items if isinstance(x, Reject)] == [
        f"truncated dump: it ends at byte {data.rindex(b'</mediawiki>')} without </mediawiki>"]
    assert [t for b in items if not isinstance(b, Reject) for t in b.column("title").to_pylist()] == clean


def test_not_a_dump_and_misnamed_compression_are_errors(tmp_path):
    from xlcorpus.errors import InputError

    text = tmp_path / "notes.xml"
    text.write_text("just some text, no XML\n")
    with pytest.raises(InputError, match="notes.xml: not a MediaWiki XML export"):
        list(read_wikipedia(text))
    fake = tmp_path / "dump.xml.bz2"
    fake.write_bytes(default_dump().read_bytes())
    with pytest.raises(InputError, match=r"dump.xml.bz2: is named .bz2 but is not bz2 data"):
        list(read_wikipedia(fake))


def test_wikiextractor_json(tmp_path):
    doc = {"id": "12", "url": "https://en.wikipedia.org/wiki?curid=12", "title": "Anarchism",
           "text": "Anarchism\n\nAnarchism is a <a href=\"political%20philosophy\">political philosophy</a> "
                   "that rejects <a href=\"Hierarchy\">hierarchies</a> &amp; more. It is old.\n"}
    p = tmp_path / "wiki_00"
    p.write_text(json.dumps(doc) + "\nnot json\n")
    items = list(read_wikipedia(p))
    assert sum(isinstance(x, Reject) for x in items) == 1
    stage = PagesToSentences("en", {}, {"Political philosophy": "Q179805"})
    rows = [r for b in items if not isinstance(b, Reject) for r in stage(b).to_pylist()]
    assert [r["text"] for r in rows] == ["Anarchism is a political philosophy that rejects hierarchies & more."]
    assert [(lk["title"], lk["qid"]) for lk in rows[0]["links"]] == [("Political philosophy", "Q179805"),
                                                                     ("Hierarchy", None)]
    paras = clean_extractor_text(doc["text"], doc["title"])
    assert spans(paras) == [("political philosophy", "Political philosophy"), ("hierarchies", "Hierarchy")]


@pytest.mark.skipif(not ENWIKI.exists(), reason="needs ../shared/data/wikipedia")
def test_real_dumps_clean_text_and_spans():
    redirects = scan_redirects(ENWIKI)
    assert len(redirects) >= 90
    residue = re.compile(r"\[\[|\]\]|\{\{|\}\}|<ref|\{\||&lt;|&amp;")
    for path in (ENWIKI, TABLES):
        stage = PagesToSentences("en", redirects if path == ENWIKI else {}, {})
        rows = [r for b in read_wikipedia(path) if not isinstance(b, Reject) for r in stage(b).to_pylist()]
        assert rows
        for r in rows:
            for lk in r["links"]:
                assert 0 <= lk["start"] < lk["end"] <= len(r["text"])
                anchor = r["text"][lk["start"]:lk["end"]]
                assert anchor == anchor.strip() and anchor
        dirty = [r["text"] for r in rows if residue.search(r["text"])]
        assert len(dirty) <= 0.005 * len(rows), dirty[:5]
    assert len(rows) > 100


def test_redirect_scan_does_not_depend_on_block_boundaries(monkeypatch, tmp_path):
    """Blocks cut anywhere (tiny reads) give the same redirects as one whole read; a
    ``<redirect>`` is paired with its own page's title, never with an earlier page's."""
    from xlcorpus.sources import wikipedia

    page = ("  <page>\n    <title>{t}</title>\n    <ns>0</ns>\n    <id>{i}</id>\n{r}"
            "    <revision>\n      <text xml:space=\"preserve\">{x}</text>\n    </revision>\n  </page>\n")
    pages = [page.format(t="Tom &amp; Jerry", i=1, r='    <redirect title="Café B" />\n', x="#REDIRECT [[Café B]]"),
             page.format(t="Plain", i=2, r="", x="text &lt;redirect title=&quot;X&quot; /&gt; in the text"),
             page.format(t="Old name", i=3, r='    <redirect title="New name" />\n', x="#REDIRECT [[New name]]")]
    xml = tmp_path / "dump.xml"
    xml.write_text("<mediawiki>\n" + "".join(pages * 3) + "</mediawiki>\n", encoding="utf-8")
    whole = wikipedia.scan_redirects(xml)
    assert whole == {"Tom & Jerry": "Café B", "Old name": "New name"}
    for size in (7, 50, 333):
        monkeypatch.setattr(wikipedia, "SCAN_BYTES", size)
        assert wikipedia.scan_redirects(xml) == whole

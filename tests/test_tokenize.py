"""Tokenization with offsets: spaCy rules per language, xx fallback, ja/zh segmenters, pre-tokenized."""

import pytest

from xlcorpus.text import get_tokenizer, tokenize, whitespace_tokenize

CASES = [
    ("en", "Don't  stop, Mr. Smith's dog!\n", ["Do", "n't", "stop", ",", "Mr.", "Smith", "'s", "dog", "!"]),
    ("fr", "L'homme du  monde, aujourd'hui.", ["L'", "homme", "du", "monde", ",", "aujourd'hui", "."]),
    ("mt", "Il-kelb tiegħi ħelu ħafna.", ["Il", "-", "kelb", "tiegħi", "ħelu", "ħafna", "."]),
    ("sw", "Habari  za asubuhi?", ["Habari", "za", "asubuhi", "?"]),
    ("de", "Wir gehen nach Hause.", ["Wir", "gehen", "nach", "Hause", "."]),
]


def check_offsets(text, tok):
    assert len(tok.tokens) == len(tok.starts) == len(tok.ends)
    for surface, s, e in zip(tok.tokens, tok.starts, tok.ends):
        assert text[s:e] == surface and surface.strip() == surface and surface
    assert tok.starts == sorted(tok.starts)


@pytest.mark.parametrize("lang,text,expected", CASES)
def test_spacy_tokens_with_offsets(lang, text, expected):
    tok = tokenize(text, lang)
    assert tok.tokens == expected
    check_offsets(text, tok)


def test_fallback_and_backends():
    assert get_tokenizer("mt").backend == "spacy-xx"        # spaCy has no Maltese rules
    assert get_tokenizer("sw").backend == "spacy-xx"
    assert get_tokenizer("fr-CA").backend == "spacy-fr"     # region subtags ignored
    assert get_tokenizer("fr") is get_tokenizer("fr")       # cached per process


def test_japanese_and_chinese_segmenters():
    pytest.importorskip("sudachipy")
    pytest.importorskip("jieba")
    ja = "私は東京に住んでいます。 猫  が好き"
    tok = tokenize(ja, "ja")
    assert get_tokenizer("ja").backend == "spacy-ja-sudachi"
    assert "東京" in tok.tokens and "猫" in tok.tokens
    check_offsets(ja, tok)
    zh = "我住在北京。我喜欢猫"
    tok = tokenize(zh, "zh")
    assert get_tokenizer("zh").backend == "spacy-zh-jieba"
    assert "北京" in tok.tokens and "喜欢" in tok.tokens   # words, not single characters
    check_offsets(zh, tok)


def test_pretokenized_input_is_respected():
    text = " la  Chambre\tde le Canada ,ok "
    tok = tokenize(text, "fr", pretokenized=True)
    assert tok.tokens == ["la", "Chambre", "de", "le", "Canada", ",ok"]   # no re-splitting of ',ok'
    check_offsets(text, tok)
    assert whitespace_tokenize("") .tokens == []


def test_pipe_equals_single_calls():
    texts = [c[1] for c in CASES[:2]] + ["", "  "]
    tok = get_tokenizer("en")
    assert [t.tokens for t in tok.pipe(texts)] == [tok(t).tokens for t in texts]

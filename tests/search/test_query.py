"""The query parser: syntax, repairs with messages, and never an exception."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from paperwire.search.query import MAX_QUERY_CHARS, Clause, parse_query


def test_words_phrases_fields_and_exclusions() -> None:
    q = parse_query('diffusion "image generation" author:"Geoffrey Hinton" -survey cat:cs.CV')
    assert q.terms == ("diffusion",)
    assert Clause("text", "image generation", phrase=True) in q.required
    assert Clause("author", "Geoffrey Hinton", phrase=True) in q.required
    assert q.excluded == (Clause("text", "survey"),)
    assert q.categories == ("cs.cv",)
    assert q.semantic_text == "diffusion image generation"
    assert q.messages == ()


def test_aliases_and_negated_fields() -> None:
    q = parse_query('au:dao ti:mamba -cat:cs.AI -"state space" -author:smith')
    assert Clause("author", "dao") in q.required
    assert Clause("title", "mamba") in q.required
    assert Clause("cat", "cs.ai") in q.excluded
    assert Clause("text", "state space", phrase=True) in q.excluded
    assert Clause("author", "smith") in q.excluded


def test_hyphenated_words_and_unknown_fields_are_plain_words() -> None:
    q = parse_query("self-supervised http://example.org BERT: x")
    assert q.terms == ("self-supervised", "http://example.org", "BERT:", "x")
    assert not q.excluded


def test_direct_ids_and_urls() -> None:
    for text, expected in [
        ("2505.22617", "2505.22617"),
        ("  arXiv:2505.22617v3 ", "2505.22617"),
        ("https://arxiv.org/abs/2505.22617v2", "2505.22617"),
        ("https://arxiv.org/pdf/2505.22617.pdf", "2505.22617"),
        ("https://huggingface.co/papers/2401.00908", "2401.00908"),
        ("hep-th/9901001", "hep-th/9901001"),
    ]:
        assert parse_query(text).direct_id == expected, text
    assert parse_query("2505.22617 diffusion").direct_id is None


def test_repairs_are_explained() -> None:
    q = parse_query('GRPO "unbalanced quote')
    assert q.terms == ("GRPO", "unbalanced", "quote")
    assert "unbalanced quote ignored" in q.messages
    assert "empty author: ignored" in parse_query("author: hinton").messages
    assert parse_query("cat:???").categories == ()
    assert parse_query("cat:???").messages
    long = parse_query("word " * 1000)
    assert len(long.raw) <= MAX_QUERY_CHARS and long.messages
    assert len(long.terms) <= 32


def test_control_characters_and_surrogates_are_cleaned() -> None:
    q = parse_query("a\x00b\ud800c\u202ed")
    assert "\x00" not in q.raw and "\ud800" not in q.raw
    q.raw.encode("utf-8")  # must be valid UTF-8 for the engines


def test_empty_queries() -> None:
    for text in ("", "   ", '""', "-", None, 42):
        q = parse_query(text)  # type: ignore[arg-type]
        assert q.direct_id is None
    assert parse_query("").is_empty


QUERY_PIECES = [*'abcxyz019 -":.*()[]{}^~\\/+!?&|']
QUERY_PIECES += ["author:", "cat:", "ti:", "-", '"', "\x00", "é", "\ud800"]
QUERY_ALPHABET = st.sampled_from(QUERY_PIECES)
queries = st.one_of(
    st.text(),
    st.lists(QUERY_ALPHABET, max_size=40).map("".join),
    st.text(alphabet=st.characters(), min_size=900, max_size=1200),
)


@settings(max_examples=400, deadline=None)
@given(queries)
def test_parser_never_raises(text: str) -> None:
    q = parse_query(text)
    assert isinstance(q.messages, tuple)
    q.semantic_text.encode("utf-8")
    for clause in (*q.required, *q.excluded):
        assert clause.value.strip()

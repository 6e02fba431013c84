"""arXiv id parsing and code-link extraction (pure functions)."""

from __future__ import annotations

import pytest

from paperwire.catalog.codelinks import find_code_links
from paperwire.catalog.ids import parse_arxiv_id


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2505.22617", ("2505.22617", None)),
        ("2505.22617v3", ("2505.22617", 3)),
        ("arXiv:2505.22617", ("2505.22617", None)),
        ("  https://arxiv.org/abs/2505.22617v2 ", ("2505.22617", 2)),
        ("http://export.arxiv.org/abs/2505.22617", ("2505.22617", None)),
        ("https://arxiv.org/pdf/2505.22617v1.pdf", ("2505.22617", 1)),
        ("arxiv.org/pdf/2505.22617", ("2505.22617", None)),
        ("https://huggingface.co/papers/2505.22617", ("2505.22617", None)),
        ("0704.0001", ("0704.0001", None)),
        ("hep-th/9901001v2", ("hep-th/9901001", 2)),
        ("https://arxiv.org/abs/math.GT/0309136", ("math.GT/0309136", None)),
        ("grpo", None),
        ("2505.2261", None),
        ("https://example.org/abs/2505.22617", None),
        ("", None),
    ],
)
def test_parse_arxiv_id(text: str, expected) -> None:
    assert parse_arxiv_id(text) == expected


def test_code_links_are_found_normalised_and_deduplicated() -> None:
    abstract = (
        "Code is available at https://github.com/OpenGVLab/InternVL.git. "
        "See also github.com/OpenGVLab/InternVL/tree/main/docs and "
        "https://gitlab.com/grp/proj, and https://github.\ncom/x/y."
    )
    comment = "Project: https://github.com/\nfoo/bar-baz, https://github.com/orgs/acme"
    assert find_code_links(abstract, comment) == [
        "https://github.com/OpenGVLab/InternVL",
        "https://gitlab.com/grp/proj",
        "https://github.com/foo/bar-baz",
    ]


def test_no_code_links_in_plain_text() -> None:
    assert find_code_links("We use GitHub issues as data.", None) == []

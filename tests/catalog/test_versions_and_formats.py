"""Versions, merge rules and the Kaggle snapshot format."""

from __future__ import annotations

import pytest

from tests.catalog.helpers import jsonl_record


def kaggle_line(version: int, title: str) -> dict:
    versions = [
        {"version": f"v{v}", "created": f"Mon, {v} Jun 2025 10:00:00 GMT"}
        for v in range(1, version + 1)
    ]
    return {
        "id": "2506.00042",
        "submitter": "C. Balázs",
        "authors": "C. Bal\\'azs, E. L. Berger and P. M. Nadolsky",
        "title": title,
        "comments": "12 pages; code at https://gitlab.com/grp/proj/-/tree/main",
        "journal-ref": "Phys. Rev. D 76, 013009 (2007)" if version > 1 else None,
        "doi": "10.1103/PhysRevD.76.013009" if version > 1 else None,
        "report-no": None,
        "categories": "hep-ph cs.LG",
        "license": "http://creativecommons.org/licenses/by/4.0/",
        "abstract": "  A fully differential calculation\nin perturbative QCD.\n",
        "versions": versions,
        "update_date": f"2025-06-0{version}",
        "authors_parsed": [
            ["Balázs", "C.", ""],
            ["Berger", "E. L.", ""],
            ["Nadolsky", "P. M.", "Jr"],
        ],
    }


def test_kaggle_snapshot_fields(run_cli, make_jsonl) -> None:
    path = make_jsonl("kaggle.jsonl", [kaggle_line(1, "Calculation of prompt diphoton")])
    result = run_cli("import", str(path))
    assert result.returncode == 0, result.stderr
    paper = run_cli("show", "2506.00042", "--json").json()
    assert paper["authors"] == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky Jr"]
    assert paper["categories"] == ["hep-ph", "cs.LG"] and paper["primary_category"] == "hep-ph"
    assert paper["version"] == 1 and paper["submitted"] == "2025-06-01"
    assert paper["license"] == "http://creativecommons.org/licenses/by/4.0/"
    assert paper["code_links"] == ["https://gitlab.com/grp/proj"]
    assert [v["version"] for v in paper["versions"]] == [1]


def test_newer_version_updates_and_older_never_overwrites(run_cli, make_jsonl) -> None:
    v1 = make_jsonl("v1.jsonl", [kaggle_line(1, "Old title")])
    v3 = make_jsonl("v3.jsonl", [kaggle_line(3, "New title")])
    run_cli("import", str(v1))
    result = run_cli("import", str(v3), "--json")
    assert result.json()["updated"] == 1
    paper = run_cli("show", "2506.00042", "--json").json()
    assert paper["title"] == "New title" and paper["version"] == 3
    assert paper["journal_ref"] == "Phys. Rev. D 76, 013009 (2007)"
    assert [v["version"] for v in paper["versions"]] == [1, 2, 3]
    assert paper["updated"] == "2025-06-03" and paper["submitted"] == "2025-06-01"

    again = run_cli("import", str(v1), "--json").json()
    assert again["updated"] == 0 and again["unchanged"] == 1
    paper = run_cli("show", "2506.00042", "--json").json()
    assert paper["title"] == "New title" and paper["version"] == 3


def test_sources_merge_in_any_order(run_cli, make_jsonl, tmp_path) -> None:
    """arXiv metadata and Daily Papers upvotes combine, whichever comes first."""
    import json

    hf = tmp_path / "hf.json"
    hf.write_text(
        json.dumps(
            [
                {
                    "paper": {
                        "id": "2601.00002",
                        "title": "HF title",
                        "summary": "HF abstract",
                        "upvotes": 7,
                        "authors": [{"name": "X"}],
                    },
                    "publishedAt": "2026-01-05T10:00:00Z",
                }
            ]
        )
    )
    arxiv = make_jsonl("a.jsonl", [jsonl_record(2)])
    results = []
    for order in ((hf, arxiv), (arxiv, hf)):
        home_args = {"env": {"PAPERWIRE_HOME": str(tmp_path / f"home-{len(results)}")}}
        for path in order:
            run_cli("import", str(path), **home_args)
        results.append(run_cli("show", "2601.00002", "--json", **home_args).json())
    for paper in results:
        assert paper["upvotes"] == 7
        assert paper["categories"] == ["cs.CL"]
    # The first source to know the listing day keeps it; upvotes always from HF.
    assert results[0]["listed_on"] == "2026-01-05"
    assert results[1]["listed_on"] == "2026-01-03"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_classification_codes_listed_as_categories_are_dropped(
    database: str, run_cli, make_jsonl, request: pytest.FixtureRequest
) -> None:
    """The shared corpus lists MSC and ACM classes among the categories (2503.11954):
    they are not arXiv categories, and on PostgreSQL they used to fail the whole batch."""
    env = {}
    if database == "postgres":
        env = {"PAPERWIRE_DATABASE_URL": request.getfixturevalue("postgres_url")}
    codes = ["94A29, 94A08, 94B05, 68T01, 68P30", "I.4.2; E.4; I.2.10; I.5.4; I.5.1; I.4.1"]
    path = make_jsonl(
        "mixed.jsonl",
        [
            jsonl_record(1, categories=["eess.IV", "cs.CV", *codes, "68T07", "I.2.6"]),
            jsonl_record(2),
        ],
    )
    result = run_cli("import", "--no-index", str(path), env=env)
    assert result.returncode == 0, result.stderr
    first = run_cli("show", "2601.00001", "--json", env=env).json()
    assert first["categories"] == ["eess.IV", "cs.CV"]
    assert first["primary_category"] == "eess.IV"
    assert run_cli("show", "2601.00002", "--json", env=env).json()["categories"] == ["cs.CL"]

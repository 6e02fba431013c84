"""`paperwire import` / `stats` / `show` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.catalog.helpers import jsonl_record
from tests.conftest import SAMPLE


def test_import_then_stats(run_cli, make_jsonl) -> None:
    path = make_jsonl("papers.jsonl", [jsonl_record(i) for i in range(1, 31)])
    result = run_cli("import", str(path))
    assert result.returncode == 0, result.stderr
    assert "30 records: 30 new" in result.stdout
    stats = run_cli("stats", "--json").json()
    assert stats["papers"] == 30
    assert stats["primary_categories"] == {"cs.LG": 15, "cs.CL": 15}
    assert stats["categories"]["cs.AI"] == 15
    assert sum(stats["days"].values()) == 30
    assert stats["with_code"] == 10


def test_reimport_leaves_the_same_catalog(run_cli, make_jsonl) -> None:
    path = make_jsonl("papers.jsonl", [jsonl_record(i) for i in range(1, 21)])
    run_cli("import", str(path))
    before = run_cli("stats", "--json").json()
    shown = run_cli("show", "2601.00003", "--json").json()
    again = run_cli("import", str(path), "--json")
    assert again.returncode == 0
    assert again.json()["unchanged"] == 20 and again.json()["inserted"] == 0
    assert run_cli("stats", "--json").json() == before
    assert run_cli("show", "2601.00003", "--json").json() == shown


def test_gzip_is_transparent(run_cli, make_jsonl) -> None:
    path = make_jsonl("papers.jsonl.gz", [jsonl_record(i) for i in range(1, 11)], gz=True)
    result = run_cli("import", str(path))
    assert result.returncode == 0, result.stderr
    assert run_cli("stats", "--json").json()["papers"] == 10


def test_text_is_normalised_and_code_links_found(run_cli, make_jsonl) -> None:
    path = make_jsonl("p.jsonl", [jsonl_record(3)])
    run_cli("import", str(path))
    paper = run_cli("show", "https://arxiv.org/abs/2601.00003v1", "--json").json()
    assert paper["title"] == "Paper number 3: a study of $x^3$ & <things>"
    assert paper["abstract"] == "We study problem 3. It is hard & interesting when $a < b$."
    assert paper["code_links"] == ["https://github.com/example/repo3"]
    assert paper["authors"] == ["Author 3 A", "Author 3 B"]
    assert paper["categories"] == ["cs.LG", "cs.AI"]
    assert paper["primary_category"] == "cs.LG"
    assert paper["listed_on"] == "2026-01-04"
    assert paper["links"]["pdf"] == "https://arxiv.org/pdf/2601.00003"


def test_malformed_records_are_reported_and_the_rest_imports(run_cli, make_jsonl) -> None:
    records = [
        jsonl_record(1),
        "{not json",
        jsonl_record(2),
        {"title": "no id"},
        jsonl_record(3, id="not-an-id"),
        jsonl_record(4, announced="yesterday"),
        "[1, 2]",
        jsonl_record(5),
    ]
    path = make_jsonl("bad.jsonl", records)
    result = run_cli("import", str(path))
    assert result.returncode == 1
    for line in (2, 4, 5, 6, 7):
        assert f"{path}:{line}:" in result.stderr
    assert "missing arXiv id" in result.stderr
    assert "bad date 'yesterday'" in result.stderr
    assert "5 record(s) skipped" in result.stderr
    assert run_cli("stats", "--json").json()["papers"] == 3
    assert "Traceback" not in result.stderr


def test_unknown_format_and_missing_file_are_clear_errors(run_cli, tmp_path: Path) -> None:
    odd = tmp_path / "odd.txt"
    odd.write_text("hello\nworld\n")
    result = run_cli("import", str(odd))
    assert result.returncode != 0 and "unrecognised format" in result.stderr
    missing = run_cli("import", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run_cli("import", str(empty))
    assert result.returncode != 0 and "empty file" in result.stderr


def test_show_unknown_paper(run_cli) -> None:
    result = run_cli("show", "2601.99999")
    assert result.returncode == 1 and "not in the catalog" in result.stderr
    result = run_cli("show", "hello")
    assert result.returncode == 2 and "not an arXiv id" in result.stderr


def test_hf_daily_papers_shape_keeps_upvotes_submitter_repo_and_day(run_cli, tmp_path) -> None:
    items = [
        {
            "paper": {
                "id": "2511.01234",
                "authors": [
                    {"_id": "x", "name": "Ada Lovelace", "hidden": False},
                    {"_id": "y", "name": "Alan Turing", "hidden": False},
                ],
                "publishedAt": "2025-11-03T18:59:00.000Z",
                "title": "Entropy collapse\n in RL for reasoning",
                "summary": "We find <collapse> & fix it.",
                "upvotes": 42,
                "discussionId": "abc",
                "githubRepo": "https://github.com/org/Entropy-RL",
                "projectPage": "https://entropy.example.org",
                "submittedOnDailyAt": "2025-11-04T01:02:03.000Z",
                "submittedOnDailyBy": {"_id": "u", "name": "akhaliq", "fullname": "AK"},
            },
            "publishedAt": "2025-11-04T01:02:03.000Z",
            "title": "Entropy collapse in RL for reasoning",
            "summary": "We find <collapse> & fix it.",
            "thumbnail": "https://example.org/t.png",
            "numComments": 3,
            "submittedBy": {"_id": "u", "name": "akhaliq"},
            "isAuthorParticipating": False,
        },
        {
            "paper": {
                "id": "2511.05678",
                "title": "No upvotes yet",
                "summary": "s",
                "authors": [],
                "publishedAt": "2025-11-02T00:00:00.000Z",
                "upvotes": 0,
            },
            "publishedAt": "2025-11-04T09:00:00.000Z",
        },
        {"paper": {"id": "", "title": "broken"}},
    ]
    path = tmp_path / "daily.json"
    path.write_text(json.dumps(items))
    result = run_cli("import", str(path))
    assert result.returncode == 1
    assert f"{path}: item 2: missing arXiv id" in result.stderr
    paper = run_cli("show", "2511.01234", "--json").json()
    assert paper["upvotes"] == 42 and paper["external_upvotes"] == 42
    assert paper["code_links"] == ["https://github.com/org/Entropy-RL"]
    assert paper["project_page"] == "https://entropy.example.org"
    assert paper["listed_on"] == "2025-11-04" and paper["submitted"] == "2025-11-03"
    assert paper["feed_submission"]["submitter"] == "akhaliq"
    assert paper["feed_submission"]["day"] == "2025-11-04"
    assert paper["title"] == "Entropy collapse in RL for reasoning"
    assert run_cli("show", "2511.05678", "--json").json()["listed_on"] == "2025-11-04"

    # Upvotes move on Hugging Face: a newer response updates them, nothing else.
    items[0]["paper"]["upvotes"] = 50
    path.write_text(json.dumps(items[:1]))
    assert run_cli("import", str(path)).returncode == 0
    assert run_cli("show", "2511.01234", "--json").json()["upvotes"] == 50


def test_bundled_sample_imports_cleanly(run_cli) -> None:
    result = run_cli("import", str(SAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    assert result.json()["inserted"] == 753
    stats = run_cli("stats", "--json").json()
    assert stats["papers"] == 753 and stats["upvoted"] == 753
    assert stats["first_listed"] == "2023-11-30" and stats["last_listed"] == "2024-04-05"

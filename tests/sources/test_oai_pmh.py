"""`paperwire sync oai` against a local OAI-PMH server over real HTTP."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from paperwire.config import load_settings
from paperwire.sources.oai_pmh import Harvest, parse_list_records

FIXTURES = Path(__file__).parent / "fixtures"

WINDOW = ("--set", "cs", "--from", "2026-11-01", "--until", "2026-11-05")
# Embedding is covered in tests/jobs; these tests are about the harvest.
RAW = ("sync", "oai", *WINDOW, "--no-progress", "--no-embed")
ARXIV = ("sync", "oai", *WINDOW, "--metadata-prefix", "arXiv", "--no-progress", "--no-embed")


def paper(arxiv_id: str) -> dict:
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database

    row = get_paper(open_database(load_settings()), arxiv_id)
    assert row is not None, f"{arxiv_id} not in the catalog"
    return row


def oai_params(server) -> list[dict[str, str]]:
    return [r.params for r in server.requests("/oai")]


def test_arxivraw_harvest_follows_tokens_and_keeps_versions(run_cli, fake_arxiv):
    result = run_cli(*RAW, "--json", env=fake_arxiv.env())
    assert result.returncode == 0, result.stderr
    summary = result.json()
    assert summary["records"] == 4  # the deleted record is skipped
    assert summary["inserted"] == 4
    assert summary["pages"] == 3
    assert summary["complete"] is True

    params = oai_params(fake_arxiv)
    assert params[0] == {
        "verb": "ListRecords",
        "metadataPrefix": "arXivRaw",
        "set": "cs",
        "from": "2026-11-01",
        "until": "2026-11-05",
    }
    assert params[1] == {
        "verb": "ListRecords",
        "resumptionToken": "verb%3DListRecords%26metadataPrefix%3DarXivRaw%26set%3Dcs%26skip%3D2",
    }
    assert params[2]["resumptionToken"].endswith("skip%3D4")

    stats = run_cli("stats", "--json").json()
    assert stats["papers"] == 4
    assert stats["versions"] == 2 + 1 + 3 + 1

    rad = paper("2611.00456")
    assert rad["version"] == 2
    assert rad["title"] == "Retrieval-Augmented Decoding for Low-Resource Machine Translation"
    assert rad["authors"] == ["Oluwaseun Adeyemi", "Marta R. Costa"]  # affiliation dropped
    assert rad["categories"] == ["cs.CL", "cs.AI", "cs.LG"]
    assert rad["submitted"] == date(2026, 11, 1)
    assert rad["updated"] == date(2026, 11, 4)
    assert rad["journal_ref"] == "Proceedings of EMNLP 2026, pages 11203-11219"
    assert rad["doi"] == "10.18653/v1/2026.emnlp-main.812"
    assert rad["license"] == "http://creativecommons.org/licenses/by/4.0/"

    dyn = paper("2611.02002")
    assert dyn["authors"] == ["Jonas Bergström", "Ada Okafor", "Wei Zhang"]
    assert (
        dyn["abstract"] == "We improve dynamic connectivity when $n < m$ & updates are adversarial."
    )
    assert dyn["title"].startswith(r"Faster Dynamic Connectivity in $O(\log^2 n")

    assert paper("2611.01011")["version"] == 3
    old = paper("cs/0112017")
    assert old["authors"] == ["H. Schmidt", "K. O'Neil"]
    assert old["submitted"] == date(2001, 12, 17)


def test_arxiv_format_harvest(run_cli, fake_arxiv):
    result = run_cli(*ARXIV, "--json", env=fake_arxiv.env())
    assert result.returncode == 0, result.stderr
    assert result.json()["records"] == 2
    assert result.json()["pages"] == 2
    assert oai_params(fake_arxiv)[0]["metadataPrefix"] == "arXiv"

    rad = paper("2611.00456")
    assert rad["authors"] == ["Oluwaseun Adeyemi", "Marta R. Costa"]
    assert rad["submitted"] == date(2026, 11, 1)
    assert rad["updated"] == date(2026, 11, 4)
    assert rad["version"] is None  # the arXiv format has no version numbers
    assert rad["doi"] == "10.18653/v1/2026.emnlp-main.812"
    dyn = paper("2611.02002")
    assert dyn["authors"] == ["Jonas Bergström", "Ada Okafor", "Wei Zhang Jr"]
    assert dyn["license"] == "http://arxiv.org/licenses/nonexclusive-distrib/1.0/"
    assert "$n < m$ & updates" in dyn["abstract"]


def test_rerun_of_a_finished_window_is_a_no_op(run_cli, fake_arxiv):
    assert run_cli(*RAW, env=fake_arxiv.env()).returncode == 0
    before = run_cli("stats", "--json").json()
    fake_arxiv.log.clear()
    again = run_cli(*RAW, "--json", env=fake_arxiv.env())
    assert again.returncode == 0, again.stderr
    assert again.json()["requests"] == 0
    assert fake_arxiv.log == []
    assert run_cli("stats", "--json").json() == before


def test_failure_on_page_two_resumes_with_the_stored_token(run_cli, fake_arxiv):
    fake_arxiv.fault(lambda r: "resumptionToken" in r.params, status=500, times=None)
    failed = run_cli(*RAW, env=fake_arxiv.env(delay=0.02))
    assert failed.returncode == 3
    assert "Traceback" not in failed.stderr
    assert "OAI-PMH at http://127.0.0.1" in failed.stderr
    assert "(1 page(s) kept; run the same command again to resume)" in failed.stderr
    assert run_cli("stats", "--json").json()["papers"] == 2

    fake_arxiv.faults.clear()
    fake_arxiv.log.clear()
    resumed = run_cli(*RAW, "--json", env=fake_arxiv.env())
    assert resumed.returncode == 0, resumed.stderr
    params = oai_params(fake_arxiv)
    assert "metadataPrefix" not in params[0]  # page 1 is not fetched again
    assert params[0]["resumptionToken"].endswith("skip%3D2")
    assert len(params) == 2
    assert run_cli("stats", "--json").json()["papers"] == 4


def test_503_with_retry_after_is_honoured(run_cli, fake_arxiv):
    fake_arxiv.fault(
        lambda r: "resumptionToken" in r.params, status=503, headers={"Retry-After": "1"}
    )
    result = run_cli(*RAW, "--json", env=fake_arxiv.env(delay=0.05))
    assert result.returncode == 0, result.stderr
    assert result.json()["records"] == 4
    log = fake_arxiv.requests("/oai")
    assert len(log) == 4
    assert log[2].params == log[1].params
    assert log[2].at - log[1].at >= 0.95


def test_expired_token_restarts_from_the_window_start(run_cli, fake_arxiv):
    assert run_cli(*RAW, "--max-pages", "1", env=fake_arxiv.env()).returncode == 0
    # The next day the stored token has expired.
    fake_arxiv.fault(lambda r: "resumptionToken" in r.params, file="oai_bad_token.xml", status=200)
    fake_arxiv.log.clear()
    result = run_cli(*RAW, "--json", env=fake_arxiv.env())
    assert result.returncode == 0, result.stderr
    assert "expired" in result.stderr
    params = oai_params(fake_arxiv)
    assert "resumptionToken" in params[0]
    assert params[1]["metadataPrefix"] == "arXivRaw"  # restarted with the original window
    assert params[1]["from"] == "2026-11-01"
    assert result.json()["complete"] is True
    assert run_cli("stats", "--json").json()["papers"] == 4


def test_no_records_match_is_nothing_to_do(run_cli, fake_arxiv):
    args = ("sync", "oai", "--set", "cs", "--from", "2099-01-01", "--no-progress", "--json")
    result = run_cli(*args, env=fake_arxiv.env())
    assert result.returncode == 0, result.stderr
    assert result.json()["records"] == 0
    assert result.json()["complete"] is True
    assert run_cli("stats", "--json").json()["papers"] == 0


def test_open_ended_harvest_continues_from_the_last_response_date(run_cli, fake_arxiv):
    args = ("sync", "oai", "--set", "cs", "--from", "2026-11-01", "--no-progress", "--no-embed")
    assert run_cli(*args, env=fake_arxiv.env()).returncode == 0
    fake_arxiv.log.clear()
    assert run_cli(*args, env=fake_arxiv.env()).returncode == 0
    first = oai_params(fake_arxiv)[0]
    assert first["from"] == "2026-11-06"  # responseDate of the previous harvest's first page
    assert "until" not in first


def test_offline(run_cli, fake_arxiv):
    result = run_cli(*RAW, env={**fake_arxiv.env(), "PAPERWIRE_OFFLINE": "yes"})
    assert result.returncode == 3
    assert "offline" in result.stderr
    assert fake_arxiv.log == []


def test_parse_errors_and_usage():
    with pytest.raises(ValueError):
        Harvest("oai_dc")
    with pytest.raises(ValueError):
        Harvest("arXiv", "cs", date(2026, 11, 5), date(2026, 11, 1))
    page = parse_list_records((FIXTURES / "oai_raw_page2.xml").read_bytes(), "arXivRaw", "x")
    assert page.deleted == 1
    assert page.complete_size == 4
    assert [r.id for r in page.items] == ["2611.01011"]
    assert [v for v, _ in page.items[0].versions] == [1, 2, 3]

"""`paperwire sync arxiv` and fetch_paper against a local arXiv API over real HTTP."""

from __future__ import annotations

import itertools
import socket
from datetime import date

import pytest

from paperwire.config import load_settings
from paperwire.sources.arxiv_api import ApiQuery, fetch_paper
from paperwire.sources.base import SourceUnavailable

WINDOW = ("--category", "cs.LG", "--category", "cs.CL", "--since", "2026-11-01")
UNTIL = ("--until", "2026-11-05")
# Embedding is covered in tests/jobs; these tests are about the HTTP side.
ARGS = ("sync", "arxiv", *WINDOW, *UNTIL, "--page-size", "2", "--no-progress", "--no-embed")
ALL_IDS = {"2611.00123", "2611.00456", "2611.00789", "2611.01011", "2611.01234"}


def paper(arxiv_id: str) -> dict:
    from paperwire.catalog.store import get_paper
    from paperwire.db import open_database

    row = get_paper(open_database(load_settings()), arxiv_id)
    assert row is not None, f"{arxiv_id} not in the catalog"
    return row


def versions(arxiv_id: str) -> list[tuple[int, date | None]]:
    from sqlalchemy import select

    from paperwire.db import open_database
    from paperwire.db.schema.catalog import paper_versions as pv

    with open_database(load_settings()).connect() as conn:
        rows = conn.execute(
            select(pv.c.version, pv.c.submitted)
            .where(pv.c.paper_id == arxiv_id)
            .order_by(pv.c.version)
        )
        return [tuple(r) for r in rows]


def starts(server) -> list[str]:
    return [r.params.get("start") for r in server.requests("/api/query")]


def test_sync_imports_the_window_with_all_fields(run_cli, fake_arxiv):
    result = run_cli(*ARGS, "--json", env=fake_arxiv.env())
    assert result.returncode == 0, result.stderr
    summary = result.json()
    assert summary["records"] == 5
    assert summary["inserted"] == 5
    assert summary["pages"] == 3
    assert summary["complete"] is True

    first = fake_arxiv.requests("/api/query")[0].params
    assert first["search_query"] == (
        "(cat:cs.LG OR cat:cs.CL) AND submittedDate:[202611010000 TO 202611052359]"
    )
    assert first["sortBy"] == "submittedDate"
    assert first["sortOrder"] == "ascending"
    assert first["max_results"] == "2"
    assert starts(fake_arxiv) == ["0", "2", "4"]

    stats = run_cli("stats", "--json").json()
    assert stats["papers"] == 5
    assert stats["primary_categories"] == {"cs.LG": 2, "cs.CL": 2, "stat.ML": 1}
    assert "I.2.7" not in stats["categories"]  # ACM / MSC classes are not arXiv categories
    assert "62G15" not in stats["categories"]
    assert stats["categories"]["cs.LG"] == 4

    sparse = paper("2611.00123")
    assert sparse["title"] == (
        r"Sparse Probing with $\ell_1$-Regularised Linear Heads: When Do Features "
        "Become Linearly Decodable?"
    )
    assert "$k < 64$ non-zero weights" in sparse["abstract"]
    assert "11 of 12 tasks & the selected" in sparse["abstract"]
    assert "\n" not in sparse["abstract"]
    assert sparse["authors"] == ["Ana Müller", "Kenji Watanabe", "Priya Raman"]
    assert sparse["categories"] == ["cs.LG", "stat.ML"]
    assert sparse["version"] == 1
    assert sparse["submitted"] == date(2026, 11, 1)
    assert sparse["comment"] == "14 pages, 6 figures"
    assert sparse["code_links"] == ["https://github.com/example-lab/sparse-probe"]
    assert sparse["links"]["abs"] == "https://arxiv.org/abs/2611.00123"

    rad = paper("2611.00456")
    assert rad["version"] == 2
    assert rad["categories"] == ["cs.CL", "cs.AI", "cs.LG"]
    assert rad["submitted"] == date(2026, 11, 1)
    assert rad["updated"] == date(2026, 11, 4)
    assert rad["journal_ref"] == "Proceedings of EMNLP 2026, pages 11203-11219"
    assert rad["doi"] == "10.18653/v1/2026.emnlp-main.812"
    assert rad["links"]["doi"] == "https://doi.org/10.18653/v1/2026.emnlp-main.812"
    assert rad["links"]["pdf"] == "https://arxiv.org/pdf/2611.00456"
    assert "\n\nWe release the datastore & evaluation scripts." in rad["abstract"]

    assert versions("2611.01011") == [(1, date(2026, 11, 3)), (3, date(2026, 11, 5))]
    assert versions("2611.00123") == [(1, date(2026, 11, 1))]


def test_rerun_of_a_finished_window_fetches_nothing(run_cli, fake_arxiv):
    assert run_cli(*ARGS, env=fake_arxiv.env()).returncode == 0
    before = run_cli("stats", "--json").json()
    assert len(fake_arxiv.log) == 3

    again = run_cli(*ARGS, "--json", env=fake_arxiv.env())
    assert again.returncode == 0, again.stderr
    assert again.json()["requests"] == 0
    assert len(fake_arxiv.log) == 3
    assert run_cli("stats", "--json").json() == before

    # --restart reads the window again; upserts change nothing.
    forced = run_cli(*ARGS, "--restart", "--json", env=fake_arxiv.env())
    assert forced.returncode == 0, forced.stderr
    assert forced.json()["unchanged"] == 5
    assert forced.json()["inserted"] == 0
    assert run_cli("stats", "--json").json() == before


def test_transient_errors_are_retried_with_retry_after(run_cli, fake_arxiv):
    fake_arxiv.fault(
        lambda r: r.params.get("start") == "2", status=503, headers={"Retry-After": "1"}, times=1
    )
    fake_arxiv.fault(lambda r: r.params.get("start") == "4", status=500, times=1)
    result = run_cli(*ARGS, "--json", env=fake_arxiv.env(delay=0.05))
    assert result.returncode == 0, result.stderr
    assert result.json()["records"] == 5
    assert starts(fake_arxiv) == ["0", "2", "2", "4", "4"]
    log = fake_arxiv.requests("/api/query")
    assert log[2].at - log[1].at >= 0.95  # Retry-After: 1 honoured
    assert "HTTP 503, retrying" in result.stderr


def test_throttled_body_and_empty_page_are_asked_again(run_cli, fake_arxiv):
    fake_arxiv.fault(lambda r: r.params.get("start") == "0", status=200, body=b"Rate exceeded.")
    fake_arxiv.fault(lambda r: r.params.get("start") == "2", file="arxiv_api_empty.xml")
    result = run_cli(*ARGS, "--json", env=fake_arxiv.env())
    assert result.returncode == 0, result.stderr
    assert result.json()["records"] == 5
    assert starts(fake_arxiv) == ["0", "0", "2", "2", "4"]
    assert "empty page at 2 of 5" in result.stderr


def test_failure_on_page_two_resumes_there(run_cli, fake_arxiv):
    fake_arxiv.fault(lambda r: r.params.get("start") == "2", status=503, times=None)
    failed = run_cli(*ARGS, env=fake_arxiv.env(delay=0.02))
    assert failed.returncode == 3
    assert "Traceback" not in failed.stderr
    error_lines = [line for line in failed.stderr.splitlines() if line.startswith("Error:")]
    assert len(error_lines) == 1
    assert "unavailable (HTTP 503)" in error_lines[0]
    assert "run the same command again to resume" in error_lines[0]
    assert starts(fake_arxiv) == ["0"] + ["2"] * 5  # five attempts, then give up
    assert run_cli("stats", "--json").json()["papers"] == 2  # page 1 was kept

    fake_arxiv.faults.clear()
    fake_arxiv.log.clear()
    resumed = run_cli(*ARGS, "--json", env=fake_arxiv.env())
    assert resumed.returncode == 0, resumed.stderr
    assert starts(fake_arxiv) == ["2", "4"]  # page 1 is not fetched again
    assert resumed.json()["inserted"] == 3
    assert run_cli("stats", "--json").json()["papers"] == 5


def test_max_stops_early_and_the_next_run_continues(run_cli, fake_arxiv):
    first = run_cli(*ARGS, "--max", "3", "--json", env=fake_arxiv.env())
    assert first.returncode == 0, first.stderr
    assert first.json()["records"] == 3
    assert first.json()["complete"] is False
    assert [r.params["max_results"] for r in fake_arxiv.log] == ["2", "1"]
    fake_arxiv.log.clear()
    rest = run_cli(*ARGS, "--json", env=fake_arxiv.env())
    assert rest.json()["records"] == 2
    assert starts(fake_arxiv) == ["3"]
    assert run_cli("stats", "--json").json()["papers"] == 5


def test_requests_are_spaced_by_the_delay(run_cli, fake_arxiv):
    delay = 0.4
    result = run_cli(*ARGS, env=fake_arxiv.env(delay=delay))
    assert result.returncode == 0, result.stderr
    times = [r.at for r in fake_arxiv.log]
    assert len(times) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= delay - 0.02, gaps


def test_unreachable_server_is_one_clear_line(run_cli, fake_arxiv):
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**fake_arxiv.env(delay=0.01), "PAPERWIRE_ARXIV_API_URL": f"http://127.0.0.1:{port}/q"}
    result = run_cli(*ARGS, env=env)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: arXiv API at http://127.0")
    assert "connection refused" in result.stderr


def test_offline_makes_no_request(run_cli, fake_arxiv):
    result = run_cli(*ARGS, env={**fake_arxiv.env(), "PAPERWIRE_OFFLINE": "1"})
    assert result.returncode == 3
    assert "offline" in result.stderr
    assert "Traceback" not in result.stderr
    assert fake_arxiv.log == []


@pytest.mark.parametrize("status", [200, 400])
def test_api_error_entry_is_reported(run_cli, fake_arxiv, status):
    fake_arxiv.fault(lambda r: True, status=status, file="arxiv_api_error.xml")
    result = run_cli(*ARGS, env=fake_arxiv.env())
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert "incorrect id format for 1234.12345" in result.stderr
    assert len(fake_arxiv.log) == 1  # an error answer is not retried


def test_bad_usage(run_cli, fake_arxiv):
    bad = run_cli("sync", "arxiv", "--category", "Computer Science", "--since", "2026-11-01")
    assert bad.returncode == 2
    assert "not an arXiv category" in bad.stderr
    bad_day = run_cli("sync", "arxiv", "--category", "cs.LG", "--since", "yesterday")
    assert bad_day.returncode == 2
    assert "YYYY-MM-DD" in bad_day.stderr
    assert fake_arxiv.log == []


def test_state_key_ignores_category_order():
    a = ApiQuery(("cs.LG", "cs.CL"), date(2026, 11, 1), date(2026, 11, 5))
    b = ApiQuery(("cs.CL", "cs.LG"), date(2026, 11, 1), date(2026, 11, 5))
    assert a.state_key == b.state_key
    with pytest.raises(ValueError):
        ApiQuery(("cs.LG",), date(2026, 11, 5), date(2026, 11, 1))


# -- fetch_paper (the web's "submit by arXiv id") -------------------------------------------


def settings_for(fake_arxiv, home, **extra: str):
    return load_settings({"PAPERWIRE_HOME": str(home), **fake_arxiv.env(delay=0.01), **extra})


def test_fetch_paper(home, fake_arxiv):
    record = fetch_paper(settings_for(fake_arxiv, home), "https://arxiv.org/abs/2611.00456v1")
    assert record is not None
    assert record.id == "2611.00456"
    assert record.version == 2
    assert record.authors == ["Oluwaseun Adeyemi", "Marta R. Costa"]
    assert record.doi == "10.18653/v1/2026.emnlp-main.812"
    assert fake_arxiv.log[0].params["id_list"] == "2611.00456"

    assert fetch_paper(settings_for(fake_arxiv, home), "2611.99999") is None


def test_fetch_paper_offline_and_unreachable(home, fake_arxiv):
    with pytest.raises(SourceUnavailable, match="offline"):
        fetch_paper(settings_for(fake_arxiv, home, PAPERWIRE_OFFLINE="true"), "2611.00456")
    assert fake_arxiv.log == []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = settings_for(fake_arxiv, home, PAPERWIRE_ARXIV_API_URL=f"http://127.0.0.1:{port}/q")
    with pytest.raises(SourceUnavailable, match="unavailable"):
        fetch_paper(cfg, "2611.00456")
    with pytest.raises(ValueError):
        fetch_paper(settings_for(fake_arxiv, home), "not an id")

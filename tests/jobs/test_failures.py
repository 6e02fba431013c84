"""Failures upstream and on our side: retries with backoff, kill -9, a model that will not load.

Every case ends with a run that finishes the work, without duplicates or gaps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from starlette.testclient import TestClient

from paperwire.config import load_settings
from paperwire.db.schema.catalog import papers
from paperwire.db.schema.search import paper_embeddings
from paperwire.jobs.arxiv import sets_for

from .conftest import DAY1
from .test_days import HF_ONLY, NEW


def _at(minutes: float) -> str:
    return f"{DAY1}T06:{minutes:02.0f}:00Z"


def test_an_upstream_503_then_success(jobs, upstream, home) -> None:
    upstream.publish(DAY1)
    upstream.fault(lambda r: r.path == "/oai", status=503, times=1)
    outage = upstream.fault(lambda r: r.path == "/api/daily_papers", status=503, times=None)

    first = jobs.cli("jobs", "run", "--at", _at(0), "--json")
    assert first.returncode == 1  # a job failed: cron sees it
    done = {o["job"]: o for o in first.json()}
    # arXiv answered 503 once: the request was retried and the harvest finished.
    oai = upstream.requests("/oai")
    assert oai[0].params == oai[1].params and "resumptionToken" not in oai[0].params
    assert done["arxiv"]["status"] == "ok" and done["arxiv"]["counts"]["inserted"] == 6
    assert done["embed"]["status"] == "ok" and done["embed"]["counts"]["embedded"] == 6
    # Hugging Face kept failing: recorded, nothing half-written, the rest went on.
    assert done["hf"]["status"] == "failed" and "unavailable" in done["hf"]["error"]
    assert len(upstream.requests("/api/daily_papers")) == 5  # one request, five attempts
    assert HF_ONLY[DAY1] not in jobs.ids()

    status = jobs.status(_at(1))["hf"]
    assert status["consecutive_failures"] == 1 and status["last_run"]["status"] == "failed"
    failed_at = datetime.fromisoformat(status["last_run"]["finished_at"])
    assert datetime.fromisoformat(status["next_due"]) == failed_at + timedelta(seconds=300)

    # Health: failing for longer than the threshold answers 503, naming the job.
    settings = load_settings(
        {"PAPERWIRE_HOME": str(home), **jobs.env, "PAPERWIRE_HEALTH_MAX_FAILING": "60"}
    )
    from paperwire.web.app import create_app

    with TestClient(create_app(settings)) as client:
        sick = client.get("/healthz")
        assert sick.status_code == 503 and sick.headers["cache-control"] == "no-store"
        body = sick.json()
        assert body["failing_jobs"] == ["hf"] and body["database"] == {"ok": True}
        assert body["jobs"]["hf"]["consecutive_failures"] == 1
        assert body["jobs"]["arxiv"]["last_success"] is not None
        assert body["embeddings"]["pending"] == 0

        # Before the backoff has passed the job is not retried.
        upstream.log.clear()
        early = jobs.run(_at(3), "--only", "hf")
        assert early["hf"]["action"] == "not-due" and upstream.log == []
        # A second failure doubles the wait.
        again = jobs.cli("jobs", "run", "--at", _at(6), "--only", "hf", "--json")
        assert again.returncode == 1
        status = jobs.status(_at(7))["hf"]
        failed_at = datetime.fromisoformat(status["last_run"]["finished_at"])
        assert status["consecutive_failures"] == 2
        assert datetime.fromisoformat(status["next_due"]) == failed_at + timedelta(seconds=600)

        # Hugging Face is back: the next due run imports what it lists.
        outage.times = 0
        healed = jobs.run(_at(17))
        assert healed["hf"]["status"] == "ok" and healed["hf"]["counts"]["inserted"] == 1
        assert healed["embed"]["counts"]["embedded"] == 1  # woken by hf's change
        assert jobs.paper("2506.06315")["upvotes"] == 42
        assert jobs.status(_at(18))["hf"]["consecutive_failures"] == 0
        well = client.get("/healthz")
        assert well.status_code == 200 and well.json()["failing_jobs"] == []


def test_a_run_failing_midway_records_what_it_did_before(jobs, upstream) -> None:
    upstream.page_size = 2  # day 1's seven records come in four pages
    upstream.publish(DAY1)
    third = upstream.fault(
        lambda r: r.params.get("resumptionToken", "").endswith("offset=4"), times=None
    )

    first = jobs.cli("jobs", "run", "--at", _at(0), "--only", "arxiv", "--json")
    assert first.returncode == 1
    (failed,) = first.json()
    assert failed["status"] == "failed" and "unavailable" in failed["error"]
    assert jobs.ids() == set(NEW[DAY1][:4])  # two pages were written before the failure
    written = {"pages": 2, "records": 4, "inserted": 4, "changed": 4, "requests": 2 + 5}
    assert {k: failed["counts"][k] for k in written} == written
    # What a later `jobs status` and the recorded run say, not only the run's own reply.
    last = jobs.status(_at(1))["arxiv"]["last_run"]
    assert last["status"] == "failed" and last["counts"] == failed["counts"]
    (row,) = jobs.job_runs("arxiv")
    assert row["status"] == "failed" and row["counts"] == failed["counts"]

    third.times = 0  # arXiv is back: the next run counts only what it does itself
    later = jobs.run(_at(6), "--only", "arxiv")
    assert later["arxiv"]["status"] == "ok"
    assert later["arxiv"]["counts"]["pages"] == 2 and later["arxiv"]["counts"]["inserted"] == 2
    assert jobs.ids() == set(NEW[DAY1])
    assert [r["counts"]["inserted"] for r in jobs.job_runs("arxiv")] == [4, 2]


def test_kill_minus_9_mid_run_then_a_rerun_finishes_without_duplicates_or_gaps(
    jobs, upstream
) -> None:
    upstream.page_size = 2  # day 1's seven records come in four pages
    upstream.publish(DAY1)
    gate = upstream.gate(lambda r: r.params.get("resumptionToken", "").endswith("offset=4"))
    env = {**os.environ, "PAPERWIRE_HOME": str(jobs.home), **jobs.env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperwire", "jobs", "run", "--at", _at(0)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert gate.reached.wait(120), "the harvest never asked for its third page"
        # While it runs, nobody else runs the same job: a second run leaves it alone.
        busy = jobs.run(_at(0), "--only", "arxiv", "--force")
        assert busy["arxiv"]["action"] == "busy"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        gate.release()
    (killed,) = jobs.job_runs("arxiv")
    assert killed["status"] == "running" and killed["finished_at"] is None
    kept = jobs.ids()
    assert kept == set(NEW[DAY1][:4])  # two pages were written, two are missing

    upstream.log.clear()
    done = jobs.run(_at(1))
    assert all(o["status"] == "ok" for o in done.values()), done
    # The harvest resumed on the page it died on, instead of starting over.
    assert upstream.requests("/oai")[0].params["resumptionToken"].endswith("offset=4")
    assert [r["status"] for r in jobs.job_runs("arxiv")] == ["interrupted", "ok"]
    assert jobs.ids() == {*NEW[DAY1], HF_ONLY[DAY1]}  # no gap
    assert jobs.count(papers) == 7 and jobs.count(paper_embeddings) == 7  # no duplicate
    assert jobs.pending() == 0
    for pid in (NEW[DAY1][0], NEW[DAY1][-1]):  # first page and last page
        assert jobs.search(jobs.paper(pid)["title"])[0] == pid


def test_a_model_that_cannot_load_leaves_papers_searchable_then_they_are_embedded(
    jobs, upstream, tmp_path
) -> None:
    upstream.publish(DAY1)
    broken = tmp_path / "models-is-a-file"
    broken.write_text("not a directory")
    first = jobs.cli("jobs", "run", "--at", _at(0), "--json", PAPERWIRE_MODEL_DIR=str(broken))
    assert first.returncode == 1
    done = {o["job"]: o for o in first.json()}
    assert done["arxiv"]["status"] == "ok" and done["hf"]["status"] == "ok"
    assert done["embed"]["status"] == "failed" and "embedding failed" in done["embed"]["error"]
    assert done["embed"]["counts"] == {**done["embed"]["counts"], "embedded": 0, "pending": 7}
    assert jobs.pending() == 7
    target = NEW[DAY1][0]
    assert jobs.search(jobs.paper(target)["title"])[0] == target  # by keywords
    assert jobs.similar(target) == []  # no vectors yet

    later = jobs.run(_at(6))  # after the backoff, with a model that loads
    assert later["embed"]["status"] == "ok" and later["embed"]["counts"]["embedded"] == 7
    assert jobs.pending() == 0
    assert jobs.similar(target)


@pytest.mark.parametrize(
    ("categories", "sets"),
    [
        (["cs.AI", "cs.CL", "cs.CV", "cs.LG"], ["cs"]),
        (["cs.LG", "stat.ML", "hep-th", "astro-ph.GA", "q-bio.NC"], None),
    ],
)
def test_categories_pick_oai_sets(categories, sets) -> None:
    expected = sets or ["cs", "physics:astro-ph", "physics:hep-th", "q-bio", "stat"]
    assert sets_for(categories) == expected

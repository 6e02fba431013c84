"""Three consecutive days arrive upstream; each is harvested, embedded and searchable.

``paperwire jobs run --at`` against the recorded OAI-PMH and Daily Papers days
(``fixtures/``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date

from paperwire.db.schema.catalog import feed_submissions, hf_listings, papers
from paperwire.db.schema.search import paper_embeddings

from .conftest import DAY1, DAY2, DAY3

# What each recorded day holds (see fixtures/README.md).
NEW = {
    DAY1: ["2506.06283", "2506.06290", "2506.06294", "2506.06315", "2506.06329", "2506.06409"],
    DAY2: ["2506.08018", "2506.08019", "2506.08020", "2506.08054", "2506.08063", "2506.08364"],
    DAY3: ["2506.09052", "2506.09066", "2506.09067", "2506.09081", "2506.09096", "2506.09278"],
}
OTHER_CATEGORY = {DAY1: "2506.06494", DAY2: "2506.07675", DAY3: "2506.09061"}  # cs.GR/DB/DC
HF_ONLY = {DAY1: "2506.02619", DAY2: "2506.05351", DAY3: "2506.05352"}
REPLACED = {DAY2: ("2210.16402", date(2022, 10, 15)), DAY3: ("2410.16222", date(2024, 10, 15))}
WITH_CODE = {
    DAY1: ("2506.06315", "https://github.com/rezakarbasi/ecg-image-and-signal-dataset", 57),
    DAY2: ("2506.08054", "https://github.com/RingBDStack/STAMImupter", 227),
    DAY3: ("2506.09081", "https://github.com/flageval-baai/FlagEvalMM", 397),
}


def test_three_days_each_harvested_embedded_and_searchable(jobs, upstream) -> None:
    expected: set[str] = set()
    for n, day in enumerate((DAY1, DAY2, DAY3)):
        upstream.publish(day)
        if day == DAY2:
            upstream.upvotes["2506.06315"] = 50  # a day-1 paper gains votes upstream
        upstream.log.clear()
        done = jobs.run(f"{day}T06:00:00Z")
        assert {job: o["status"] for job, o in done.items()} == {
            "arxiv": "ok",
            "hf": "ok",
            "embed": "ok",
            "digests": "ok",
        }, done

        # arXiv: a first harvest starts a few days back; later ones at the last datestamp.
        first = upstream.requests("/oai")[0].params
        assert first["set"] == "cs" and first["metadataPrefix"] == "arXivRaw"
        assert first["from"] == ("2025-06-07" if n == 0 else (DAY1, DAY2)[n - 1])
        replaced = [REPLACED[day][0]] if day in REPLACED else []
        assert done["arxiv"]["counts"]["inserted"] == len(NEW[day]) + len(replaced)
        assert done["arxiv"]["counts"]["other_categories"] >= 1

        expected |= {*NEW[day], *replaced, HF_ONLY[day]}
        assert jobs.ids() == expected  # the cs.GR/DB/DC paper and the deleted one are not kept
        assert OTHER_CATEGORY[day] not in jobs.ids()
        for pid in NEW[day]:
            assert jobs.paper(pid)["listed_on"] == date.fromisoformat(day), pid
        if replaced:  # a new version of an old paper stays on its first day, not today's
            assert jobs.paper(replaced[0])["listed_on"] == REPLACED[day][1]

        # Hugging Face: votes, code links, submitter and thumbnail, and its own papers.
        pid, repo, stars = WITH_CODE[day]
        row = jobs.paper(pid)
        assert row["upvotes"] == 42 + n and repo in row["code_links"]
        with jobs.db.connect() as conn:
            listing = conn.execute(hf_listings.select().where(hf_listings.c.paper_id == pid)).one()
            feed_day = conn.execute(
                feed_submissions.select().where(feed_submissions.c.paper_id == HF_ONLY[day])
            ).one()
        assert listing.github_stars == stars and listing.github_repo == repo
        assert listing.submitter_name == f"daily-reader-{n * 10 + 1}"
        assert listing.thumbnail_url.endswith(f"/papers/{pid}.png")
        assert listing.submitter_avatar_url.startswith(upstream.base + "/avatars/")
        assert listing.num_comments is not None
        assert feed_day.day == date.fromisoformat(day) and feed_day.source == "hf"
        assert jobs.paper(HF_ONLY[day])["listed_on"] == date.fromisoformat(day)
        assert {r.params["date"] for r in upstream.requests("/api/daily_papers")} >= {day}

        # Embedded and searchable: words find the paper, vectors find its neighbours.
        assert jobs.pending() == 0
        assert jobs.count(paper_embeddings) == len(expected)
        target = NEW[day][0]
        assert jobs.search(jobs.paper(target)["title"])[0] == target
        neighbours = jobs.similar(target)
        assert neighbours and target not in neighbours and set(neighbours) <= expected

    # The day-1 paper's votes were refreshed on day 2 (its list is re-read each hour).
    assert jobs.paper("2506.06315")["upvotes"] == 50
    # A later version does not move a paper: 2506.06283 v2 came with day 3's records.
    revised = jobs.paper("2506.06283")
    assert revised["version"] == 2 and revised["listed_on"] == date(2025, 6, 10)
    assert revised["comment"].startswith("v2: camera-ready")

    status = jobs.status(f"{DAY3}T06:01:00Z")
    assert all(s["last_run"]["status"] == "ok" for s in status.values())
    assert status["arxiv"]["last_run"]["counts"]["inserted"] == len(NEW[DAY3]) + 1
    assert status["arxiv"]["behind_seconds"] == 0


def test_a_rerun_changes_nothing(jobs, upstream) -> None:
    upstream.publish(DAY1)
    jobs.run(f"{DAY1}T06:00:00Z")

    def snapshot() -> tuple:
        with jobs.db.connect() as conn:
            return (
                [dict(r._mapping) for r in conn.execute(papers.select().order_by(papers.c.id))],
                [
                    dict(r._mapping)
                    for r in conn.execute(paper_embeddings.select().order_by("paper_id"))
                ],
                [dict(r._mapping) for r in conn.execute(hf_listings.select().order_by("paper_id"))],
            )

    before = snapshot()
    cli_search = ("search", "ECG image datasets digitization", "--json")
    found = jobs.cli(*cli_search).json()
    upstream.log.clear()
    again = jobs.run(f"{DAY1}T06:06:00Z")  # one interval (5 min) later: everything is due
    assert all(o["action"] == "ran" and o["status"] == "ok" for o in again.values()), again
    arxiv, hf = again["arxiv"]["counts"], again["hf"]["counts"]
    assert (arxiv["inserted"], arxiv["updated"], arxiv["unchanged"]) == (0, 0, 6)
    assert (hf["inserted"], hf["updated"], hf["details"]) == (0, 0, 0)
    assert again["embed"]["counts"]["embedded"] == 0
    # A poll with nothing new costs one request per source: the last datestamp's
    # records, and today's list (earlier days are refreshed hourly).
    assert len(upstream.requests("/oai")) == 1 and arxiv["requests"] == 1
    assert [r.params["date"] for r in upstream.requests("/api/daily_papers")] == [DAY1]
    assert snapshot() == before
    assert jobs.cli(*cli_search).json() == found and found[0]["id"] == "2506.06315"

    table = jobs.cli("jobs", "status", "--at", f"{DAY1}T06:06:30Z")
    assert table.returncode == 0
    assert [line.split()[0] for line in table.stdout.splitlines()[1:5]] == [
        "arxiv",
        "hf",
        "embed",
        "digests",
    ]
    assert " ok " in table.stdout and "2025-06-10 06:11:" in table.stdout  # next due

    # Run again at once: nothing is due, nothing is asked.
    upstream.log.clear()
    idle = jobs.run(f"{DAY1}T06:07:00Z")
    assert {o["action"] for o in idle.values()} == {"not-due"}
    assert upstream.log == []

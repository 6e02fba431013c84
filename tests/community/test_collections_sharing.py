"""Shareable collections and paper pages, over HTTP on SQLite and PostgreSQL.

Visibility (public / unlisted / private, 404 for whoever may not read), the
description escaped, the owner's order, BibTeX / RIS / CSV exports, imports
from BibTeX and pasted ids with a report of every entry, ``/papers/{id}.md``,
and the Hugging Face submitter, avatar and thumbnail on the page and in the API.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import bibtexparser
import httpx
import pytest

from tests.accounts.conftest import Site, post_form, register, token, unique

# Papers of the shared site's catalog (tests/accounts/conftest.py).
P1, P2, P3, P4, P5 = "2603.00001", "2603.00002", "2603.00003", "2603.00004", "2603.00005"
# Added by this module, on a day far from the other tests' feeds.
HF_ID, FORMULA_ID, HF_DAY = "2501.09901", "2501.09902", "2025-01-15"
AVATAR = "https://cdn-avatars.huggingface.co/v1/production/uploads/abc/ada.png"
THUMB = "https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/2501.09901.png"


@pytest.fixture(scope="module")
def hf_papers(site: Site) -> Site:
    """Two papers written as the Hugging Face sync writes them (catalog + hf_listings)."""
    from datetime import date

    from paperwire.catalog.store import upsert_records
    from paperwire.sources.hf_api import parse_listing

    item = {
        "paper": {
            "id": HF_ID,
            "authors": [{"name": "Grace Hopper"}],
            "publishedAt": "2025-01-14T10:00:00.000Z",
            "submittedOnDailyAt": "2025-01-15T08:00:00.000Z",
            "title": "Compilers for everyone",
            "summary": "We compile.",
            "upvotes": 7,
            "submittedOnDailyBy": {
                "name": "ghopper",
                "fullname": "Grace Hopper",
                "avatarUrl": AVATAR,
            },
        },
        "thumbnail": THUMB,
        "numComments": 2,
    }
    formula = {
        "paper": {
            "id": FORMULA_ID,
            "authors": [{"name": "@Mallory"}],
            "publishedAt": "2025-01-14T10:00:00.000Z",
            "title": '=HYPERLINK("https://evil.example","click")',
            "summary": "+1 formula in the abstract",
            "upvotes": 0,
        },
    }
    day = date.fromisoformat(HF_DAY)
    listings = [parse_listing(i, day, "https://huggingface.co") for i in (item, formula)]
    upsert_records(site.db(), [x.record for x in listings], listings=[x.details for x in listings])
    return site


def _owner(site: Site, ip: str = "127.0.0.1") -> httpx.Client:
    client = site.client(ip=ip)
    register(site, client, unique("collector"))
    return client


def _create(client: httpx.Client, name: str, *papers: str) -> str:
    done = post_form(client, "/collections", "/collections", name=name)
    assert done.status_code == 303, done.text
    slug = done.headers["location"].rsplit("/", 1)[1]
    for pid in papers:
        added = post_form(client, f"/collections/{slug}/add", "/collections", paper_id=pid)
        assert added.status_code == 303, added.text
    return slug


def _detail(client: httpx.Client, slug: str) -> dict:
    answer = client.get(f"/api/collections/{slug}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _edit(client: httpx.Client, slug: str, **form: str) -> None:
    done = post_form(client, f"/collections/{slug}/edit", f"/collections/{slug}", **form)
    assert done.status_code == 303, done.text


def _path(url: str) -> str:
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


def test_visibility_rules_and_escaped_description(site: Site) -> None:
    owner = _owner(site)
    other = _owner(site, ip="127.0.0.2")
    anon = site.client(ip="127.0.0.3")
    name = f"Shared {uuid.uuid4().hex[:6]}"
    slug = _create(owner, name, P1, P2)
    info = _detail(owner, slug)
    assert info["visibility"] == "private" and info["description"] == ""
    share = _path(info["share_url"])
    share_id = share.split("/")[2]
    assert re.fullmatch(r"/c/[A-Za-z0-9_-]{16}/" + re.escape(slug), share)

    # Private: the owner reads it; anyone else gets the same 404 as an unknown id.
    assert owner.get(share).status_code == 200
    assert owner.get(f"/c/{share_id}.bib").status_code == 200
    for client in (anon, other):
        assert client.get(share).status_code == 404
        assert client.get(f"/c/{share_id}.bib").status_code == 404
    assert anon.get(f"/c/{'x' * 16}/{slug}").status_code == 404

    hostile = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    _edit(owner, slug, visibility="unlisted", description=hostile)
    page = anon.get(share)
    assert page.status_code == 200 and name in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;img" in page.text
    assert other.get(f"/c/{share_id}.ris").status_code == 200
    assert anon.get(f"/c/{share_id}").headers["location"] == share  # the slug is added
    assert share not in anon.get("/collections/public").text  # unlisted: never listed

    _edit(owner, slug, visibility="public")
    assert share in anon.get("/collections/public").text
    assert _detail(owner, slug)["visibility"] == "public"
    # Someone else's slug never reaches the owner's page.
    assert other.get(f"/collections/{slug}").status_code == 404

    refused = owner.post(f"/collections/{slug}/edit", data={"visibility": "private"})
    assert refused.status_code == 403  # no CSRF token
    bad = post_form(owner, f"/collections/{slug}/edit", "/collections", visibility="everyone")
    assert bad.status_code == 400

    export = owner.get("/api/me/export").json()
    mine = next(c for c in export["collections"] if c["slug"] == slug)
    assert mine["visibility"] == "public" and mine["description"] == hostile
    assert mine["share_path"] == share
    assert [p["paper_id"] for p in mine["papers"]] == [P1, P2]
    for client in (owner, other, anon):
        client.close()


def test_order_and_exports(hf_papers: Site) -> None:
    site = hf_papers
    owner = _owner(site)
    slug = _create(owner, f"Order {uuid.uuid4().hex[:6]}", P1, P2, P4, FORMULA_ID)
    assert [p["id"] for p in _detail(owner, slug)["papers"]] == [P1, P2, P4, FORMULA_ID]

    def move(pid: str, where: str) -> None:
        form_page = f"/collections/{slug}"
        done = post_form(owner, f"/collections/{slug}/move", form_page, paper_id=pid, where=where)
        assert done.status_code == 303, done.text

    move(P4, "top")
    move(P1, "down")
    move(FORMULA_ID, "up")
    order = [P4, P2, FORMULA_ID, P1]
    assert [p["id"] for p in _detail(owner, slug)["papers"]] == order
    page = owner.get(f"/collections/{slug}").text
    assert [page.index(f'id="paper-{p}"') for p in order] == sorted(
        page.index(f'id="paper-{p}"') for p in order
    )

    share_id = _path(_detail(owner, slug)["share_url"]).split("/")[2]
    bib = owner.get(f"/c/{share_id}.bib")
    assert bib.status_code == 200
    assert bib.headers["content-type"].startswith("application/x-bibtex")
    assert f'filename="{slug}.bib"' in bib.headers["content-disposition"]
    library = bibtexparser.parse_string(bib.text)
    assert not library.failed_blocks
    assert [e.fields_dict["eprint"].value for e in library.entries] == order
    assert len({e.key for e in library.entries}) == len(order)

    ris = owner.get(f"/c/{share_id}.ris")
    assert ris.headers["content-type"].startswith("application/x-research-info-systems")
    assert f'filename="{slug}.ris"' in ris.headers["content-disposition"]
    records = [r for r in ris.text.split("ER  - ") if r.strip()]
    assert len(records) == len(order)
    for pid, record in zip(order, records, strict=True):
        lines = [ln for ln in record.strip().splitlines() if ln]
        assert lines[0] == "TY  - ELEC"
        assert all(re.fullmatch(r"[A-Z][A-Z0-9]  - .*", ln) for ln in lines)
        assert f"ID  - arXiv:{pid}" in lines and f"UR  - https://arxiv.org/abs/{pid}" in lines
        assert any(ln.startswith("TI  - ") for ln in lines)
        assert any(ln.startswith("AU  - ") for ln in lines)
        assert any(ln.startswith("PY  - ") for ln in lines)
    assert "AU  - Ada Lovelace" in records[0] and "KW  - cs.LG" in records[0]

    table = owner.get(f"/c/{share_id}.csv")
    assert table.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(table.text)))
    assert rows[0][:3] == ["arxiv_id", "title", "authors"]
    assert [r[0] for r in rows[1:]] == order
    evil = rows[1 + order.index(FORMULA_ID)]
    assert evil[1].startswith("'=HYPERLINK") and evil[2] == "'@Mallory"
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    owner.close()


BIB = """% a comment line
@article{good1,
  title = {Diffusion models for protein design},
  author = {Lovelace, Ada},
  eprint = {2603.00001v2},
  archivePrefix = {arXiv},
}

@misc{bydoi, title = {RAG}, doi = {10.48550/arXiv.2603.00002}}

@misc{byurl, title = {Vision}, url = {https://arxiv.org/abs/2603.00004}}

@misc{bytitle, title = {An {unlisted} preprint on graph kernels}}

@misc{unknown, title = {A paper nobody has}, eprint = {2612.99999}}

@article{broken, title = {Never closed
@misc{notitle, year = {2020}}
"""


def test_import_bibtex_reports_every_entry(site: Site) -> None:
    owner = _owner(site)
    slug = _create(owner, f"Import {uuid.uuid4().hex[:6]}", P2)

    def upload(content: bytes) -> httpx.Response:
        return owner.post(
            f"/collections/{slug}/import",
            data={"csrf_token": token(owner, f"/collections/{slug}")},
            files={"bibtex": ("refs.bib", content, "text/x-bibtex")},
        )

    answer = upload(BIB.encode())
    assert answer.status_code == 200, answer.text
    html = answer.text
    added = html.split('data-report="added"')[1].split("</div>")[0]
    present = html.split('data-report="present"')[1].split("</div>")[0]
    unmatched = html.split('data-report="unmatched"')[1].split("</div>")[0]
    assert "good1" in added and "byurl" in added and "bytitle" in added
    assert "bydoi" in present
    assert "line 15: unknown" in unmatched and "2612.99999" in unmatched
    assert "line 17: @article{broken" in unmatched and "malformed" in unmatched
    assert "notitle" in unmatched
    assert [p["id"] for p in _detail(owner, slug)["papers"]] == [P2, P1, P4, P5]

    again = upload(BIB.encode()).text
    assert 'data-report="added"' not in again and "4 already there" in again

    assert upload(b"\xff\xfe\x00garbage{{{@@@").status_code in (200, 400)
    assert upload(b"%" * 1_000_001).status_code in (400, 413)
    no_input = post_form(owner, f"/collections/{slug}/import", f"/collections/{slug}")
    assert no_input.status_code == 400
    owner.close()


def test_import_pasted_ids_and_urls(site: Site) -> None:
    owner = _owner(site)
    slug = _create(owner, f"Paste {uuid.uuid4().hex[:6]}", P5)
    pasted = "\n".join(
        [
            "2603.00001v2",
            "https://arxiv.org/abs/2603.00002",
            "https://hf.co/papers/2603.00004 https://arxiv.org/pdf/2603.00005v1",
            "hep-th/9901001v1",
            "not-an-id",
        ]
    )
    answer = post_form(owner, f"/collections/{slug}/import", f"/collections/{slug}", ids=pasted)
    assert answer.status_code == 200, answer.text
    unmatched = answer.text.split('data-report="unmatched"')[1].split("</div>")[0]
    assert "line 4: hep-th/9901001v1" in unmatched and "not in this catalog" in unmatched
    assert "line 5: not-an-id" in unmatched
    assert "3 added, 1 already there, 2 not matched" in " ".join(answer.text.split())
    assert [p["id"] for p in _detail(owner, slug)["papers"]] == [P5, P1, P2, P4]
    owner.close()


def test_paper_markdown(site: Site) -> None:
    with site.client() as anon:
        md = anon.get(f"/papers/{P1}.md")
        assert md.status_code == 200
        assert md.headers["content-type"] == "text/markdown; charset=utf-8"
        assert md.text.startswith("# Diffusion models for protein design\n")
        assert "Ada Lovelace" in md.text and "We study diffusion models" in md.text
        assert f"<https://arxiv.org/abs/{P1}>" in md.text and f"/pdf/{P1}" in md.text
        assert anon.get(f"/papers/{P1}v1.md").headers["location"] == f"/papers/{P1}.md"
        assert anon.get("/papers/2612.99999.md").status_code == 404
        assert anon.get("/papers/nonsense.md").status_code == 404
        page = anon.get(f"/papers/{P1}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert anon.get(f"/papers/{P1}.bib").status_code == 200


def test_submitter_avatar_and_thumbnail(hf_papers: Site) -> None:
    with hf_papers.client() as anon:
        page = anon.get(f"/papers/{HF_ID}").text
        avatar = re.search(r'<img class="avatar"[^>]*>', page).group(0)
        assert f'src="{AVATAR}"' in avatar and 'loading="lazy"' in avatar
        assert 'alt="Avatar of Grace Hopper"' in avatar
        assert f'src="{THUMB}"' in page and "Thumbnail of" in page
        assert "<span data-submitter>Grace Hopper</span>" in page
        # No listing details: no avatar, no thumbnail, no broken image.
        plain = anon.get(f"/papers/{P1}").text
        assert 'class="avatar"' not in plain and "paper-thumbnail" not in plain

        api = anon.get(f"/api/papers/{HF_ID}").json()
        assert api["submittedOnDailyBy"]["avatarUrl"] == AVATAR
        assert api["submittedOnDailyBy"]["fullname"] == "Grace Hopper"
        items = anon.get("/api/daily_papers", params={"date": HF_DAY}).json()
        item = next(i for i in items if i["paper"]["id"] == HF_ID)
        assert item["thumbnail"] == THUMB
        assert item["submittedBy"]["avatarUrl"] == AVATAR
        assert item["submittedBy"]["name"] == "ghopper"
        other = next(i for i in items if i["paper"]["id"] == FORMULA_ID)
        assert other["thumbnail"] == "" and other["submittedBy"]["avatarUrl"] == ""
        json.dumps(items)  # plain JSON

"""Hugging Face's own client, ``huggingface_hub``, works against a Paperwire site.

Its paper calls (``list_daily_papers``, ``paper_info``, ``list_papers``,
``read_paper``) are pointed at the test server with ``endpoint=``, so what is
checked is the library's own parsing of our answers, not a copy of it.
"""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError


@pytest.fixture
def api(web_server) -> HfApi:
    return HfApi(endpoint=web_server.url, token=False)


def test_daily_papers_paper_info_search_and_markdown(api: HfApi) -> None:
    daily = list(api.list_daily_papers(limit=5))
    assert 0 < len(daily) <= 5 and all(p.id and p.title for p in daily)  # the latest day
    first = daily[0]
    assert first.upvotes is not None and first.published_at is not None

    info = api.paper_info(first.id)
    assert (info.id, info.title) == (first.id, first.title)
    assert info.authors and all(a.name for a in info.authors)

    found = [p.id for p in api.list_papers(query=f'"{first.title}"', limit=10)]
    assert first.id in found

    markdown = api.read_paper(first.id)
    assert markdown.startswith("# ") and first.id in markdown


def test_unknown_papers_are_the_404_the_client_raises(api: HfApi) -> None:
    with pytest.raises(HfHubHTTPError) as raised:
        api.paper_info("2501.99999")
    assert raised.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as raised:
        api.read_paper("2501.99999")
    assert raised.value.response.status_code == 404

"""Schemathesis against the account, collection and submission API with a write token:
whatever the body, path or parameters, no request produces a 5xx."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

from .conftest import post_form, register, unique
from .test_tokens import SECRET_RE

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.generation import GenerationMode  # noqa: E402

EXAMPLES = 5  # per operation and mode
TAGS = {"accounts", "collections"}


def test_no_server_errors_with_a_token(site):
    with site.client() as client:
        register(site, client, unique("fuzz"))
        page = post_form(client, "/account/tokens", "/account/tokens", name="fuzz", scope="write")
        secret = SECRET_RE.search(page.text).group(1)
    schema = schemathesis.openapi.from_url(site.url + "/api/openapi.json", timeout=30)
    operations = [r.ok() for r in schema.get_all_operations()]
    ours = [op for op in operations if TAGS & set(op.definition.raw.get("tags", []))]
    assert len(ours) >= 12
    headers = {"Authorization": f"Bearer {secret}"}
    calls = 0
    for op in ours:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=op.as_strategy(generation_mode=mode))
            def check(case) -> None:
                nonlocal calls
                response = case.call(base_url=site.url, headers=headers, timeout=30)
                calls += 1
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} {case.body!r} -> "
                    f"{response.status_code}\n{response.text[:500]}"
                )

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, op.label
    assert calls >= 60

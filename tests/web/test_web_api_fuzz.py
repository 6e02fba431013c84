"""Schemathesis against the live OpenAPI schema: no request may produce a 5xx.

Bounded: a fixed number of generated cases per operation, positive and
negative (values that violate the schema), so this stays well under a minute.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.generation import GenerationMode  # noqa: E402

EXAMPLES = 40  # per operation and mode; 4 read operations here (POSTs are the accounts')


def test_no_server_errors(web_server):
    schema = schemathesis.openapi.from_url(web_server.url + "/api/openapi.json", timeout=30)
    operations = [result.ok() for result in schema.get_all_operations()]
    gets = [op for op in operations if op.method.upper() == "GET"]
    assert len(gets) >= 4
    calls = 0
    for op in gets:
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
                response = case.call(base_url=web_server.url, timeout=30)
                calls += 1
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path} {case.query} -> "
                    f"{response.status_code}\n{response.text[:500]}"
                )

            try:
                check()
            except Unsatisfiable:
                # No way to break the schema of this operation (e.g. no parameters).
                assert mode is GenerationMode.NEGATIVE, op.label
    assert calls >= 100

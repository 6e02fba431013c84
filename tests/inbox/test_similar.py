"""Personal alerts through the real search stack: embeddings, hybrid topics, similar papers.

Slow (the first run converts the encoder to ONNX, once per test session).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("paperwire.search.service")


@pytest.fixture(scope="session")
def onnx_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted encoder, made once per session in a throwaway home."""
    home = tmp_path_factory.mktemp("models-home")
    paper = home / "one.jsonl"
    paper.write_text(
        '{"id": "2606.09999", "announced": "2026-06-01", "title": "Warm-up", '
        '"authors": ["A"], "categories": ["cs.LG"], "abstract": "Warm-up paper."}\n'
    )
    # The model directory is named explicitly: another suite may have set one.
    env = {**os.environ, "PAPERWIRE_HOME": str(home), "PAPERWIRE_MODEL_DIR": str(home / "models")}
    for args in (("import", "--no-index", str(paper)), ("embed", "--no-progress")):
        result = subprocess.run(
            [sys.executable, "-m", "paperwire", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            pytest.skip(f"encoder unavailable: {result.stderr[-500:]}")
    return home / "models"


@pytest.mark.slow
def test_similar_to_upvotes_and_hybrid_topics(
    catalog, home, onnx_models, run_cli, inbox_db, activate, smtp_sink
) -> None:
    from paperwire.accounts import upvotes
    from paperwire.accounts.users import sign_up

    shutil.copytree(onnx_models, home / "models", dirs_exist_ok=True)
    assert run_cli("embed", "--no-progress").returncode == 0
    assert run_cli("reindex", "--no-progress").returncode == 0

    now = datetime(2026, 6, 14, tzinfo=UTC)
    user = sign_up(inbox_db, "fan@example.org", "correct horse battery staple 42", now=now).user
    upvotes.set_vote(inbox_db, user.id, "2606.00005", True, now=now)  # Efficient diffusion samplers
    activate("fan@example.org", trending=False, similar_to_upvotes=True)
    activate("topic@example.org", trending=False, topics=["speculative decoding"])

    result = run_cli("digest", "run", "--at", "2026-06-16T12:00:00Z", "--json")
    assert result.returncode == 0, result.stderr
    (fan,) = smtp_sink.to("fan@example.org", kind="digest")
    text = fan.message.get_body(("plain",)).get_content()
    assert "Similar to papers you upvoted or saved" in text
    assert "Self-supervised video diffusion" in text  # a neighbour listed on 15 June
    assert "Efficient diffusion samplers" not in text  # the seed itself never comes back
    (topic,) = smtp_sink.to("topic@example.org", kind="digest")
    text = topic.message.get_body(("plain",)).get_content()
    assert "Matching “speculative decoding”" in text
    assert "Speculative decoding revisited" in text

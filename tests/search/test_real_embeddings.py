"""End to end with the real encoder and the bundled sample's precomputed embeddings.

The converted model is shared through ``PAPERWIRE_MODEL_DIR`` (default
``.cache/models``), like the encoder's own tests, so only the first run pays
for the conversion.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import SAMPLE_NPZ, cli

pytestmark = pytest.mark.skipif(not SAMPLE_NPZ.exists(), reason="sample embeddings not built")


def run_json(home: Path, *args: str) -> list[dict]:
    proc = cli(home, *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_similar_cli(real_home: Path) -> None:
    items = run_json(real_home, "similar", "2401.10241", "--limit", "5")
    assert len(items) == 5
    assert "2401.10241" not in [i["id"] for i in items]
    assert all(i["title"] and 0 < i["score"] <= 1 for i in items)
    assert (
        run_json(real_home, "similar", "https://arxiv.org/abs/2401.10241v1", "--limit", "5")
        == items
    )
    assert run_json(real_home, "similar", "2101.00001") == []


def test_semantic_query_without_the_words(real_home: Path) -> None:
    items = run_json(
        real_home, "search", "making language models use fewer bits per weight", "--limit", "5"
    )
    assert "2402.17764" in [i["id"] for i in items]  # The Era of 1-bit LLMs


def test_embed_command_updates_the_vector_index(real_home: Path) -> None:
    new = real_home / "new.jsonl"
    new.write_text(
        json.dumps(
            {
                "id": "2405.09999",
                "title": "Pipeline parallel training without bubbles",
                "abstract": "We schedule the backward pass of pipeline stages to remove idle time.",
                "announced": "2024-05-02",
                "authors": ["Ada Lovelace"],
            }
        )
        + "\n"
    )
    assert cli(real_home, "import", str(new)).returncode == 0
    assert run_json(real_home, "similar", "2405.09999") == []  # no vector yet
    assert run_json(real_home, "search", "bubbles pipeline parallel", "--limit", "5")[0]["id"] in {
        "2405.09999",
        "2401.10241",
    }
    proc = cli(real_home, "embed", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    neighbours = [i["id"] for i in run_json(real_home, "similar", "2405.09999", "--limit", "3")]
    assert "2401.10241" in neighbours  # Zero Bubble Pipeline Parallelism

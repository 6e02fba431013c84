"""Two instances building the encoder into their own homes at once, on one database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.catalog.helpers import jsonl_record, write_jsonl


@pytest.mark.slow
@pytest.mark.timeout(900)  # two model builds at once on two cores
def test_two_instances_build_the_encoder_at_once(server_db, run_cli, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "p.jsonl", [jsonl_record(n) for n in range(1, 11)])
    assert run_cli("import", "--no-index", str(path)).returncode == 0
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    env = {k: v for k, v in os.environ.items() if k != "PAPERWIRE_MODEL_DIR"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "paperwire", "embed", "--json"],
            env={**env, "PAPERWIRE_HOME": str(h)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for h in homes
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=800)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert all(r["pending"] == 0 for r in reports), reports
    assert sum(r["embedded"] for r in reports) >= 10, reports  # both may embed one: upserts
    manifests = []
    for home in homes:
        (manifest,) = (home / "models").glob("minilm-l6-v2-*.json")
        data = json.loads(manifest.read_text())
        assert all((home / "models" / name).stat().st_size > 0 for name in data["files"].values())
        assert not list((home / "models").glob(".build-*"))  # no half-built leftovers
        manifests.append({k: data[k] for k in ("key", "chosen", "dim", "files")})
    assert manifests[0] == manifests[1]  # the same model on both machines
    # And each instance answers with it.
    for home in homes:
        result = run_cli("similar", "2601.00001", "--json", env={"PAPERWIRE_HOME": str(home)})
        assert result.returncode == 0, result.stderr

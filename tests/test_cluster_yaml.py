"""cluster.yaml is accepted by the cluster-config JSON schema that ships inside the ray package."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _schema() -> dict:
    import importlib.util

    spec = importlib.util.find_spec("ray")
    path = Path(spec.origin).parent / "autoscaler" / "ray-schema.json"
    return json.loads(path.read_text())


def test_cluster_yaml_matches_ray_schema():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    jsonschema.validate(config, _schema())
    # The dashboard stays on loopback and every node installs the project with the pinned versions.
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])
    assert any("constraints.txt" in c for c in config["setup_commands"])
    # Token auth: every node gets the token made locally before `ray up` (a node started with
    # RAY_AUTH_MODE=token and no token refuses to start), and usage stats stay off.
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    for command in (c for c in starts if " start " in c):
        assert "RAY_AUTH_MODE=token" in command and "--disable-usage-stats" in command
    assert config["file_mounts"]["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"
    assert {".venv", "results"} <= set(config["rsync_exclude"])


def test_schema_rejects_a_broken_config():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config["max_workers"] = "many"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, _schema())

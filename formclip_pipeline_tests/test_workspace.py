"""`dagster dev`, started as a user starts it, loads workspace.yaml and serves the six assets."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
QUERY = ('{"query": "{ assetNodes { assetKey { path } groupName partitionKeys } '
         'repositoriesOrError { ... on RepositoryConnection { nodes { schedules { name cronSchedule } '
         'sensors { name } } } } }"}')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pyproject_has_no_block_that_would_make_dagster_ignore_workspace_yaml():
    import tomllib

    tool = tomllib.loads((REPO / "pyproject.toml").read_text()).get("tool", {})
    assert "dagster" not in tool and "dg" not in tool


def test_dagster_dev_serves_the_six_training_assets_with_five_partitions(tmp_path):
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "FORMCLIP_HOME": str(tmp_path)}
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen([str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        nodes = None
        deadline = time.time() + 180
        while time.time() < deadline and nodes is None:
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=QUERY.encode(),
                                             headers={"Content-Type": "application/json"})
                body = json.loads(urllib.request.urlopen(req, timeout=10).read())
                nodes = body["data"]["assetNodes"] or None
            except Exception:
                assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-3000:]
                time.sleep(2)
        assert nodes, "dagster dev did not serve the asset graph in time"
        by_name = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        training = {"raw_videos", "extracted_frames", "frame_annotations", "validation_report",
                    "finetuned_checkpoint", "evaluation_metrics"}
        assert set(by_name) == training | {"video_report"}
        for name in training:
            assert sorted(by_name[name]["partitionKeys"]) == ["bench_press", "deadlift", "ohp", "row", "squat"]
            assert by_name[name]["groupName"] == "training"
        assert by_name["video_report"]["groupName"] == "scoring"
        repo = body["data"]["repositoriesOrError"]["nodes"][0]
        assert [s["name"] for s in repo["sensors"]] == ["incoming_video_sensor"]
        assert [(s["name"], s["cronSchedule"]) for s in repo["schedules"]] == [("retrain_changed_exercises", "0 3 * * 1")]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)

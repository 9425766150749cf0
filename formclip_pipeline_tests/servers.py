"""Real servers for tests, started as a user starts them: `dagster dev`, `mlflow ui` and `mlflow server`."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(port: int, query: str, variables: dict | None = None) -> dict:
    payload = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=payload,
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


@contextmanager
def _process(args: list[str], env: dict, ready, timeout: float = 180):
    """Start a server in its own process group, wait until `ready()` is true, stop the whole group after."""
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if ready():
                    break
            except Exception:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"{args[0]} exited early:\n" + proc.stdout.read().decode(errors="replace")[-3000:])
            if time.time() > deadline:
                raise TimeoutError(f"{' '.join(args)} was not ready within {timeout:.0f} s")
            time.sleep(2)
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def dagster_dev(home: Path, extra_env: dict | None = None):
    """`dagster dev` from the repo root (so workspace.yaml is what loads), with its own DAGSTER_HOME."""
    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "FORMCLIP_HOME": str(home), **(extra_env or {})}
    dagster = Path(sys.executable).with_name("dagster")

    def ready() -> bool:
        return bool(graphql(port, "{ assetNodes { id } }")["data"]["assetNodes"])

    with _process([str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)], env, ready):
        yield port


@contextmanager
def mlflow_ui(tracking_uri: str):
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")

    def ready() -> bool:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200

    with _process([str(mlflow), "ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1",
                   "--port", str(port)], dict(os.environ), ready):
        yield port


@contextmanager
def mlflow_server(folder: Path):
    """An MLflow tracking server as a cluster would share one: its own database and artifact store
    under `folder`, artifacts served over HTTP. Yields its tracking URI."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    folder.mkdir(parents=True, exist_ok=True)

    def ready() -> bool:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200

    with _process([str(mlflow), "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
                   "--artifacts-destination", str(folder / "artifacts"), "--serve-artifacts", "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "1"], dict(os.environ), ready):
        yield f"http://127.0.0.1:{port}"

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


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter of this environment, from the repository, with `env` added."""
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=300)


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
    """Start a server in its own process group, wait until `ready()` is true, stop the whole group after.

    Its output goes to a file, not a pipe: nobody reads a pipe while the server runs, and a chatty
    server (a Celery worker logging every step) blocks once the pipe's 64 KB buffer is full."""
    import tempfile

    output = tempfile.TemporaryFile()
    proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    # pread, not seek + read: the server writes through the same file offset, and a seek would
    # make it overwrite its own log.
    proc.read_log = lambda last=6000: os.pread(output.fileno(), 1 << 24, 0).decode(errors="replace")[-last:]
    try:
        deadline = time.time() + timeout
        while True:
            try:
                if ready():
                    break
            except Exception:
                pass
            if proc.poll() is not None:
                raise RuntimeError(f"{args[0]} exited early:\n" + proc.read_log(3000))
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
        output.close()


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
    """`mlflow ui` on one worker, as `make mlflow` would serve one user. Its default four workers
    each open the store on their first request; on 2 cores, beside a browser and another test,
    that start-up is what a page's first requests wait on. Yields (port, a function that returns
    the tail of its log)."""
    port = free_port()
    mlflow = Path(sys.executable).with_name("mlflow")

    def ready() -> bool:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).status == 200

    with _process([str(mlflow), "ui", "--backend-store-uri", tracking_uri, "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "1"], dict(os.environ), ready) as proc:
        yield port, proc.read_log


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


@contextmanager
def redis_server():
    """Debian's redis-server on loopback, keeping nothing on disk. Yields its URL."""
    port = free_port()

    def ready() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    with _process(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                  dict(os.environ), ready, timeout=30):
        yield f"redis://127.0.0.1:{port}/0"


def _postgres_bin(name: str) -> str:
    import glob

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed (Debian package postgresql; .ci/run installs it)")
    return found[-1]


@contextmanager
def postgres_server():
    """Debian's PostgreSQL in a fresh cluster of its own on loopback, trusting local connections.
    PostgreSQL refuses to run as root, so under root it runs as the `postgres` user. Yields its URL."""
    import shutil
    import tempfile

    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="formclip-pg-"))
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run([*as_postgres, _postgres_bin("initdb"), "-D", str(folder / "data"), "-U", "postgres",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    try:
        subprocess.run([*as_postgres, _postgres_bin("pg_ctl"), "-D", str(folder / "data"), "-w", "-l",
                        str(folder / "log"), "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"],
                       check=True, capture_output=True)
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; dagster-postgres ships psycopg2.
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, _postgres_bin("pg_ctl"), "-D", str(folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def celery_worker(command: list[str], env: dict):
    """A dagster-celery worker started by `command` (as the README writes it); yields once it answers a ping."""
    name = command[command.index("-n") + 1]
    bin_dir = Path(sys.executable).parent
    # dagster-celery starts `celery` from PATH, as in an activated virtual environment.
    env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"}

    def ready() -> bool:
        out = subprocess.run([str(bin_dir / "celery"), "-b", env["FORMCLIP_CELERY_BROKER"], "inspect", "ping", "-d",
                              f"{name}@{socket.gethostname()}", "-t", "5"], env=env, capture_output=True, text=True)
        return out.returncode == 0 and "pong" in out.stdout

    with _process([str(bin_dir / command[0]), *command[1:], "--loglevel", "WARNING"], env, ready, timeout=120) as proc:
        yield proc

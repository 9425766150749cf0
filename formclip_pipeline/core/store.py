"""MLflow tracking and DuckDB tables, without Dagster, for the assets and the command line alike."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

REGISTERED_PREFIX = "formclip-"
CHAMPION = "champion"


class StoreError(Exception):
    """The model registry or the metrics database cannot be used; one sentence naming the file."""


def _check_sqlite(path: Path) -> None:
    """Refuse a damaged MLflow database in one sentence, before MLflow prints pages of traceback."""
    import sqlite3

    if not path.exists():
        return
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            verdict = con.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        verdict = str(exc)
    if verdict != "ok":
        raise StoreError(f"{path}: the model registry is damaged ({verdict}); move it aside to start a new one, "
                         f"or restore it from a backup")


def _duckdb_connect(path: Path, read_only: bool):
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        reason = str(exc).splitlines()[0]
        raise StoreError(f"{path}: the metrics database cannot be opened ({reason}); move it aside to start a "
                         f"new one") from None


def mlflow_tracking_uri(root: str | os.PathLike) -> str:
    mlruns = Path(root).resolve() / "mlruns"
    mlruns.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{mlruns / 'mlflow.db'}"


def _setup(root, experiment: str):
    import mlflow

    _check_sqlite(Path(root).resolve() / "mlruns" / "mlflow.db")
    mlflow.set_tracking_uri(mlflow_tracking_uri(root))
    if mlflow.get_experiment_by_name(experiment) is None:
        artifacts = (Path(root).resolve() / "mlruns" / "artifacts").as_uri()
        mlflow.create_experiment(experiment, artifact_location=artifacts)
    mlflow.set_experiment(experiment)
    return mlflow


@contextmanager
def mlflow_run(root, experiment: str, run_name: str, tags: dict | None = None):
    mlflow = _setup(root, experiment)
    with mlflow.start_run(run_name=run_name, tags=tags or {}) as run:
        yield run


@contextmanager
def mlflow_run_resume(root, run_id: str):
    """Reopen a finished run to add evaluation results to it."""
    mlflow = _setup(root, "formclip")
    with mlflow.start_run(run_id=run_id):
        yield mlflow


def register_checkpoint(root, run_id: str, exercise: str, artifact_path: str, tags: dict) -> str:
    """A new version of formclip-<exercise> pointing at the run's checkpoint artifacts."""
    from mlflow import MlflowClient

    _setup(root, "formclip")
    client = MlflowClient()
    name = REGISTERED_PREFIX + exercise
    try:
        client.get_registered_model(name)
    except Exception:
        client.create_registered_model(name, description=f"FormClip form classifier for {exercise}")
    source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
    mv = client.create_model_version(name, source=source, run_id=run_id, tags={k: str(v) for k, v in tags.items()})
    return mv.version


def champion(root, exercise: str):
    """The current champion ModelVersion of formclip-<exercise>, or None."""
    from mlflow import MlflowClient

    _setup(root, "formclip")
    try:
        return MlflowClient().get_model_version_by_alias(REGISTERED_PREFIX + exercise, CHAMPION)
    except Exception:
        return None


def set_champion(root, exercise: str, version: str) -> None:
    from mlflow import MlflowClient

    _setup(root, "formclip")
    MlflowClient().set_registered_model_alias(REGISTERED_PREFIX + exercise, CHAMPION, version)


def duckdb_append(path: str | os.PathLike, table: str, df: pd.DataFrame, replace_key: str | None = None) -> int:
    """Append rows to a DuckDB table, creating it from the frame's schema on first use.

    With `replace_key`, rows whose key matches an incoming row are deleted in the same transaction,
    so concurrent writers for the same key leave one row.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # An all-empty object column would make DuckDB create a NULL-typed column that later rows
    # cannot be cast into; such columns are text.
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object and df[col].isna().all():
            df[col] = df[col].astype("string")
    with _duckdb_lock(path), _duckdb_connect(Path(path), read_only=False) as con:
        con.register("incoming", df)
        con.execute("begin transaction")
        exists = con.execute("select count(*) from information_schema.tables where table_name = ?", [table]).fetchone()[0]
        if exists:
            # Tables made by an older FormClip lack newer columns; add them rather than refuse the rows.
            have = {r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_name = ?", [table]).fetchall()}
            for col in df.columns:
                if col not in have:
                    kind = con.execute(f'select typeof("{col}") from incoming limit 1').fetchone()
                    con.execute(f'alter table "{table}" add column "{col}" {kind[0] if kind else "VARCHAR"}')
            if replace_key:
                con.execute(f'delete from "{table}" where "{replace_key}" in (select "{replace_key}" from incoming)')
            con.execute(f'insert into "{table}" by name select * from incoming')
        else:
            con.execute(f'create table "{table}" as select * from incoming')
        con.execute("commit")
        con.unregister("incoming")
    return len(df)


@contextmanager
def _duckdb_lock(path):
    """DuckDB allows one writing process per file: runs that finish together take turns."""
    import fcntl

    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def duckdb_query(path: str | os.PathLike, sql: str) -> pd.DataFrame:
    with _duckdb_connect(Path(path), read_only=True) as con:
        return con.execute(sql).df()

"""MLflow tracking and DuckDB tables, without Dagster, for the assets and the command line alike."""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from formclip_pipeline.core.files import exclusive_lock

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


EXPERIMENT = "formclip"  # the MLflow experiment every FormClip run belongs to


@dataclass(frozen=True)
class Tracker:
    """MLflow as FormClip uses it: training runs, the model registry and the champion alias.

    `uri` is MLflow's tracking URI: by default a sqlite file under <home>/mlruns (`at_home`), or a
    tracking server's address for several machines (FORMCLIP_TRACKING_URI, `for_home`). Core code
    receives a Tracker, so the assets and the command line choose it in one place each."""
    uri: str
    artifact_location: str | None = None  # where a new experiment keeps artifacts; None: the server decides

    @classmethod
    def at_home(cls, root: str | os.PathLike) -> "Tracker":
        mlruns = Path(root).resolve() / "mlruns"
        return cls(f"sqlite:///{mlruns / 'mlflow.db'}", (mlruns / "artifacts").as_uri())

    @classmethod
    def for_home(cls, root: str | os.PathLike) -> "Tracker":
        """The tracking server named by FORMCLIP_TRACKING_URI, else the sqlite store under `root`."""
        from formclip_pipeline.core.environment import tracking_uri

        return cls(tracking_uri()) if tracking_uri() else cls.at_home(root)

    @property
    def local_db(self) -> Path | None:
        return Path(self.uri[len("sqlite:///"):]) if self.uri.startswith("sqlite:///") else None

    def connect(self):
        """mlflow, pointed at this store with FormClip's experiment set (created on first use)."""
        import mlflow

        if self.local_db is not None:
            self.local_db.parent.mkdir(parents=True, exist_ok=True)
            _check_sqlite(self.local_db)
        mlflow.set_tracking_uri(self.uri)
        if mlflow.get_experiment_by_name(EXPERIMENT) is None:
            mlflow.create_experiment(EXPERIMENT, artifact_location=self.artifact_location)
        mlflow.set_experiment(EXPERIMENT)
        return mlflow

    def client(self):
        from mlflow import MlflowClient

        self.connect()
        return MlflowClient(self.uri)

    @contextmanager
    def run(self, run_name: str, tags: dict | None = None):
        mlflow = self.connect()
        with mlflow.start_run(run_name=run_name, tags=tags or {}) as run:
            yield run

    @contextmanager
    def resume(self, run_id: str):
        """Reopen a finished run to add evaluation results to it."""
        mlflow = self.connect()
        with mlflow.start_run(run_id=run_id):
            yield mlflow

    def register(self, run_id: str, exercise: str, artifact_path: str, tags: dict) -> str:
        """A new version of formclip-<exercise> pointing at the run's checkpoint artifacts."""
        client = self.client()
        name = REGISTERED_PREFIX + exercise
        try:
            client.get_registered_model(name)
        except Exception:
            client.create_registered_model(name, description=f"FormClip form classifier for {exercise}")
        source = f"{client.get_run(run_id).info.artifact_uri}/{artifact_path}"
        mv = client.create_model_version(name, source=source, run_id=run_id, tags={k: str(v) for k, v in tags.items()})
        return mv.version

    def champion(self, exercise: str):
        """The current champion ModelVersion of formclip-<exercise>, or None."""
        try:
            return self.client().get_model_version_by_alias(REGISTERED_PREFIX + exercise, CHAMPION)
        except Exception:
            return None

    def set_champion(self, exercise: str, version: str) -> None:
        self.client().set_registered_model_alias(REGISTERED_PREFIX + exercise, CHAMPION, version)


@dataclass(frozen=True)
class MetricsStore:
    """The DuckDB file of evaluation metrics and scored videos (<home>/data/formclip.duckdb)."""
    path: Path

    @classmethod
    def at_home(cls, root: str | os.PathLike) -> "MetricsStore":
        from formclip_pipeline.core.environment import duckdb_path

        return cls(duckdb_path(root))

    def append(self, table: str, df: pd.DataFrame, replace_key: str | None = None) -> int:
        return _duckdb_append(self.path, table, df, replace_key)

    def query(self, sql: str) -> pd.DataFrame:
        with _duckdb_connect(Path(self.path), read_only=True) as con:
            return con.execute(sql).df()


def _duckdb_append(path: str | os.PathLike, table: str, df: pd.DataFrame, replace_key: str | None = None) -> int:
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


def _duckdb_lock(path):
    """DuckDB allows one writing process per file: runs that finish together take turns."""
    return exclusive_lock(f"{path}.lock")

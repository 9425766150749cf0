"""Every setting FormClip takes from the environment, in one place, each read when asked for (so a
setting made after import still counts) and each with its one default.

| variable | what it sets | default |
| --- | --- | --- |
| FORMCLIP_HOME | the folder every path hangs off (data/, mlruns/) | the working directory |
| FORMCLIP_BASE_MODEL | the base CLIP to train on; recognition's where no model names its own | openai/clip-vit-base-patch32 |
| FORMCLIP_CACHE | where pretrained bases and embeddings are cached | ~/.cache/formclip |
| FORMCLIP_DEFINITIONS | the exercise catalogue | the packaged exercise_definitions.json |
| FORMCLIP_INCOMING | the watched folder | <home>/data/incoming |
| FORMCLIP_OVERLAY | 1: the watched folder also writes each video with its skeleton, reps and faults drawn on it | 0 (off) |
| FORMCLIP_RETRAIN_CRON | when the retraining schedule runs | Monday 03:00 |
| FORMCLIP_TRACKING_URI | an MLflow tracking server for runs and the registry | sqlite under <home>/mlruns |
| FORMCLIP_EXECUTOR | how Dagster runs steps: in_process, multiprocess, celery or k8s | multiprocess |
| FORMCLIP_CELERY_BROKER | the Celery broker (and result backend) for FORMCLIP_EXECUTOR=celery | redis://localhost:6379/0 |
| ANTHROPIC_API_KEY | Claude drafts (`annotate --ai`) | none |
"""
from __future__ import annotations

import os
from pathlib import Path

# The product's base model; the Makefile's targets set FORMCLIP_BASE_MODEL=formclip-tiny to work offline.
DEFAULT_BASE_MODEL = "openai/clip-vit-base-patch32"
DEFAULT_RETRAIN_CRON = "0 3 * * 1"
EXECUTORS = ("in_process", "multiprocess", "celery", "k8s")
DEFAULT_CELERY_BROKER = "redis://localhost:6379/0"


def home() -> Path:
    return Path(os.environ.get("FORMCLIP_HOME") or os.getcwd()).resolve()


def duckdb_path(root: str | os.PathLike | None = None) -> Path:
    return Path(root or home()) / "data" / "formclip.duckdb"


def base_model() -> str:
    return os.environ.get("FORMCLIP_BASE_MODEL") or DEFAULT_BASE_MODEL


def cache_dir() -> Path:
    return Path(os.environ.get("FORMCLIP_CACHE") or Path.home() / ".cache" / "formclip")


def definitions_path(packaged: Path) -> Path:
    return Path(os.environ.get("FORMCLIP_DEFINITIONS") or packaged)


def incoming_dir(root: Path) -> Path:
    return Path(os.environ.get("FORMCLIP_INCOMING") or root / "data" / "incoming")


def overlay() -> bool:
    """Whether the watched folder writes an overlay video beside each report (FORMCLIP_OVERLAY): off by
    default, as it decodes, draws and encodes every frame of the video and takes a video's worth of disk."""
    value = (os.environ.get("FORMCLIP_OVERLAY") or "0").strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(f"FORMCLIP_OVERLAY={value!r} is neither on nor off; set it to 1 or 0")
    return value in ("1", "true", "yes", "on")


def retrain_cron() -> str:
    return os.environ.get("FORMCLIP_RETRAIN_CRON") or DEFAULT_RETRAIN_CRON


def anthropic_api_key() -> str | None:
    return os.environ.get("ANTHROPIC_API_KEY") or None


def tracking_uri() -> str | None:
    """An MLflow tracking server shared by several machines (FORMCLIP_TRACKING_URI); None: the
    sqlite store under <home>/mlruns."""
    return os.environ.get("FORMCLIP_TRACKING_URI") or None


def executor() -> str:
    name = os.environ.get("FORMCLIP_EXECUTOR") or "multiprocess"
    if name not in EXECUTORS:
        raise ValueError(f"FORMCLIP_EXECUTOR={name!r} is not an executor FormClip knows; choose one of {', '.join(EXECUTORS)}")
    return name


def celery_broker() -> str:
    return os.environ.get("FORMCLIP_CELERY_BROKER") or DEFAULT_CELERY_BROKER

"""Where FormClip keeps its files: every path hangs off one home, FORMCLIP_HOME, else the working
directory. It is read when asked for, never at import, so a setting made later still counts."""
from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("FORMCLIP_HOME") or os.getcwd()).resolve()


def duckdb_path(root: str | os.PathLike | None = None) -> Path:
    return Path(root or home()) / "data" / "formclip.duckdb"

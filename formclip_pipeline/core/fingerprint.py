"""What a model was trained on, cheaply: to tell whether retraining would see anything new."""
from __future__ import annotations

import hashlib
from pathlib import Path


def data_fingerprint(video_dir: str | Path, labeled_dir: str | Path, exercise: str) -> str:
    """Hash of the exercise's video files (name, size, mtime) and of its review CSV's content.

    Size and mtime stand in for content so a weekly check does not read every video; any copy,
    edit or deletion changes them.
    """
    h = hashlib.sha256()
    root = Path(video_dir) / exercise
    for p in sorted(root.rglob("*")) if root.exists() else []:
        if p.is_file() and not p.name.startswith("."):
            st = p.stat()
            h.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    csv = Path(labeled_dir) / f"{exercise}_training_data.csv"
    if csv.exists():
        h.update(hashlib.sha256(csv.read_bytes()).digest())
    return h.hexdigest()[:20]

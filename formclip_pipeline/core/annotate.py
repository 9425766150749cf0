"""Frame descriptions: the text side of CLIP fine-tuning.

For now every frame gets one of its class's catalogue templates, picked by a stable hash so that a
class is described by several sentences rather than one string.
"""
from __future__ import annotations

import zlib
from datetime import datetime, timezone

import pandas as pd

from formclip_pipeline.catalog import get_exercise

ANNOTATION_COLUMNS = ["exercise", "form_class", "source_video", "video_sha256", "frame_index", "timestamp", "split",
                      "description", "confidence", "annotator_notes", "source", "updated_at"]


def template_for(exercise: str, form_class: str, key: str) -> str:
    templates = get_exercise(exercise).form_class(form_class).templates
    return templates[zlib.crc32(key.encode()) % len(templates)]


def template_annotations(frames: pd.DataFrame) -> pd.DataFrame:
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rows = []
    for rec in frames.itertuples(index=False):
        rows.append({
            "exercise": rec.exercise, "form_class": rec.form_class, "source_video": rec.source_video,
            "video_sha256": rec.video_sha256, "frame_index": rec.frame_index, "timestamp": rec.timestamp,
            "split": rec.split,
            "description": template_for(rec.exercise, rec.form_class, f"{rec.video_sha256}:{rec.frame_index}"),
            "confidence": None, "annotator_notes": "", "source": "template", "updated_at": now,
        })
    return pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)

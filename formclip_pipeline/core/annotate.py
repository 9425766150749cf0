"""Frame descriptions: the text side of CLIP fine-tuning, and the seed's review CSV round trip.

Each frame's annotation records where its text came from: `template` (the catalogue),
`ai_draft` (Claude, awaiting review) or `human`. The review copy is the seed's CSV,
`<exercise>_training_data.csv`, with frames as JPEG in `frames_<exercise>_<class>/`. Whatever a
person changes in that CSV flows back on the next run as a human annotation, and a human
annotation is never overwritten by a template or a draft.
"""
from __future__ import annotations

import math
import zlib
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from formclip_pipeline.catalog import get_exercise

ANNOTATION_COLUMNS = ["exercise", "form_class", "source_video", "video_sha256", "frame_index", "timestamp", "split",
                      "frame_path", "description", "confidence", "annotator_notes", "source", "updated_at"]
SEED_CSV_COLUMNS = ["frame_path", "exercise", "form_type", "source_video", "timestamp", "description", "confidence",
                    "annotator_notes"]
REVIEW_COLUMNS = SEED_CSV_COLUMNS + ["source", "updated_at"]
EDITABLE = ("description", "confidence", "annotator_notes")
SOURCES = ("human", "ai_draft", "template")


class AnnotationError(Exception):
    """A review CSV or labelled-frames folder that cannot be used, and why."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def template_for(exercise: str, form_class: str, key: str) -> str:
    templates = get_exercise(exercise).form_class(form_class).templates
    return templates[zlib.crc32(key.encode()) % len(templates)]


def frame_path(exercise: str, form_class: str, source_video: str, frame_index: int) -> str:
    """Where the review copy keeps a frame's JPEG, relative to the labelled-frames folder."""
    return f"frames_{exercise}_{form_class}/{Path(source_video).stem}_{int(frame_index):03d}.jpg"


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def _norm(v) -> str:
    if _blank(v):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def template_annotations(frames: pd.DataFrame) -> pd.DataFrame:
    return merge_annotations(frames, previous=None, review=None)


def merge_annotations(frames: pd.DataFrame, previous: pd.DataFrame | None, review: pd.DataFrame | None,
                      now: str | None = None) -> pd.DataFrame:
    """One annotation per frame: the person's word first, then what we had, then a template.

    `previous` is the annotation store as last written; `review` is the CSV as the person left it.
    A CSV value that differs from the store is a human edit. Setting `source` to `human` on an
    `ai_draft` row in the CSV accepts the draft.
    """
    now = now or now_iso()
    prev = {r["frame_path"]: r for r in previous.to_dict("records")} if previous is not None and len(previous) else {}
    csv = {r["frame_path"]: r for r in review.to_dict("records")} if review is not None and len(review) else {}
    rows = []
    for rec in frames.itertuples(index=False):
        path = frame_path(rec.exercise, rec.form_class, rec.source_video, rec.frame_index)
        base = {"exercise": rec.exercise, "form_class": rec.form_class, "source_video": rec.source_video,
                "video_sha256": rec.video_sha256, "frame_index": int(rec.frame_index), "timestamp": rec.timestamp,
                "split": rec.split, "frame_path": path}
        p, c = prev.get(path), csv.get(path)
        if p is not None:
            ann = {k: p.get(k) for k in (*EDITABLE, "source", "updated_at")}
            if c is not None:
                edited = any(_norm(c.get(k)) != _norm(p.get(k)) for k in EDITABLE)
                accepted = p.get("source") == "ai_draft" and _norm(c.get("source")) == "human"
                if edited or accepted:
                    ann = {**{k: None if _blank(c.get(k)) else c.get(k) for k in EDITABLE},
                           "source": "human", "updated_at": now}
        elif c is not None and not _blank(c.get("description")):
            source = _norm(c.get("source")) or "human"
            ann = {**{k: None if _blank(c.get(k)) else c.get(k) for k in EDITABLE},
                   "source": source if source in SOURCES else "human", "updated_at": _norm(c.get("updated_at")) or now}
        else:
            ann = {"description": template_for(rec.exercise, rec.form_class, f"{rec.video_sha256}:{rec.frame_index}"),
                   "confidence": None, "annotator_notes": None, "source": "template", "updated_at": now}
        rows.append({**base, **ann})
    out = pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)
    out["confidence"] = pd.to_numeric(out["confidence"], errors="coerce")
    for col in ("annotator_notes", "description"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def apply_drafts(annotations: pd.DataFrame, drafts: dict[str, str], now: str | None = None) -> pd.DataFrame:
    """Put AI drafts on rows that still carry a template; never on a human row."""
    now = now or now_iso()
    out = annotations.copy()
    mask = out["frame_path"].isin(list(drafts)) & (out["source"] != "human")
    out.loc[mask, "description"] = out.loc[mask, "frame_path"].map(drafts)
    out.loc[mask, "source"] = "ai_draft"
    out.loc[mask, "updated_at"] = now
    return out


def review_csv_path(labeled_dir: str | Path, exercise: str) -> Path:
    return Path(labeled_dir) / f"{exercise}_training_data.csv"


def store_path(labeled_dir: str | Path, exercise: str) -> Path:
    """The annotation store the CSV is compared against (not meant for hand edits)."""
    return Path(labeled_dir) / ".formclip" / f"{exercise}_annotations.parquet"


def read_review_csv(path: str | Path) -> pd.DataFrame | None:
    path = Path(path)
    if not path.exists():
        return None
    try:
        df = pd.read_csv(path, dtype={"description": str, "annotator_notes": str, "source": str}, keep_default_na=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path.name}: cannot be read as CSV ({exc})") from exc
    missing = [c for c in ("frame_path", "description") if c not in df.columns]
    if missing:
        raise AnnotationError(f"{path.name}: missing column(s) {', '.join(missing)}; expected the seed's columns "
                              f"{', '.join(SEED_CSV_COLUMNS)}")
    for col in ("confidence", "annotator_notes", "source", "updated_at"):
        if col not in df.columns:
            df[col] = None
    return df


def safe_frame_file(labeled_dir: str | Path, rel: str) -> Path:
    """Resolve a CSV frame path, refusing any that points outside the labelled-frames folder."""
    root = Path(labeled_dir).resolve()
    p = (root / str(rel)).resolve()
    if not p.is_relative_to(root):
        raise AnnotationError(f"frame path {rel!r} points outside {root}; refusing to read it")
    return p


def load_store(labeled_dir: str | Path, exercise: str) -> pd.DataFrame | None:
    p = store_path(labeled_dir, exercise)
    return pd.read_parquet(p) if p.exists() else None


def write_review_copy(frames: pd.DataFrame, annotations: pd.DataFrame, labeled_dir: str | Path, exercise: str) -> Path:
    """Write JPEGs (new ones only), the seed's CSV and the store, each atomically."""
    from formclip_pipeline.core.files import atomic_path

    root = Path(labeled_dir)
    images = dict(zip(annotations["frame_path"], frames["image"])) if len(frames) == len(annotations) else {}
    for rel, data in images.items():
        target = safe_frame_file(root, rel)
        if not target.exists():
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
    csv = annotations.rename(columns={"form_class": "form_type"})[REVIEW_COLUMNS]
    path = review_csv_path(root, exercise)
    with atomic_path(path) as tmp:
        csv.to_csv(tmp, index=False)
    with atomic_path(store_path(root, exercise)) as tmp:
        annotations.to_parquet(tmp, index=False)
    return path


def refresh_annotations(frames: pd.DataFrame, labeled_dir: str | Path, exercise: str) -> pd.DataFrame:
    """Merge the CSV's edits into the store, write both back, return the annotations."""
    ann = merge_annotations(frames, load_store(labeled_dir, exercise), read_review_csv(review_csv_path(labeled_dir, exercise)))
    write_review_copy(frames, ann, labeled_dir, exercise)
    return ann


def import_labeled_dir(labeled_dir: str | Path, exercise: str, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Frames and annotations from a seed-style folder (CSV plus JPEG folders, no videos).

    Without the videos there is no content hash, so a video is identified by exercise and file name,
    and splits are drawn by that identity, still grouped by video and stratified by class.
    """
    import hashlib

    from formclip_pipeline.core.frames import FRAME_COLUMNS, assign_splits

    csv = read_review_csv(review_csv_path(labeled_dir, exercise))
    if csv is None:
        raise AnnotationError(f"no {exercise}_training_data.csv in {labeled_dir}")
    problems, rows = [], []
    ex = get_exercise(exercise)
    for rec in csv.to_dict("records"):
        cls = rec.get("form_type") or rec.get("form_class")
        if cls not in ex.class_names:
            problems.append(f"{rec['frame_path']}: form type {cls!r} is not a class of {exercise}")
            continue
        try:
            path = safe_frame_file(labeled_dir, rec["frame_path"])
            data = path.read_bytes()
        except (AnnotationError, OSError) as exc:
            problems.append(f"{rec['frame_path']}: {exc}")
            continue
        video = str(rec.get("source_video") or Path(rec["frame_path"]).stem.rsplit("_", 1)[0])
        rows.append({"exercise": exercise, "form_class": cls, "source_video": video,
                     "video_sha256": hashlib.sha256(f"{exercise}/{video}".encode()).hexdigest(),
                     "frame_index": int(Path(rec["frame_path"]).stem.rsplit("_", 1)[-1]) if
                     Path(rec["frame_path"]).stem.rsplit("_", 1)[-1].isdigit() else len(rows),
                     "timestamp": float(rec.get("timestamp") or 0.0), "view": None, "split": None, "image": data,
                     "_csv_path": rec["frame_path"]})
    frames = pd.DataFrame(rows, columns=FRAME_COLUMNS + ["_csv_path"])
    if len(frames):
        vids = frames.drop_duplicates("video_sha256").rename(columns={"video_sha256": "sha256"})
        splits = assign_splits(vids, seed)
        frames["split"] = frames["video_sha256"].map(splits)
    # Imported rows keep the CSV's own frame paths, so edits map back to the same rows.
    review = csv.copy()
    remap = dict(zip(frames["_csv_path"], [frame_path(r.exercise, r.form_class, r.source_video, r.frame_index)
                                           for r in frames.itertuples()]))
    review["frame_path"] = review["frame_path"].map(remap)
    ann = merge_annotations(frames.drop(columns="_csv_path"), None, review.dropna(subset=["frame_path"]))
    return frames.drop(columns="_csv_path"), ann, problems

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
from typing import Callable

import numpy as np
import pandas as pd

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core.files import read_small_file

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
    """Where the review copy keeps a frame's JPEG, relative to the labelled-frames folder.

    The video's whole file name, extension included, is in it: a.mp4 and a.mov in one class folder
    are two videos, and a name without the extension would give both the same JPEG."""
    return f"frames_{exercise}_{form_class}/{Path(str(source_video)).name}_{int(frame_index):03d}.jpg"


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def _norm(v) -> str:
    if _blank(v):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).strip()


def _moment(video: str, timestamp) -> tuple[str, float] | None:
    """What a label is attached to: a video and a time in it (milliseconds). Frame paths are
    numbered per extraction, so after another extraction with other settings the same path can
    name another moment; a label follows the moment, never the number."""
    try:
        t = float(timestamp)
    except (TypeError, ValueError):
        return None
    return (str(video), round(t, 3)) if not math.isnan(t) else None


def orphaned_labels(frames: pd.DataFrame, previous: pd.DataFrame | None) -> pd.DataFrame:
    """The person's labels (human rows of the store) whose frame is no longer among `frames`."""
    if previous is None or not len(previous):
        return pd.DataFrame(columns=ANNOTATION_COLUMNS)
    human = previous[previous["source"] == "human"]
    kept = {_moment(v, t) for v, t in zip(frames["video_sha256"], frames["timestamp"])}
    return human[[_moment(v, t) not in kept for v, t in zip(human["video_sha256"], human["timestamp"])]]


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
    prev, csv_at, csv_by_path = {}, {}, {}
    for r in previous.to_dict("records") if previous is not None else []:
        prev[_moment(r["video_sha256"], r["timestamp"])] = r
    for r in review.to_dict("records") if review is not None else []:
        at = _moment(f"{r.get('form_type') or r.get('form_class')}/{Path(str(r.get('source_video'))).name}",
                     r.get("timestamp"))
        if at is not None:
            csv_at[at] = r
        else:  # a seed CSV without times: its frame paths are all there is
            csv_by_path[r["frame_path"]] = r
    rows = []
    for rec in frames.itertuples(index=False):
        path = frame_path(rec.exercise, rec.form_class, rec.source_video, rec.frame_index)
        base = {"exercise": rec.exercise, "form_class": rec.form_class, "source_video": rec.source_video,
                "video_sha256": rec.video_sha256, "frame_index": int(rec.frame_index), "timestamp": rec.timestamp,
                "split": rec.split, "frame_path": path}
        p = prev.get(_moment(rec.video_sha256, rec.timestamp))
        c = csv_at.get(_moment(f"{rec.form_class}/{Path(str(rec.source_video)).name}", rec.timestamp),
                       csv_by_path.get(path))
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


# OWASP's CSV-injection advice: a cell a spreadsheet would run as a formula starts with one of these.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """A text cell as written to a CSV meant for spreadsheets: one that starts like a formula (or like
    an already escaped one) gets a leading apostrophe, which spreadsheets show as text and
    `from_spreadsheet` takes off, so what was typed comes back as it was. Numbers pass unchanged."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(FORMULA_STARTS) or (value.startswith("'") and value[1:].startswith(FORMULA_STARTS + ("'",))):
        return "'" + value
    return value


def from_spreadsheet(value):
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS + ("'",)):
        return value[1:]
    return value


def write_spreadsheet_csv(table: pd.DataFrame, path: str | Path) -> None:
    """A CSV meant to be opened in a spreadsheet, every text cell made inert, written atomically."""
    from formclip_pipeline.core.files import atomic_path

    with atomic_path(path) as tmp:
        table.apply(lambda col: col.map(spreadsheet_safe) if col.dtype == object else col).to_csv(tmp, index=False)


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
        # utf-8-sig: spreadsheets saving "CSV UTF-8" put a byte-order mark before the first column name.
        df = pd.read_csv(path, dtype={"description": str, "annotator_notes": str, "source": str}, keep_default_na=True,
                         encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path.name}: is not UTF-8 text (byte {exc.start} is not); save it from the "
                              f"spreadsheet as \"CSV UTF-8\"") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise AnnotationError(f"{path.name}: cannot be read as CSV ({str(exc).strip()})") from None
    missing = [c for c in ("frame_path", "description") if c not in df.columns]
    if missing:
        raise AnnotationError(f"{path.name}: missing column(s) {', '.join(missing)}; expected the seed's columns "
                              f"{', '.join(SEED_CSV_COLUMNS)}")
    for col in ("confidence", "annotator_notes", "source", "updated_at"):
        if col not in df.columns:
            df[col] = None
    for col in df.columns[df.dtypes == object]:
        df[col] = df[col].map(from_spreadsheet)
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
        # A frame path is numbered per extraction: after another extraction it may hold another image.
        if not target.exists() or target.read_bytes() != data:
            with atomic_path(target) as tmp:
                tmp.write_bytes(data)
    csv = annotations.rename(columns={"form_class": "form_type"})[REVIEW_COLUMNS]
    path = review_csv_path(root, exercise)
    write_spreadsheet_csv(csv, path)
    with atomic_path(store_path(root, exercise)) as tmp:
        annotations.to_parquet(tmp, index=False)
    return path


def orphans_path(labeled_dir: str | Path, exercise: str) -> Path:
    return Path(labeled_dir) / f"{exercise}_orphaned_labels.csv"


def refresh_annotations(frames: pd.DataFrame, labeled_dir: str | Path, exercise: str,
                        warn: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Merge the CSV's edits into the store, write both back, return the annotations.

    A person's label whose frame is gone (the videos were extracted again with other settings) is
    never moved to another frame: it is kept in <exercise>_orphaned_labels.csv and `warn` is told."""
    store = load_store(labeled_dir, exercise)
    path = orphans_path(labeled_dir, exercise)
    kept = read_review_csv(path) if path.exists() else None
    if kept is not None and len(kept):
        # Labels set aside by an earlier extraction come back when their moment does.
        kept = kept.rename(columns={"form_type": "form_class"})
        moments = {_moment(v, t) for v, t in zip(frames["video_sha256"], frames["timestamp"])}
        back = kept[[_moment(v, t) in moments for v, t in zip(kept["video_sha256"], kept["timestamp"])]]
        store = pd.concat([t for t in (back[ANNOTATION_COLUMNS], store) if t is not None and len(t)], ignore_index=True)
        kept = kept.drop(back.index)
    ann = merge_annotations(frames, store, read_review_csv(review_csv_path(labeled_dir, exercise)))
    orphans = orphaned_labels(frames, store)
    table = pd.concat([t for t in (kept, orphans) if t is not None and len(t)], ignore_index=True) \
        if len(orphans) or (kept is not None and len(kept)) else None
    if table is not None:
        table = table[ANNOTATION_COLUMNS].drop_duplicates(subset=["video_sha256", "timestamp"], keep="last")
        write_spreadsheet_csv(table, path)
    elif path.exists():
        path.unlink()
    if len(orphans) and warn:
        warn(f"{len(orphans)} of your labels for {exercise} belong to frames this extraction no longer has; "
             f"they are kept in {path.name} and come back if those frames do; they are never moved to other frames")
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
            data = read_small_file(safe_frame_file(labeled_dir, rec["frame_path"]))
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

"""Frame descriptions: the text side of CLIP fine-tuning, and the seed's review CSV round trip.

Each frame's annotation records where its text came from: `template` (the catalogue),
`ai_draft` (Claude, awaiting review) or `human`. The review copy is the seed's CSV,
`<exercise>_training_data.csv`, with frames as JPEG in `frames_<exercise>_<class>/`. Whatever a
person changes in that CSV flows back on the next run as a human annotation, and a human
annotation is never overwritten by a template or a draft.

A CSV row is matched to its frame by its frame path (the time only as a fallback, to the precision
the cell shows), and compared with what FormClip last wrote there. Changing `form_type` relabels
that frame (`relabelled_class`; the video keeps its folder's class in `form_class`). An edit that
cannot be applied, and a label whose frame another extraction no longer has, is kept in
`<exercise>_orphaned_labels.csv` with its reason and named in one line: nothing typed is dropped.
"""
from __future__ import annotations

import math
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core.files import read_small_file

ANNOTATION_COLUMNS = ["exercise", "form_class", "relabelled_class", "source_video", "video_sha256", "frame_index",
                      "timestamp", "split", "frame_path", "description", "confidence", "annotator_notes", "source",
                      "updated_at"]
SEED_CSV_COLUMNS = ["frame_path", "exercise", "form_type", "source_video", "timestamp", "description", "confidence",
                    "annotator_notes"]
REVIEW_COLUMNS = SEED_CSV_COLUMNS + ["source", "updated_at"]
# The orphans file: each row says why it is there, and whether it goes back on its frame by itself
# (a label whose frame is gone) or waits for the person (an edit that was refused).
ORPHAN_COLUMNS = ["reason"] + ANNOTATION_COLUMNS + ["returns_with_frame"]
EDITABLE = ("description", "confidence", "annotator_notes")
SOURCES = ("human", "ai_draft", "template")
MAX_NAMED_ROWS = 20  # refused rows named one line each; past this many, one line counts the rest


class AnnotationError(Exception):
    """A review CSV or labelled-frames folder that cannot be used, and why."""


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def template_for(exercise: str, form_class: str, key: str) -> str:
    templates = get_exercise(exercise).form_class(form_class).templates
    return templates[zlib.crc32(key.encode()) % len(templates)]


def frame_path(exercise: str, form_class: str, source_video: str, frame_index: int) -> str:
    """Where the review copy keeps a frame's JPEG, relative to the labelled-frames folder.

    The video's whole file name, extension included, is in it, and its group's folder where it has
    one ("anna/set1.mp4"): a.mp4 and a.mov in one class folder are two videos, and so are two
    lifters' set1.mp4; a name without either would give both the same JPEG."""
    name = "__".join(Path(str(source_video)).parts[-2:])
    return f"frames_{exercise}_{form_class}/{name}_{int(frame_index):03d}.jpg"


def _blank(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and v.strip() == "")


def _text(v) -> str:
    """A cell as a person reads it: blank is "", and neither surrounding spaces nor the line ends a
    spreadsheet chose make a difference."""
    if _blank(v):
        return ""
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v).replace("\r\n", "\n").replace("\r", "\n").strip()


def _number(cell) -> tuple[float, float] | None:
    """A number cell as (value, how far the value meant may lie from it: half its last shown digit),
    or None when it is not a finite number. A decimal comma and a percentage are read as spreadsheets
    write them."""
    if isinstance(cell, (int, float, np.integer, np.floating)) and not isinstance(cell, bool):
        v = float(cell)
        return (v, 0.0) if math.isfinite(v) else None
    s, scale = _text(cell).replace(" ", ""), 1.0
    if s.endswith("%"):
        s, scale = s[:-1], 0.01
    if s.count(",") == 1 and "." not in s:
        s = s.replace(",", ".")
    try:
        v = float(s)
    except ValueError:
        return None
    if not math.isfinite(v) or "_" in s:
        return None
    mantissa, _, exponent = s.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return v * scale, 0.5 * 10.0 ** (int(exponent or 0) - decimals) * scale


def _stored_number(v) -> float | None:
    n = None if _blank(v) else _number(v)
    return n[0] if n else None


def _moment(video: str, timestamp) -> tuple[str, float] | None:
    """What a label is attached to across extractions: a video and a time in it (milliseconds).
    Frame paths are numbered per extraction, so after another extraction with other settings the
    same path can name another moment; a label follows the moment, never the number."""
    try:
        t = float(timestamp)
    except (TypeError, ValueError):
        return None
    return (str(video), round(t, 3)) if not math.isnan(t) else None


def _template_row(rec) -> dict:
    return {"description": template_for(rec.exercise, rec.form_class, f"{rec.video_sha256}:{rec.frame_index}"),
            "confidence": None, "annotator_notes": None, "relabelled_class": None, "source": "template"}


def _frame_row(rec) -> dict:
    return {"exercise": rec.exercise, "form_class": rec.form_class, "source_video": rec.source_video,
            "video_sha256": rec.video_sha256, "frame_index": int(rec.frame_index), "timestamp": rec.timestamp,
            "split": rec.split, "frame_path": frame_path(rec.exercise, rec.form_class, rec.source_video,
                                                         rec.frame_index)}


def _stored_row(r: dict) -> dict:
    """A row of the store or of the orphans file, with its cells as the store keeps them."""
    out = {k: r.get(k) for k in ANNOTATION_COLUMNS}
    for k in ("description", "annotator_notes"):
        out[k] = None if _blank(r.get(k)) else str(r.get(k))
    for k in ("relabelled_class", "source", "updated_at"):
        out[k] = _text(r.get(k)) or None
    out["confidence"] = _stored_number(r.get("confidence"))
    return out


@dataclass
class ReviewMerge:
    """What a refresh makes of the store, the review CSV and the orphans file."""
    annotations: pd.DataFrame  # one per frame
    set_aside: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ORPHAN_COLUMNS))  # new orphans
    still_waiting: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=ORPHAN_COLUMNS))
    refused: list[str] = field(default_factory=list)  # one line per CSV row whose edits were set aside
    notes: list[str] = field(default_factory=list)  # deleted or repeated rows, labels whose frame is gone

    def messages(self, kept_in: str) -> list[str]:
        """The lines for the person: every refused row by number and reason, up to MAX_NAMED_ROWS."""
        lines = [f"{r}; its edits are kept in {kept_in}" for r in self.refused[:MAX_NAMED_ROWS]]
        if len(self.refused) > MAX_NAMED_ROWS:
            lines.append(f"{len(self.refused) - MAX_NAMED_ROWS} more rows could not be applied either; "
                         f"each is in {kept_in} with its reason")
        return lines + self.notes


def _match(row: dict, baseline: list[dict], by_path: dict, by_video: dict) -> tuple[int | None, str]:
    """The frame a CSV row is about, by its frame path; by its video and time (to the precision the
    cell shows, since a spreadsheet may save it rounded) only when the path names no single frame."""
    path = _text(row.get("frame_path"))
    video = Path(_text(row.get("source_video"))).name
    found = by_path.get(path, [])
    if len(found) > 1:  # frame files named before the video's extension was part of the name
        found = [j for j in found if Path(str(baseline[j]["source_video"])).name == video] or found
    if len(found) == 1:
        return found[0], ""
    time = _number(row.get("timestamp"))
    if time is None:
        said = _text(row.get("timestamp"))
        return None, (f"matches no frame: {path!r} is not a frame file of this data, and "
                      + (f"its timestamp {said!r} is not a number" if said else "it has no timestamp"))
    pool = [j for j in (found or by_video.get(video, [])) if _stored_number(baseline[j]["timestamp"]) is not None]
    near = [j for j in pool if abs(_stored_number(baseline[j]["timestamp"]) - time[0]) <= time[1] + 1e-6]
    if len(near) > 1:
        typed = _text(row.get("form_type", row.get("form_class")))
        near = [j for j in near if typed in (baseline[j]["form_class"], baseline[j].get("relabelled_class"))] or near
    if len(near) == 1:
        return near[0], ""
    at = _text(row.get("timestamp"))
    if near:
        return None, (f"matches {len(near)} frames of {video} at {at} s; give it back the frame_path FormClip wrote, "
                      f"or the time to more decimals")
    return None, (f"matches no frame: {path!r} is not a frame file of this data, and {video or 'its video'} has no "
                  f"frame at {at} s")


def _read_edit(row: dict, b: dict, classes: list[str], exercise: str, adopt: bool, now: str) -> tuple[str, dict | str]:
    """What one CSV row does to its frame's annotation `b`: ("same", {}), ("edit", new cells) or
    ("refused", reason). With `adopt` there is no earlier annotation to compare with (a seed CSV,
    or a store that was deleted): whatever the row holds is taken."""
    shown = b.get("relabelled_class") or b["form_class"]
    relabel = b.get("relabelled_class")
    if "form_type" in row or "form_class" in row:
        typed = _text(row.get("form_type", row.get("form_class")))
        if typed != shown:
            if not typed:
                return "refused", f"form_type is empty; type one of {', '.join(classes)}"
            if typed not in classes:
                return "refused", f"form_type {typed!r} is not a class of {exercise} (known: {', '.join(classes)})"
        relabel = typed if typed != b["form_class"] else None
    confidence = None
    if not _blank(row.get("confidence")):
        n = _number(row.get("confidence"))
        if n is None:
            return "refused", (f"confidence {_text(row.get('confidence'))!r} is not a number; type one such as 0.8, "
                               f"or leave it empty")
        confidence = n[0]
    description, notes = _text(row.get("description")), _text(row.get("annotator_notes"))
    if adopt:
        if not (description or notes or confidence is not None or relabel):
            return "same", {}
        source = _text(row.get("source"))
        return "edit", {"description": description or b["description"], "confidence": confidence,
                        "annotator_notes": notes or None, "relabelled_class": relabel,
                        "source": source if description and source in SOURCES else "human",
                        "updated_at": _text(row.get("updated_at")) or now}
    before = _stored_number(b.get("confidence"))
    changed = (description != _text(b.get("description")) or notes != _text(b.get("annotator_notes"))
               or relabel != (b.get("relabelled_class") or None)
               or (confidence is None) != (before is None)
               or (confidence is not None and abs(confidence - before) > 1e-9))
    accepted = b.get("source") == "ai_draft" and _text(row.get("source")) == "human"
    if not (changed or accepted):
        return "same", {}
    return "edit", {"description": description or None, "confidence": confidence, "annotator_notes": notes or None,
                    "relabelled_class": relabel, "source": "human", "updated_at": now}


def _set_aside_row(row: dict, b: dict | None, reason: str, now: str) -> dict:
    """A refused CSV row for the orphans file: its frame where it has one, and what was typed, as typed."""
    typed_class = _text(row.get("form_type", row.get("form_class")))
    if b is not None:
        where = {k: b.get(k) for k in ("exercise", "form_class", "source_video", "video_sha256", "frame_index",
                                        "timestamp", "split", "frame_path")}
        relabel = typed_class if typed_class and typed_class != b["form_class"] else b.get("relabelled_class")
    else:
        where = {"exercise": _text(row.get("exercise")) or None, "form_class": typed_class or None,
                 "source_video": _text(row.get("source_video")) or None, "video_sha256": None, "frame_index": None,
                 "timestamp": _text(row.get("timestamp")) or None, "split": None,
                 "frame_path": _text(row.get("frame_path")) or None}
        relabel = None
    return {"reason": reason, **where, "relabelled_class": relabel,
            **{k: _text(row.get(k)) or None for k in EDITABLE}, "source": "human", "updated_at": now,
            "returns_with_frame": False}


def _reconcile(baseline: list[dict], review: pd.DataFrame, exercise: str, adopt: bool, now: str,
               csv_name: str) -> tuple[list[dict], list[dict], list[str], list[str]]:
    """The annotations `baseline` (what FormClip last wrote) with the review CSV's edits applied;
    returns (annotations, refused rows for the orphans file, one line per refused row, notes)."""
    classes = get_exercise(exercise).class_names
    by_path, by_video = defaultdict(list), defaultdict(list)
    for j, b in enumerate(baseline):
        by_path[b["frame_path"]].append(j)
        by_video[Path(str(b["source_video"])).name].append(j)
    out = [dict(b) for b in baseline]
    aside, refused, notes = [], [], []

    def refuse(line: int, row: dict, reason: str, b: dict | None = None) -> None:
        refused.append(f"{csv_name} row {line} ({_text(row.get('frame_path')) or 'no frame_path'}): {reason}")
        aside.append(_set_aside_row(row, b, reason, now))

    rows_of: dict[int, list[tuple[int, dict]]] = defaultdict(list)
    for i, row in zip(review.index, review.to_dict("records")):
        line = int(i) + 2  # as a spreadsheet numbers it, the header being row 1
        if all(_blank(v) for v in row.values()):
            continue
        j, reason = _match(row, baseline, by_path, by_video)
        if j is None:
            refuse(line, row, reason)
        else:
            rows_of[j].append((line, row))
    for j, rows in rows_of.items():
        b, applied, kept_lines = baseline[j], None, []
        for line, row in rows:
            kind, got = _read_edit(row, b, classes, exercise, adopt, now)
            if kind == "refused":
                refuse(line, row, got, b)
                continue
            content = {k: v for k, v in got.items() if k != "updated_at"}
            if kind == "edit" and applied is None:
                out[j], applied = {**b, **got}, (line, content)
            elif kind == "edit" and content != applied[1]:
                refuse(line, row, f"row {applied[0]} is about the same frame and came first", b)
                continue
            kept_lines.append(line)
        first = applied[0] if applied else (kept_lines[0] if kept_lines else None)
        for line in kept_lines:
            if line != first:
                notes.append(f"{csv_name} row {line} repeats the frame of row {first} and adds nothing to it; "
                             f"the review CSV keeps one row per frame")
    if not adopt:
        deleted = [b["frame_path"] for j, b in enumerate(baseline) if j not in rows_of]
        if deleted:
            rows = "1 row was" if len(deleted) == 1 else f"{len(deleted)} rows were"
            notes.append(f"{rows} deleted from {csv_name} ({', '.join(deleted[:3])}"
                         f"{', ...' if len(deleted) > 3 else ''}); deleting a row does not take its frame out of "
                         f"the data: the frame keeps its annotation and its row is back in the CSV")
    return out, aside, refused, notes


def _returns(cell) -> bool:
    return _text(cell).lower() not in ("false", "0", "no")


def merge_review(frames: pd.DataFrame, previous: pd.DataFrame | None, review: pd.DataFrame | None,
                 exercise: str | None = None, waiting: pd.DataFrame | None = None, now: str | None = None,
                 csv_name: str = "the review CSV") -> ReviewMerge:
    """One annotation per frame: the person's word first, then what we had, then a template.

    `previous` is the annotation store as last written; `review` is the CSV as the person left it,
    written from that store, so its rows are first matched to the store's frames and compared with
    them: a cell that differs is a human edit (setting `source` to `human` on an `ai_draft` row
    accepts the draft). Only then do the annotations go onto `frames`, by moment, which may come from
    another extraction. `waiting` is the orphans file: its labels whose frame is back go on it.
    """
    now = now or now_iso()
    exercise = exercise or (str(frames["exercise"].iloc[0]) if len(frames) else None)
    adopt = previous is None
    if adopt:  # nothing to compare with: the frames themselves, each with its template
        baseline = [{**_frame_row(rec), **_template_row(rec), "updated_at": now}
                    for rec in frames.itertuples(index=False)]
    else:
        baseline = [_stored_row(r) for r in previous.to_dict("records")]
    aside, refused, notes = [], [], []
    if review is not None and exercise is not None:
        baseline, aside, refused, notes = _reconcile(baseline, review, exercise, adopt, now, csv_name)

    # Labels go onto frames by moment (the video's content and a time in it), preferring the row of
    # the same file name where two files have the same content, and a person's label to any other.
    waiting = waiting if waiting is not None else pd.DataFrame(columns=ORPHAN_COLUMNS)
    returning = [(i, _stored_row(r)) for i, r in zip(waiting.index, waiting.to_dict("records"))
                 if _returns(r.get("returns_with_frame"))
                 and (_blank(r.get("confidence")) or _number(r.get("confidence")) is not None)]
    named, by_moment = {}, {}
    for r in ([b for b in baseline if b.get("source") != "human"] + [r for _, r in returning]
              + [b for b in baseline if b.get("source") == "human"]):  # later rows win
        m = _moment(r["video_sha256"], r["timestamp"])
        if m is not None:
            named[(m, Path(str(r["source_video"])).name)] = r
            by_moment[m] = r
    rows, used = [], set()
    for rec in frames.itertuples(index=False):
        m = _moment(rec.video_sha256, rec.timestamp)
        found = [r for r in (named.get((m, Path(str(rec.source_video)).name)), by_moment.get(m)) if r is not None]
        p = next((r for r in found if r.get("source") == "human"), found[0] if found else None)
        if p is None:
            ann = {**_template_row(rec), "updated_at": now}
        else:
            used.add(id(p))
            relabel = p.get("relabelled_class") or None
            ann = {**{k: p.get(k) for k in (*EDITABLE, "source", "updated_at")},
                   "relabelled_class": relabel if relabel != rec.form_class else None}
        rows.append({**_frame_row(rec), **ann})
    out = pd.DataFrame(rows, columns=ANNOTATION_COLUMNS)
    out["confidence"] = pd.to_numeric(out["confidence"], errors="coerce")
    for col in ("annotator_notes", "description", "relabelled_class"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)

    back = [i for i, r in returning if id(r) in used]
    gone = [b for b in baseline if b.get("source") == "human" and id(b) not in used]
    for r in gone:
        t = _stored_number(r.get("timestamp"))
        at = f"{r['source_video']} at {t:.3f} s" if t is not None else f"{r['source_video']}, no time"
        aside.append({"reason": f"its frame ({at}) is not in this extraction; it goes back on that frame when an "
                                f"extraction has it again", **r, "returns_with_frame": True})
    if gone:
        notes.append(f"{len(gone)} of your labels for {exercise} belong to frames this extraction no longer has; "
                     f"they are kept in {exercise}_orphaned_labels.csv and come back if those frames do; they are "
                     f"never moved to other frames")
    return ReviewMerge(out, pd.DataFrame(aside, columns=ORPHAN_COLUMNS), waiting.drop(index=back), refused, notes)


def template_annotations(frames: pd.DataFrame) -> pd.DataFrame:
    return merge_review(frames, previous=None, review=None).annotations


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


# What a spreadsheet may separate a CSV's cells with: a comma, or where the comma is the decimal
# mark (much of Europe) a semicolon; a tab when it saves "text".
DELIMITERS = (",", ";", "\t")


def csv_delimiter(path: str | Path) -> str:
    """The delimiter of an existing review CSV: the one that splits its header into the seed's
    frame_path and description columns; a comma for a file that is not there or where none does."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            header = fh.readline()
    except OSError:
        return ","
    for d in DELIMITERS:
        if {"frame_path", "description"} <= {c.strip().strip('"') for c in header.split(d)}:
            return d
    return ","


def write_spreadsheet_csv(table: pd.DataFrame, path: str | Path) -> None:
    """A CSV meant to be opened in a spreadsheet, every text cell made inert, written atomically,
    with the delimiter the file had: a spreadsheet that saved it with semicolons opens it again.
    Rows end in CR LF, as spreadsheets write them, so that a cell holding a lone CR is quoted too (the
    csv module quotes a cell holding any character of the line ending): unquoted, it split its row
    in two when read back, and the row's edits were lost."""
    from formclip_pipeline.core.files import atomic_path

    sep = csv_delimiter(path)
    with atomic_path(path) as tmp:
        table.apply(lambda col: col.map(spreadsheet_safe) if col.dtype == object else col).to_csv(
            tmp, index=False, sep=sep, lineterminator="\r\n")


def review_csv_path(labeled_dir: str | Path, exercise: str) -> Path:
    return Path(labeled_dir) / f"{exercise}_training_data.csv"


def store_path(labeled_dir: str | Path, exercise: str) -> Path:
    """The annotation store the CSV is compared against (not meant for hand edits)."""
    return Path(labeled_dir) / ".formclip" / f"{exercise}_annotations.parquet"


def read_review_csv(path: str | Path) -> pd.DataFrame | None:
    """The CSV as typed, every cell a string ("" when empty): a note "NA" stays "NA", and numbers are
    read by the merge, which can then name a cell that is not one."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        # utf-8-sig: spreadsheets saving "CSV UTF-8" put a byte-order mark before the first column name.
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", sep=csv_delimiter(path))
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path.name}: is not UTF-8 text (byte {exc.start} is not); save it from the "
                              f"spreadsheet as \"CSV UTF-8\"") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise AnnotationError(f"{path.name}: cannot be read as CSV ({str(exc).strip()})") from None
    missing = [c for c in ("frame_path", "description") if c not in df.columns]
    if missing:
        raise AnnotationError(f"{path.name}: missing column(s) {', '.join(missing)}; expected the seed's columns "
                              f"{', '.join(SEED_CSV_COLUMNS)}, separated by commas (or semicolons)")
    for col in ("confidence", "annotator_notes", "source", "updated_at"):
        if col not in df.columns:
            df[col] = ""
    return df.map(from_spreadsheet)


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
    # The CSV shows the class each frame is labelled with: the reviewer's where they changed it.
    csv = annotations.assign(form_type=annotations["relabelled_class"].where(annotations["relabelled_class"].notna(),
                                                                             annotations["form_class"]))[REVIEW_COLUMNS]
    path = review_csv_path(root, exercise)
    write_spreadsheet_csv(csv, path)
    with atomic_path(store_path(root, exercise)) as tmp:
        annotations.to_parquet(tmp, index=False)
    return path


def orphans_path(labeled_dir: str | Path, exercise: str) -> Path:
    return Path(labeled_dir) / f"{exercise}_orphaned_labels.csv"


def read_orphans(labeled_dir: str | Path, exercise: str) -> pd.DataFrame:
    """The orphans file as the person may have left it (rows they deleted are gone for good)."""
    table = read_review_csv(orphans_path(labeled_dir, exercise))
    if table is None:
        return pd.DataFrame(columns=ORPHAN_COLUMNS)
    for col in ORPHAN_COLUMNS:
        if col not in table.columns:
            # A file from before refused edits were kept here held only labels whose frame was gone.
            table[col] = "True" if col == "returns_with_frame" else ""
    return table[ORPHAN_COLUMNS]


def review_merge(frames: pd.DataFrame, labeled_dir: str | Path, exercise: str) -> ReviewMerge:
    """What a refresh would make of the store, the review CSV and the orphans file; writes nothing."""
    csv = review_csv_path(labeled_dir, exercise)
    return merge_review(frames, load_store(labeled_dir, exercise), read_review_csv(csv), exercise,
                        waiting=read_orphans(labeled_dir, exercise), csv_name=csv.name)


def _stderr(line: str) -> None:
    import sys

    print(line, file=sys.stderr)


def refresh_annotations(frames: pd.DataFrame, labeled_dir: str | Path, exercise: str,
                        warn: Callable[[str], None] = _stderr) -> pd.DataFrame:
    """Merge the CSV's edits into the store, write both back, return the annotations.

    Whatever cannot go on a frame is written to <exercise>_orphaned_labels.csv before the review copy
    is rewritten, and `warn` is given one line for each refused row and each other finding: a
    person's label whose frame is gone (the videos were extracted again with other settings) is never
    moved to another frame, and an edit that cannot be applied is never dropped."""
    merge = review_merge(frames, labeled_dir, exercise)
    path = orphans_path(labeled_dir, exercise)
    table = pd.concat([t for t in (merge.still_waiting, merge.set_aside) if len(t)], ignore_index=True) \
        if len(merge.still_waiting) or len(merge.set_aside) else None
    if table is not None:
        # The same row set aside twice (a refresh that stopped before the CSV was rewritten) is kept once.
        same = table.drop(columns=["updated_at"]).apply(lambda col: col.map(_text))
        write_spreadsheet_csv(table[~same.duplicated()][ORPHAN_COLUMNS], path)
    elif path.exists():
        path.unlink()
    for line in merge.messages(kept_in=path.name):
        warn(line)
    write_review_copy(frames, merge.annotations, labeled_dir, exercise)
    return merge.annotations


def import_labeled_dir(labeled_dir: str | Path, exercise: str, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Frames and annotations from a seed-style folder (CSV plus JPEG folders, no videos).

    Without the videos there is no content hash, so a video is identified by exercise and file name,
    and splits are drawn by that identity, still grouped by video and stratified by class.
    """
    import hashlib

    from formclip_pipeline.core.frames import FRAME_COLUMNS, ImageTooLarge, assign_splits, open_image

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
        try:
            open_image(data)
        except ImageTooLarge as exc:
            problems.append(f"{rec['frame_path']}: {exc}")
            continue
        except (OSError, ValueError):
            pass  # not an image at all: validate counts it among the frames that are not readable images
        video = str(rec.get("source_video") or Path(rec["frame_path"]).stem.rsplit("_", 1)[0])
        rows.append({"exercise": exercise, "form_class": cls, "source_video": video,
                     "video_sha256": hashlib.sha256(f"{exercise}/{video}".encode()).hexdigest(),
                     "frame_index": int(Path(rec["frame_path"]).stem.rsplit("_", 1)[-1]) if
                     Path(rec["frame_path"]).stem.rsplit("_", 1)[-1].isdigit() else len(rows),
                     "timestamp": _stored_number(rec.get("timestamp")) or 0.0, "view": None, "split": None,
                     "image": data,
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
    merge = merge_review(frames.drop(columns="_csv_path"), None, review.dropna(subset=["frame_path"]), exercise,
                         csv_name=review_csv_path(labeled_dir, exercise).name)
    return frames.drop(columns="_csv_path"), merge.annotations, problems + merge.refused + merge.notes

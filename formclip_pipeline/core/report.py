"""The scoring report as one self-contained HTML page: timeline, the main joint angle, the worst
frames with the lifter's skeleton, issues and each rep's measures; and, where an overlay video was
written (core.overlay), a player for it, the one file the page names rather than holds."""
from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np

from formclip_pipeline.catalog import GOOD_CLASS
from formclip_pipeline.core.good_form import PERCENTILES
from formclip_pipeline.core.score import UNSURE, cited_measures


def _png_b64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode()


def _rep_colour(form_class: str) -> tuple[str, str]:
    """(strong, pale) colour of a rep: green good, red faulty, grey without a verdict."""
    if form_class == UNSURE:
        return "#9aa0a6", "#f1f3f4"
    return ("#1e8e3e", "#e6f4ea") if form_class == GOOD_CLASS else ("#d93025", "#fce8e6")


def timeline_png(report: dict, extras: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, proba, labels = extras["times"], extras["proba"], extras["labels"]
    p_good = proba[:, labels.index(GOOD_CLASS)] if len(proba) else np.zeros(0)
    fig, ax = plt.subplots(figsize=(10, 2.8))
    for s in report["sets"]:
        ax.axvspan(s["start"], s["end"], color="#e8f0fe", zorder=0)
        score = "" if s["form_score"] is None else f": {s['form_score']}"
        ax.text(s["start"], 1.04, f"set {s['set_number']}{score}", fontsize=8, va="bottom")
        for r in s["reps"]:
            ax.axvspan(r["start"], r["end"], ymin=0, ymax=0.06, color=_rep_colour(r["form_class"])[0], zorder=1)
            ax.axvline(r["start"], color="#9aa0a6", lw=0.6, zorder=1)
    ax.plot(times, p_good, color="#1a73e8", lw=1.5, label="P(good form)")
    ax.set_ylim(0, 1.12)
    ax.set_xlim(0, max(float(times[-1]) if len(times) else 1.0, 1.0))
    ax.set_xlabel("seconds")
    ax.set_ylabel("P(good form)")
    fig.tight_layout()
    out = _png_b64(fig)
    plt.close(fig)
    return out


def joint_angle_png(report: dict, extras: dict) -> str | None:
    """The exercise's primary joint measure over time, reps shaded (red: faulty), or None without a lifter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from formclip_pipeline.catalog import get_exercise
    from formclip_pipeline.core.measures import MEASURES

    measures = extras.get("measures")
    name = get_exercise(report["exercise"]).primary_measure
    if measures is None or name not in measures or measures[name].isna().all():
        return None
    times = extras["times"]
    fig, ax = plt.subplots(figsize=(10, 2.6))
    for s in report["sets"]:
        for r in s["reps"]:
            ax.axvspan(r["start"], r["end"], color=_rep_colour(r["form_class"])[1], zorder=0)
            ax.text(r["start"], 1.0, str(r["rep_number"]), transform=ax.get_xaxis_transform(), fontsize=7, va="top")
    ax.plot(times[:len(measures)], measures[name].to_numpy(), color="#1a73e8", lw=1.5)
    unit = "degrees" if MEASURES[name].unit == "deg" else "ratio"
    ax.set_xlabel("seconds")
    ax.set_ylabel(f"{name.replace('_', ' ')} ({unit})", fontsize=8)
    fig.tight_layout()
    out = _png_b64(fig)
    plt.close(fig)
    return out


def _to_shown(pose_size: tuple[int, int], square: int, size: int):
    """Pose frame pixels (x, y) -> the letterboxed square shown, `size` pixels a side."""
    w, h = pose_size
    k = square / max(w, h)
    ox, oy = (square - w * k) / 2, (square - h * k) / 2
    f = size / square
    return lambda x, y: ((x * k + ox) * f, (y * k + oy) * f)


SKELETON_COLOUR = (255, 214, 0)
JOINT_COLOUR = (0, 150, 255)
FAULT_COLOUR = (217, 48, 37)


def draw_skeleton(draw, landmarks: np.ndarray, shown, width: int = 3) -> None:
    """The BlazePose skeleton, each landmark taken from the pose frame's pixels to the picture's by
    `shown(x, y)`: the report's still frames and the overlay video draw it alike."""
    from formclip_pipeline.core.measures import MIN_VISIBILITY
    from formclip_pipeline.core.pose import INDEX, SKELETON

    def at(name):
        x, y, _ = landmarks[INDEX[name]]
        return shown(x, y)

    radius = width * 0.85
    for a, b in SKELETON:
        if min(landmarks[INDEX[a], 2], landmarks[INDEX[b], 2]) >= MIN_VISIBILITY:
            draw.line([at(a), at(b)], fill=SKELETON_COLOUR, width=width)
    for name in INDEX:
        if landmarks[INDEX[name], 2] >= MIN_VISIBILITY and not name.startswith(("left_eye", "right_eye", "mouth")):
            x, y = at(name)
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=JOINT_COLOUR)


def _draw_back(draw, landmarks: np.ndarray, outline: np.ndarray, pose_size: tuple[int, int], square: int,
               size: int) -> None:
    """The back's outline the silhouette showed (core.pose.trunk_outline), the one `back_rounding` reads:
    a red line along the back from near the hips to near the shoulders."""
    from formclip_pipeline.core.pose import OUTLINE_POINTS, back_of

    back, hip, along, normal = (a[0] for a in back_of(outline[None], landmarks[None].astype(np.float64)))
    length = float(np.hypot(*along))
    if not (np.isfinite(back).all() and np.isfinite(normal).all()):
        return
    shown = _to_shown(pose_size, square, size)
    points = [shown(*(hip + t * along + r * length * normal)) for t, r in zip(OUTLINE_POINTS, back)]
    draw.line(points, fill=FAULT_COLOUR, width=3)


def worst_frames(report: dict, extras: dict, size: int = 200) -> list[tuple[str, str]]:
    """For each faulty rep, its frame with the lowest good-form probability (of equals, the one at the
    rep's far end), marked with the fault and the lifter's skeleton, and on a lift judged by the back's
    rounding, the back's outline where it was read."""
    from PIL import Image, ImageDraw

    from formclip_pipeline.catalog import get_exercise

    times, frames, proba, labels = extras["times"], extras["frames"], extras["proba"], extras["labels"]
    landmarks, pose_size = extras.get("landmarks"), extras.get("pose_frame_size")
    exercise = get_exercise(report["exercise"]) if report.get("exercise") else None
    measures = extras.get("measures")
    depth = None
    if measures is not None and exercise is not None and exercise.primary_measure in measures:
        depth = measures[exercise.primary_measure].to_numpy(np.float64)
    # The back's outline where `back_rounding` read it, on a lift judged by it.
    outlines = extras.get("outlines")
    read_back = None
    if outlines is not None and measures is not None and exercise is not None and "back_rounding" in exercise.judged_by:
        read_back = np.isfinite(measures["back_rounding"].to_numpy(np.float64))
    good = labels.index(GOOD_CLASS)
    out = []
    for s in report["sets"]:
        for r in s["reps"]:
            if r["form_class"] in (GOOD_CLASS, UNSURE):
                continue
            idx = np.where((times >= r["start"]) & (times <= r["end"]))[0]
            if not len(idx):
                continue
            # A pose model gives a rep one verdict for all its frames: of the frames judged worst, show the
            # one at the rep's far end (the primary measure at its highest), where most faults show.
            worst = idx[np.isclose(proba[idx, good], proba[idx, good].min())]
            i = int(worst[np.nanargmax(depth[worst])] if depth is not None and np.isfinite(depth[worst]).any()
                    else worst[0])
            img = Image.fromarray(frames[i]).resize((size, size))
            d = ImageDraw.Draw(img)
            if landmarks is not None and pose_size and i < len(landmarks) and not np.isnan(landmarks[i, 0, 0]):
                draw_skeleton(d, landmarks[i], _to_shown(pose_size, frames.shape[1], size))
                if read_back is not None and i < len(read_back) and read_back[i]:
                    _draw_back(d, landmarks[i], outlines[i], pose_size, frames.shape[1], size)
            d.rectangle([0, 0, size - 1, size - 1], outline=FAULT_COLOUR, width=5)
            d.rectangle([0, size - 22, size, size], fill=FAULT_COLOUR)
            d.text((6, size - 18), f"{r['form_class']} {times[i]:.1f}s", fill=(255, 255, 255))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=85)
            caption = f"Set {s['set_number']}, rep {r['rep_number']}: {r['form_class']} ({r['confidence']:.0%})"
            out.append((base64.b64encode(buf.getvalue()).decode(), caption))
    return out


def _shown(value) -> str:
    return "&ndash;" if value is None else str(value)


def relative_src(target: str | os.PathLike, page: str | os.PathLike) -> str:
    """`target`'s address as seen from the page at `page`: relative, so the page and the file it
    names can be moved or served together."""
    rel = os.path.relpath(Path(target).resolve(), Path(page).resolve().parent)
    return quote(Path(rel).as_posix())


def render_html(report: dict, extras: dict, overlay_src: str | None = None) -> str:
    """The page; with `overlay_src` (the overlay video's address from the page, see `relative_src`)
    it plays that video."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{s['set_number']}</td><td>{iss['timestamp']}</td><td>{e(iss['issue'])}</td></tr>"
        for s in report["sets"] for iss in s["issues"]) or "<tr><td colspan=3>No issues found</td></tr>"
    sets = "".join(
        f"<tr><td>{s['set_number']}</td><td>{len(s['reps'])}</td><td>{_shown(s['form_score'])}</td>"
        f"<td>{_shown(s['good_form_frames'])}</td><td>{_shown(s['bad_form_frames'])}</td></tr>" for s in report["sets"])
    thumbs = "".join(f"<figure><img src='data:image/jpeg;base64,{b}' alt='{e(c)}'><figcaption>{e(c)}</figcaption></figure>"
                     for b, c in worst_frames(report, extras)) or "<p>No faulty reps.</p>"
    recs = "".join(f"<li>{e(r)}</li>" for r in report["recommendations"])
    angle = joint_angle_png(report, extras)
    angle_html = (f"<h2>Main joint angle</h2><img alt='the main joint angle over time, reps shaded' "
                  f"src='data:image/png;base64,{angle}'>") if angle else "<p>No lifter was tracked in this video.</p>"
    rep_rows = "".join(
        f"<tr><td>{s['set_number']}</td><td>{r['rep_number']}</td><td>{r['start']:.1f}-{r['end']:.1f} s</td>"
        f"<td>{e(r['form_class'])}</td><td>{e(cited_measures(report['exercise'], r))}</td></tr>"
        for s in report["sets"] for r in s["reps"])
    against = report.get("against_good_form")
    against_html = ""
    if against:
        cited = "".join(f"<tr><td>{e(c['what'])}</td><td>{c['value']} {e(c['unit'])}</td>"
                        f"<td>{c['good_form_range'][0]} to {c['good_form_range'][1]} {e(c['unit'])}</td></tr>"
                        for c in against["outside"])
        against_html = (f"<h2>Against the model's good-form videos</h2><p>Where this video's measures lie furthest "
                        f"outside the range of the {against['good_form_videos']} good-form videos the model was "
                        f"fitted on ({PERCENTILES[0]}th to {PERCENTILES[1]}th percentile).</p>"
                        + ("<table><tr><th>Measure</th><th>This video</th><th>Good-form videos</th></tr>"
                           f"{cited}</table>" if cited else "<p>Every measure lies within or near their range.</p>"))
    shown = [c for c in report.get("checks", []) if c["status"] != "unseen" and c.get("text")]
    checks_html = ("<h2>The coach's lines</h2><p>Each fault a coach measures, read on every rep against the "
                   "lifter's own body (the median over the reps), and its line.</p><table><tr><th>Check</th>"
                   "<th>Reading</th><th>Word</th><th>Reps past the line</th></tr>"
                   + "".join(f"<tr><td>{e(c['name'].replace('_', ' '))}</td><td>{e(c['text'])}</td>"
                             f"<td>{e(c['status'])}</td><td>{e(', '.join(map(str, c['reps_at_fault'])) or '-')}</td></tr>"
                             for c in shown) + "</table>") if shown else ""
    rec = report.get("exercise_recognition")
    recog = f" (recognised, {rec['confidence']:.0%} confident)" if rec else ""
    overall, v = report["overall_score"], report.get("verdict", {})
    if overall is None and v.get("label") not in (None, "unsure"):
        score_html = (f"<div class='score' style='color:#5f6368'>{e(v['label'].replace('_', ' '))}</div>"
                      f"<p>{'Confident' if v.get('confident') else ''}{e(v.get('reason', ''))}</p>")
    elif overall is None:
        score_html = f"<div class='score' style='color:#5f6368'>No verdict</div><p>{e(v.get('reason', ''))}</p>"
    else:
        colour = "#1e8e3e" if overall >= 80 else "#f29900" if overall >= 60 else "#d93025"
        doubt = v.get("reason") or f"under {v.get('threshold', 0):.0%}"
        said = v.get("label", "").replace("_", " ")
        if v and v.get("good_or_bad") == "bad_form" and v["label"] != "bad_form":
            said = f"bad form: {said}" + (f" (its share {v['fault_share']:.0%})" if "fault_share" in v else "")
        sure = "" if not v else f"<p>{e(said)}, {v['confidence']:.0%} " + \
            ("(confident)" if v["confident"] else f"(not confident: {e(doubt)})") + "</p>"
        score_html = f"<div class='score' style='color:{colour}'>{overall}<span style='font-size:.4em'>/100</span></div>{sure}"
    camera = report.get("camera")
    camera_html = f"<p><b>Camera:</b> {e(camera['note'])}</p>" if camera else ""
    overlay_html = ("<h2>The video, marked</h2><video controls muted playsinline preload='metadata' "
                    f"src='{e(overlay_src)}'></video><p>The lifter's skeleton, the reps counted, the main joint "
                    "angle, and each flagged rep's fault in red while it lasts.</p>") if overlay_src else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FormClip report: {e(report['video'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#202124}}
.score{{font-size:3em;font-weight:700}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #dadce0;padding:.3em .8em;text-align:left}}
figure{{display:inline-block;margin:.5em;text-align:center}}figcaption{{font-size:.85em}}
video{{max-width:100%;max-height:80vh}}
</style></head><body>
<h1>{e(report['video'])}</h1>
<p>{e(report['exercise'].replace('_', ' ').title())}{recog} &middot; model {e(str(report['model']['ref']))}</p>
{score_html}
{camera_html}
{overlay_html}
<h2>Timeline</h2><img alt="per-frame form probability with rep and set boundaries" src="data:image/png;base64,{timeline_png(report, extras)}">
{angle_html}
<h2>Sets</h2><table><tr><th>Set</th><th>Reps</th><th>Form score</th><th>Good frames</th><th>Bad frames</th></tr>{sets}</table>
<h2>Issues</h2><table><tr><th>Set</th><th>Time</th><th>Issue</th></tr>{rows}</table>
<h2>Reps and what was measured</h2><table><tr><th>Set</th><th>Rep</th><th>When</th><th>Verdict</th><th>Measures (degrees or ratios)</th></tr>{rep_rows}</table>
{checks_html}
{against_html}
<h2>Worst frame of each faulty rep</h2>{thumbs}
<h2>Recommendations</h2><ul>{recs}</ul>
</body></html>"""

"""The scoring report as one self-contained HTML page: timeline, worst frames, issues."""
from __future__ import annotations

import base64
import html
import io

import numpy as np

from formclip_pipeline.catalog import GOOD_CLASS


def _png_b64(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode()


def timeline_png(report: dict, extras: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times, proba, labels = extras["times"], extras["proba"], extras["labels"]
    p_good = proba[:, labels.index(GOOD_CLASS)] if len(proba) else np.zeros(0)
    fig, ax = plt.subplots(figsize=(10, 2.8))
    for s in report["sets"]:
        ax.axvspan(s["start"], s["end"], color="#e8f0fe", zorder=0)
        ax.text(s["start"], 1.04, f"set {s['set_number']}: {s['form_score']}", fontsize=8, va="bottom")
        for r in s["reps"]:
            bad = r["form_class"] != GOOD_CLASS
            ax.axvspan(r["start"], r["end"], ymin=0, ymax=0.06, color="#d93025" if bad else "#1e8e3e", zorder=1)
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


def worst_frames(report: dict, extras: dict, size: int = 200) -> list[tuple[str, str]]:
    """For each faulty rep, its frame with the lowest good-form probability, marked with the fault."""
    from PIL import Image, ImageDraw

    times, frames, proba, labels = extras["times"], extras["frames"], extras["proba"], extras["labels"]
    good = labels.index(GOOD_CLASS)
    out = []
    for s in report["sets"]:
        for r in s["reps"]:
            if r["form_class"] == GOOD_CLASS:
                continue
            idx = np.where((times >= r["start"]) & (times <= r["end"]))[0]
            if not len(idx):
                continue
            i = int(idx[np.argmin(proba[idx, good])])
            img = Image.fromarray(frames[i]).resize((size, size))
            d = ImageDraw.Draw(img)
            d.rectangle([0, 0, size - 1, size - 1], outline=(217, 48, 37), width=5)
            d.rectangle([0, size - 22, size, size], fill=(217, 48, 37))
            d.text((6, size - 18), f"{r['form_class']} {times[i]:.1f}s", fill=(255, 255, 255))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=85)
            caption = f"Set {s['set_number']}, rep {r['rep_number']}: {r['form_class']} ({r['confidence']:.0%})"
            out.append((base64.b64encode(buf.getvalue()).decode(), caption))
    return out


def render_html(report: dict, extras: dict) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{s['set_number']}</td><td>{iss['timestamp']}</td><td>{e(iss['issue'])}</td></tr>"
        for s in report["sets"] for iss in s["issues"]) or "<tr><td colspan=3>No issues found</td></tr>"
    sets = "".join(
        f"<tr><td>{s['set_number']}</td><td>{len(s['reps'])}</td><td>{s['form_score']}</td>"
        f"<td>{s['good_form_frames']}</td><td>{s['bad_form_frames']}</td></tr>" for s in report["sets"])
    thumbs = "".join(f"<figure><img src='data:image/jpeg;base64,{b}' alt='{e(c)}'><figcaption>{e(c)}</figcaption></figure>"
                     for b, c in worst_frames(report, extras)) or "<p>No faulty reps.</p>"
    recs = "".join(f"<li>{e(r)}</li>" for r in report["recommendations"])
    rec = report.get("exercise_recognition")
    recog = f" (recognised, {rec['confidence']:.0%} confident)" if rec else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>FormClip report: {e(report['video'])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#202124}}
.score{{font-size:3em;font-weight:700;color:{'#1e8e3e' if report['overall_score'] >= 80 else '#f29900' if report['overall_score'] >= 60 else '#d93025'}}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #dadce0;padding:.3em .8em;text-align:left}}
figure{{display:inline-block;margin:.5em;text-align:center}}figcaption{{font-size:.85em}}
</style></head><body>
<h1>{e(report['video'])}</h1>
<p>{e(report['exercise'].replace('_', ' ').title())}{recog} &middot; model {e(str(report['model']['ref']))}</p>
<div class="score">{report['overall_score']}<span style="font-size:.4em">/100</span></div>
<h2>Timeline</h2><img alt="per-frame form probability with rep and set boundaries" src="data:image/png;base64,{timeline_png(report, extras)}">
<h2>Sets</h2><table><tr><th>Set</th><th>Reps</th><th>Form score</th><th>Good frames</th><th>Bad frames</th></tr>{sets}</table>
<h2>Issues</h2><table><tr><th>Set</th><th>Time</th><th>Issue</th></tr>{rows}</table>
<h2>Worst frame of each faulty rep</h2>{thumbs}
<h2>Recommendations</h2><ul>{recs}</ul>
</body></html>"""

"""Score a new video: exercise, sets, reps, a 0-100 form score, timestamped issues, advice.

The form score of a set is 100 times the mean probability of good form over the set's sampled
frames; the overall score is the frame-weighted mean over sets. A rep takes the class with the
highest mean probability over its frames. Consecutive reps with the same fault become one issue
("shallow depth on reps 3-4") stamped with the first rep's start time.

The verdict is confident when its mean probability reaches `ScoringSettings.confident_above`. A
video unlike the model's training videos (core.familiarity) gets no verdict at all: its reps and
measures are reported, its scores, classes and issues are withheld, and the report says why.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from formclip_pipeline.catalog import BAD_CLASS, GOOD_CLASS, binary_label, called, get_exercise
from formclip_pipeline.core import checks as C
from formclip_pipeline.core import reps as R
from formclip_pipeline.core.errors import ScoreError
from formclip_pipeline.core.registry import LoadedModels
from formclip_pipeline.core.sampling import sample_video
from formclip_pipeline.core.settings import ScoringSettings

UNSURE = "unsure"  # the class and verdict of a video unlike the model's training videos


def mmss(t: float) -> str:
    t = max(0, int(t))
    return f"{t // 60}:{t % 60:02d}"


def _issue_runs(reps: list[dict]) -> list[tuple[str, list[dict]]]:
    runs: list[tuple[str, list[dict]]] = []
    for rep in reps:
        if rep["form_class"] == GOOD_CLASS:
            continue
        if runs and runs[-1][0] == rep["form_class"] and runs[-1][1][-1]["rep_number"] == rep["rep_number"] - 1:
            runs[-1][1].append(rep)
        else:
            runs.append((rep["form_class"], [rep]))
    return runs


def fault_words(exercise: str, rep: dict) -> str:
    """What a flagged rep's fault is called ("shallow depth"); "form breakdown" where the model tells
    good form from bad but names no fault."""
    ex = get_exercise(exercise)
    form_class = rep["form_class"]
    return ex.fault_issue(form_class) if form_class in ex.class_names or rep.get("from_checks") else "form breakdown"


def cited_measures(exercise: str, rep: dict, form_class: str | None = None) -> str:
    """A rep's range of its exercise's primary measure and of the measures its class is judged by,
    in words: "knee flexion 12.0 to 95.5 degrees; hip below knee -0.95 to -0.20"."""
    from formclip_pipeline.core.measures import MEASURES

    ex = get_exercise(exercise)
    form_class = form_class or rep.get("form_class")
    names = [ex.primary_measure]
    if form_class in ex.class_names:
        names = [m for m in ex.form_class(form_class).measures] + names
    m = rep.get("measures", {})
    return "; ".join(f"{n.replace('_', ' ')} {m[n + '_min']} to {m[n + '_max']}"
                     f"{' degrees' if MEASURES[n].unit == 'deg' else ''}"
                     for n in dict.fromkeys(names) if n + "_min" in m)


def score_frames(times: np.ndarray, frames: np.ndarray, proba: np.ndarray, labels: list[str], exercise: str,
                 fps: float, spans: list[R.RepSpan] | None = None, rep_measures: list[dict] | None = None,
                 rep_faults: list[dict] | None = None, judged: dict | None = None) -> dict:
    """Sets, reps, scores, issues and recommendations from per-frame class probabilities.

    `spans` are the reps if already found (else counted from the frames); `rep_measures`, one dict
    per span, the joint measures shown with each rep; `rep_faults`, one dict per span, the faults the
    coach's checks found on it (core.checks; `judged` holds their readings): such a rep is that
    fault's, and its issue cites the check's reading rather than the model's."""
    ex = get_exercise(exercise)
    good = labels.index(GOOD_CLASS)
    p_good = proba[:, good]
    if spans is None:
        spans = R.count_reps(R.motion_features(frames), fps)
    measures_of = {(s.set_number, s.rep_number): m for s, m in zip(spans, rep_measures or [])}
    faults_of = {(s.set_number, s.rep_number): (i, f) for i, (s, f) in enumerate(zip(spans, rep_faults or [])) if f}
    sets, issue_classes = [], []
    for set_no in sorted({s.set_number for s in spans}):
        mine = [s for s in spans if s.set_number == set_no]
        lo, hi = mine[0].start, mine[-1].end
        reps = []
        for s in mine:
            mean = proba[s.start:s.end].mean(0)
            k = int(called(mean, labels)[0])
            rep = {"rep_number": s.rep_number, "start": round(float(times[s.start]), 2),
                   "end": round(float(times[min(s.end, len(times) - 1)]), 2), "form_class": labels[k],
                   "confidence": round(float(mean[k]), 3),
                   **({"measures": measures_of[(s.set_number, s.rep_number)]}
                      if (s.set_number, s.rep_number) in measures_of else {})}
            if (s.set_number, s.rep_number) in faults_of:
                index, found = faults_of[(s.set_number, s.rep_number)]
                fault, beyond = max(found.items(), key=lambda kv: kv[1])
                rep.update(form_class=fault, from_checks=True, confidence=round(C.fault_strength(beyond), 3),
                           checks=C.rep_evidence(exercise, judged, index, fault))
            reps.append(rep)
        issues = []
        for cls, run in _issue_runs(reps):
            text = fault_words(exercise, run[0])
            which = f"rep {run[0]['rep_number']}" if len(run) == 1 else \
                f"reps {run[0]['rep_number']}-{run[-1]['rep_number']}"
            cited = run[0]["checks"] if run[0].get("from_checks") else cited_measures(exercise, run[0], cls)
            evidence = f" (rep {run[0]['rep_number']}: {cited})" if cited else ""
            issues.append({"timestamp": mmss(run[0]["start"]), "issue": f"{text[0].upper()}{text[1:]} on {which}{evidence}",
                           "form_class": cls, "reps": [r["rep_number"] for r in run],
                           **({"from_checks": True} if run[0].get("from_checks") else {})})
            issue_classes += [cls] * len(run)
        pred = called(proba[lo:hi], labels)
        sets.append({"set_number": set_no, "start": round(float(times[lo]), 2),
                     "end": round(float(times[min(hi, len(times) - 1)]), 2),
                     "form_score": int(round(100 * float(p_good[lo:hi].mean()))),
                     "good_form_frames": int((pred == good).sum()), "bad_form_frames": int((pred != good).sum()),
                     "issues": issues, "reps": reps})
    if sets:
        weights = np.array([s["good_form_frames"] + s["bad_form_frames"] for s in sets], float)
        overall = int(round(float(np.average([s["form_score"] for s in sets], weights=weights))))
    else:
        overall = int(round(100 * float(p_good.mean()))) if len(p_good) else 0
    recs = []
    for cls in sorted(set(issue_classes), key=lambda c: -issue_classes.count(c)):
        if ex.fault_advice(cls):
            recs.append(ex.fault_advice(cls))
        else:
            # A model that knows good form from bad but no fault by name: the lifter can still see what
            # changed in those reps, and the coach's checks name a fault from the views they read.
            from formclip_pipeline.catalog import VIEWS
            from formclip_pipeline.core.views import VIEW_WORDS

            views = [VIEW_WORDS[v] for v in VIEWS if any(v in c.views for c in ex.checks)]
            filmed = ", ".join(views[:-1]) + " or " + views[-1] if len(views) > 1 else "".join(views)
            recs.append("For the reps marked form breakdown the model saw poor form but cannot say which fault: "
                        "compare their measures in the report with your good reps' (and with the good-form ranges, "
                        "where the report shows them) to see what changed"
                        + (f", and film {filmed} so the coach's checks can name it." if filmed else "."))
    if not recs:
        recs.append(ex.form_class(GOOD_CLASS).recommendation)
    advice = [ex.fault_advice(f) for f in dict.fromkeys(f for found in (rep_faults or []) for f in found)]
    return {"sets": sets, "overall_score": overall, "recommendations": recs,
            **({"check_advice": [a for a in advice if a]} if advice else {})}


def find_reps(exercise: str, measures, frames: np.ndarray, fps: float) -> tuple[list[R.RepSpan], str]:
    """Reps from the lifter's joints or from the pixels, and which of the two ("joints" or "pixels")
    counted them.

    The joints count unless the pixels keep a steadier rhythm. Joints that were tracked yet show no
    rep were misread, not still. Joints read badly (a lying lifter's elbows) lose reps rather than
    add them: a rep lost within a set leaves a double interval (`R.rhythm_breaks`), one lost at a
    set's end leaves the rhythm whole but the count short, so where the two rhythms are equally
    steady the larger count is taken. A rep counted twice leaves half intervals, which the rhythm
    shows. On 42 synthetic development videos (seed 6161) this counted within one on 41, where the
    joints alone did on 35, the pixels alone on 40, and the joints with the pixels only for a count
    of none on 37 (docs/benchmarks.md)."""
    by_joints = R.joint_reps(measures, get_exercise(exercise).primary_measure, fps)
    by_pixels = R.count_reps(R.motion_features(frames), fps) if len(frames) else []
    breaks_j, breaks_p = R.rhythm_breaks(by_joints), R.rhythm_breaks(by_pixels)
    if by_joints and (not by_pixels or breaks_j < breaks_p
                      or (breaks_j == breaks_p and len(by_joints) >= len(by_pixels))):
        return by_joints, "joints"
    return by_pixels, "pixels"


def rep_measures(exercise: str, measures, times: np.ndarray, spans: list[R.RepSpan]) -> list[dict]:
    """Per rep, the lowest and highest value and the range of each measure the catalogue judges this
    exercise by (degrees or ratios, rounded), from the frames where the joints were seen."""
    from formclip_pipeline.core.measures import MEASURES

    ex = get_exercise(exercise)
    names = list(dict.fromkeys([ex.primary_measure, *[m for c in ex.classes for m in c.measures]]))
    out = []
    for s in spans:
        part = measures.iloc[s.start:s.end]
        rep = {}
        for name in names:
            v = part[name].dropna()
            if len(v):
                digits = MEASURES[name].digits
                rep[f"{name}_min"], rep[f"{name}_max"] = round(float(v.min()), digits), round(float(v.max()), digits)
                rep[f"{name}_range"] = round(float(v.max() - v.min()), digits)
        out.append(rep)
    return out


def with_checks(exercise: str, proba: np.ndarray, columns: list[str], to_labels, labels: list[str],
                judged: dict, n: int) -> np.ndarray:
    """Per-frame probabilities over `labels` with the coach's checks taken in (core.checks): each rep's
    frames by that rep's checks, the frames outside reps by the whole video's. `proba` is over
    `columns` (the head's form classes, or its labels), `to_labels` maps such rows to `labels`."""
    out = C.judged_proba(exercise, proba, columns, to_labels, labels, judged)
    for i, s in enumerate(judged["stretches"]):
        if s.end - s.start < n:
            out[s.start:s.end] = C.judged_proba(exercise, proba[s.start:s.end], columns, to_labels, labels, judged, i)
    return out


def verdict(proba: np.ndarray, labels: list[str], sets: list[dict], times: np.ndarray, confident_above: float,
            exercise: str | None = None, judged: dict | None = None, familiar: bool = True) -> dict | None:
    """The video's one answer: the label with the highest mean probability over the frames of its
    sets (all frames when no set was found), and whether that mean reaches `confident_above`.

    With the coach's checks (`judged`, core.checks) the answer is earned rather than read off the
    head: a fault a check finds is the verdict, confident only where it lies plainly past the line; a
    good-form verdict is confident only where every check the view reads is clear; a fault only the
    head sees is confident where the head is. On a video unlike the training videos the head says
    nothing: the checks alone decide, good form only where every check the view reads is clear, and
    None (no verdict) where they cannot."""
    inside = np.zeros(len(times), bool)
    for st in sets:
        inside |= (times >= st["start"]) & (times <= st["end"])
    mean = proba[inside].mean(0) if inside.any() else proba.mean(0)
    k = int(called(mean, labels)[0])
    # How sure the good-or-bad call is: a model naming faults is as sure that the lift is faulty as
    # the faults' shares add up to, whichever of them it names.
    p_good = float(mean[labels.index(GOOD_CLASS)])
    sure = p_good if labels[k] == GOOD_CLASS else 1 - p_good

    def called_as(label: str) -> dict:
        """The label, its good-or-bad call and, for a fault the model names, the fault's own share."""
        named = label in labels and label not in (GOOD_CLASS, BAD_CLASS)
        return {"label": label, "good_or_bad": binary_label(label),
                **({"fault_share": round(float(mean[labels.index(label)]), 3)} if named else {})}

    out = {**called_as(labels[k]), "confidence": round(sure, 3), "threshold": confident_above,
           "confident": bool(sure >= confident_above)}
    # What the coach's lines decide (below) keeps only the threshold of the model's answer.
    common = {"threshold": confident_above}
    if judged is None:
        return out
    read = [c for c in judged["checks"] if c["status"] in ("fault", "clear", "borderline")]
    found = C.found_faults(exercise, judged)
    said = [c["text"] for c in read if c.get("text")]
    if found:
        fault, beyond = max(found.items(), key=lambda kv: kv[1])
        label = fault if fault in labels else BAD_CLASS if BAD_CLASS in labels else fault
        plain = beyond >= C.PLAIN_BEYOND
        cited = [c["text"] for c in judged["checks"] if c["fault"] == fault and c["status"] == "fault"]
        share = 1 - p_good if label in labels else C.fault_strength(beyond)
        return {**called_as(label), "confidence": round(share, 3), **common, "confident": bool(plain),
                "decided_by": "checks", "checks": said,
                **({} if plain else {"reason": f"not sure: near the coach's line ({'; '.join(cited)})"})}
    open_checks = [c for c in read if c["status"] == "borderline"]
    # Every fault a check can clear from this view is cleared. A fault only the head reads is the
    # head's to call; one this view cannot show is named as such on the verdict (views.qualify).
    words = C.fault_word(exercise, C.statuses(judged))
    view = judged.get("view")
    clearable = {c.fault for c in get_exercise(exercise).checks if c.clears and (view is None or view in c.views)}
    all_clear = all(words.get(f) == "clear" for f in clearable)
    if not familiar:
        # Judged by the lines alone, good form needs lines to have been read: a lift without any says nothing.
        if not (clearable and all_clear):
            return None
        return {**called_as(GOOD_CLASS), "confidence": None, **common, "confident": False, "decided_by": "checks",
                "checks": said, "reason": "not sure: unlike the training videos, so judged by the coach's lines "
                                          "alone, and every one of them the camera reads is clear"}
    if labels[k] == GOOD_CLASS:
        confident = out["confident"] and all_clear and not open_checks
        reason = None if confident else "not sure: " + (
            "; ".join(f"{c['text']} is near the line" for c in open_checks) if open_checks
            else "the model's probability is below the confident line" if not out["confident"]
            else "no coach's line could be read on this video")
        return {**out, "confident": confident, "decided_by": "checks and model" if read else "model", "checks": said,
                **({"reason": reason} if reason else {})}
    return {**out, "decided_by": "model", "checks": said,
            **({} if out["confident"] else {"reason": f"not sure: the model's {labels[k].replace('_', ' ')} is "
                                                      f"{sure:.0%}, below the confident line"})}


def withhold(result: dict, reasons: list[str], confident_above: float) -> dict:
    """The scored result with every verdict taken out, because the video is unlike what the model
    was trained on: reps, times and measures stay, scores, classes and issues go."""
    why = "; ".join(reasons)
    for st in result["sets"]:
        st.update(form_score=None, good_form_frames=None, bad_form_frames=None, issues=[])
        for rep in st["reps"]:
            rep.update(form_class=UNSURE, confidence=None)
    result.update(overall_score=None, verdict={"label": UNSURE, "confidence": None, "threshold": confident_above,
                                               "confident": False, "reason": f"unlike the training videos: {why}"},
                  recommendations=[f"No verdict: this video is unlike the videos the model was trained on ({why}). "
                                   f"The measures are shown; add videos like it to the training data and retrain."])
    return result


def checks_alone(result: dict, reasons: list[str]) -> dict:
    """The scored result of a video unlike the model's training videos whose verdict the coach's
    checks could still give: the model's scores and its classes for reps go (its word is not to be
    trusted there), the reps' faults and issues the checks found stay."""
    why = "; ".join(reasons)
    for st in result["sets"]:
        st.update(form_score=None, good_form_frames=None, bad_form_frames=None,
                  issues=[i for i in st["issues"] if i.get("from_checks")])
        for rep in st["reps"]:
            if not rep.get("from_checks"):
                rep.update(form_class=UNSURE, confidence=None)
    result["overall_score"] = None
    result["recommendations"] = [r for r in result["recommendations"] if r in result.get("check_advice", [])] + [
        f"Judged by the coach's lines alone: this video is unlike the videos the model was trained on ({why})."]
    return result


# A verdict on a lift FormClip recognised itself is confident only where the recognition is at least
# this sure. On the development list of real clips (37), the 15 lifts recognised at 95% or more were
# all named right, while five deadlifts were called squats at 64-91% and judged by the squat's lines
# (since recognition reads the hands at the bottom, one deadlift at 87% and one squat at 73%).
RECOGNISED_SURE = 0.95
OTHER_EXERCISE_BELOW = 0.1  # the joints give the model's exercise less than this: the video shows another lift


def familiarity(reference: dict | None, by_joints, exercise: str, strategy: str) -> dict:
    """Whether the video is like the model's training videos: the checkpoint's reference of its fit
    videos (pose models keep one), and whether the lifter's joints move like the model's exercise at
    all, which needs no reference. `familiar` is None when neither could be checked."""
    reasons = list(reference["reasons"]) if reference else []
    other_lift = by_joints is not None and by_joints.exercise != exercise and \
        by_joints.from_pose[exercise] < OTHER_EXERCISE_BELOW
    if other_lift:
        reasons.append(f"the joints move like a {by_joints.exercise.replace('_', ' ')} "
                       f"({by_joints.from_pose[by_joints.exercise]:.0%}), not a {exercise.replace('_', ' ')} "
                       f"({by_joints.from_pose[exercise]:.0%})")
    if reference is None and by_joints is None:
        return {"familiar": None, "reasons": [f"the {strategy} model keeps no reference of its training videos and "
                                              f"the lifter was not tracked"]}
    checked = (["distance to the training videos"] if reference else []) + \
        (["the exercise the joints show"] if by_joints is not None else [])
    return {"familiar": not reasons, "checked": checked, **({"distance": reference["distance"]} if reference else {}),
            "reasons": reasons, "other_lift": bool(other_lift)}


def score_video(path: str, exercise: str | None = None, model_ref: str | None = None, root: str | None = None,
                settings: ScoringSettings = ScoringSettings(), base_model: str | None = None,
                models: LoadedModels | None = None) -> tuple[dict, dict]:
    """The seed's JSON report (plus reps with their joint measures, the verdict, whether the video is
    like the model's training videos, and the model used), and what the HTML page needs. The
    lifter's pose is read on every sampled frame whatever the model. Pass `models` to reuse models
    already loaded for other videos (it then names the model and home; model_ref and root are unused)."""
    import pandas as pd

    from formclip_pipeline.core import model as M
    from formclip_pipeline.core.measures import smoothed_measures
    from formclip_pipeline.core.pose import Silhouettes, stack_landmarks
    from formclip_pipeline.core.recognise import (MIN_LIFTER_FOUND, exercise_proba_of_embeddings, recognise,
                                                  recognition_summary)
    from formclip_pipeline.core.views import camera_view, measures_read_poorly, qualify

    t0 = time.perf_counter()
    models = models or LoadedModels(model_ref, root)
    clf, described, path_dir = None, None, None
    if exercise is not None:
        clf, described, path_dir = models.classifier(exercise)
    # What the image model computes on its frames while the video is decoded: what the classifier
    # asks for (core.classifier), or, with the exercise unknown, the embeddings of the base that
    # recognises it.
    image_model, base, base_error = None, None, None
    if clf is not None:
        image_model = clf.image_model()
    else:
        try:
            base = models.base(base_model or models.recognition_base())
            image_model = M.image_embedder(base)
        except M.ModelError as exc:  # offline without the base: the joints alone still tell most lifts apart
            base_error = exc
    parts: list[np.ndarray] = []
    pose_rows: list[dict] = []
    times, frames, info = sample_video(path, settings, on_batch=(lambda b: parts.append(image_model(b)))
                                       if image_model else None, poses_out=pose_rows)
    step = info["image_step"]
    image_out = np.concatenate(parts) if parts else None
    pose_table = pd.DataFrame(pose_rows)
    # The landmarks and the masks' readings are kept for the report's pictures, so the measures are made
    # from them here rather than read afresh from the table (measures.pose_table_measures).
    image, world, detected = stack_landmarks(pose_table)
    silhouettes = Silhouettes.of(pose_table)
    measures = smoothed_measures(image, world, silhouettes)
    found = float(detected.mean()) if len(detected) else 0.0
    summary = recognition_summary(measures, times)
    by_joints = recognise(summary, found, None) if found >= MIN_LIFTER_FOUND else None
    recognised = None
    if exercise is None:
        if base_error is not None and by_joints is None:
            raise ScoreError(f"could not tell which exercise this is: no lifter found to read, and {base_error}; "
                             f"pass --exercise") from base_error
        image_note = f"recognised from the joints alone: {base_error}" if base_error is not None else None
        rec = recognise(summary, found, exercise_proba_of_embeddings(base, image_out) if base is not None else None)
        if rec.not_a_lift:
            raise ScoreError(f"{Path(path).name} shows none of the lifts FormClip knows: {rec.not_a_lift}; if it "
                             f"is one of them, pass --exercise")
        if rec.confidence < settings.recognise_min_confidence:
            raise ScoreError(f"could not tell which exercise this is (best guess {rec.exercise} at "
                             f"{rec.confidence:.0%}); pass --exercise")
        exercise, recognised = rec.exercise, {**rec.to_dict(), **({"note": image_note} if image_note else {})}
        clf, described, path_dir = models.classifier(exercise)
        # Now known, the exercise's own model reads the same frames (its weights are not the base's).
        exercise_model = clf.image_model()
        image_out = exercise_model(frames[::step]) if exercise_model else None
    if clf.reads_joints and found < settings.min_lifter_found:
        raise ScoreError(f"{Path(path).name}: the lifter was found in {found:.0%} of the sampled frames, too few for "
                         f"the {clf.strategy} model to judge form from the joints; film the whole body, or score "
                         f"with a CLIP checkpoint (--model)")
    fps = info["sampled_fps"]
    spans, counted_from = find_reps(exercise, measures, frames, fps)
    camera = camera_view(exercise, world)
    judged = C.judge_reps(exercise, measures, image, spans, camera["view"])
    head = clf.judge_frames(measures, times, step, spans, image_out, measures_read_poorly(camera["view"]))
    against, strategy = head.against_good_form, clf.strategy
    proba = with_checks(exercise, head.proba, head.columns, head.to_labels, clf.labels, judged, len(times))
    # The exercise check reads ranges of motion: without a rep there is no motion to read.
    familiar = familiarity(head.reference, by_joints if spans else None, exercise, strategy)
    rep_faults = [C.found_faults(exercise, judged, i) for i in range(len(spans))] if spans else None
    result = score_frames(times, frames, proba, clf.labels, exercise, fps, spans,
                          rep_measures(exercise, measures, times, spans), rep_faults, judged)
    # A lift the joints show to be another one is not judged at all: its coach's lines are another lift's.
    said = None if familiar.get("other_lift") else verdict(
        proba, clf.labels, result["sets"], times, settings.confident_above, exercise, judged,
        familiar["familiar"] is not False)
    if said and said["confident"] and recognised and recognised["confidence"] < RECOGNISED_SURE:
        # A verdict read against another lift's lines is wrong however sure the lines are.
        said.update(confident=False, reason=f"not sure: the lift was recognised as a {exercise.replace('_', ' ')} at "
                                            f"{recognised['confidence']:.0%}; pass --exercise to have it judged surely")
    if against and against["outside"] and said and said["label"] != GOOD_CLASS and said["decided_by"] == "model":
        result["recommendations"].append("Furthest from the good-form videos the model learned from: "
                                         + "; ".join(c["text"] for c in against["outside"]) + ".")
    if said is None:
        result = withhold(result, familiar["reasons"], settings.confident_above)
    else:
        if familiar["familiar"] is False:
            result = checks_alone(result, familiar["reasons"])
        result["verdict"] = said
        result = qualify(result, exercise, camera)
    result.pop("check_advice", None)
    report = {"video": Path(path).name, "exercise": exercise, **({"exercise_recognition": recognised} if recognised else {}),
              **result,
              "familiarity": familiar, "camera": camera, "checks": judged["checks"],
              **({"against_good_form": against} if against else {}),
              "model": {"ref": described, "path": path_dir, "strategy": strategy,
                        "labels": clf.labels, "multi_class": clf.multi_class},
              "pose": {"frames_with_lifter": round(found, 3), "reps_counted_from": counted_from,
                       **({"note": f"no lifter was found in {1 - found:.0%} of the frames: the verdict comes "
                                   f"from the image alone"} if found < settings.min_lifter_found else {})},
              "video_info": {k: info[k] for k in ("codec", "width", "height", "fps", "duration_s")},
              "sampled_fps": round(fps, 3), "image_model_fps": round(fps / step, 3),
              **({"sampling_notes": info["notes"]} if info["notes"] else {}),
              "seconds_to_score": round(time.perf_counter() - t0, 2)}
    pose_size = (pose_rows[0]["frame_width"], pose_rows[0]["frame_height"]) if pose_rows else None
    return report, {"times": times, "frames": frames, "proba": proba, "labels": clf.labels, "landmarks": image,
                    "outlines": silhouettes.outline, "measures": measures, "pose_frame_size": pose_size}

"""Judge form from the lifter's joints, alone (`pose`) or beside CLIP's view of the frames (`pose_clip`).

A video (or one rep of it) becomes a feature vector: for each measure the lift's classes name in
the catalogue, its low, median and high values, its range, how fast it changes and its value at
depth, and the reps' tempo and profile (each measure on the way out and on the way back at the
same points of the rep; `features.summarise`), each also read against what the good-form fit
videos read at the same camera angle (`good_form.against_angle`). `pose_clip` appends the frozen
base CLIP's mean image embedding over the video's sampled frames. A head over the exercise's form
classes reads the vector, or the vector without the reps' profile as read: a multinomial logistic
regression or a forest of randomised trees, whichever pair cross-validates best on the fit videos.
The binary task asks the same head for good form against the sum of the faults, because "bad form"
is a union of faults that no single hyperplane in joint angles separates.

The checkpoint is a folder: `formclip.json` (kind, labels, feature names, settings) and
`pose_head.safetensors` (imputation medians, then the regression's scaler, weights and the range of
the features it was fitted on, or the trees' nodes; the fit videos' standardised features that tell
whether a new video is like them (core.familiarity); each feature's range over the good-form fit
videos and its line against the camera's angle (core.good_form)), plus the base CLIP's own files for
`pose_clip`. Nothing is pickled.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from formclip_pipeline.catalog import GOOD_CLASS, called, get_exercise, to_label
from formclip_pipeline.core import familiarity, good_form
from formclip_pipeline.core import measures as MS
from formclip_pipeline.core.classifier import FrameJudgement
from formclip_pipeline.core.features import summarise
from formclip_pipeline.core.reps import is_rep_profile
from formclip_pipeline.core.sampling import image_frames_in
from formclip_pipeline.core.good_form import ANGLE_DEFAULT, ANGLE_INTERCEPT, ANGLE_SLOPE
from formclip_pipeline.core.strategies import POSE_STRATEGIES

POSE_KIND = "formclip-pose-classifier"
HEAD_FILE = "pose_head.safetensors"
META_FILE = "formclip.json"
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)  # inverse regularisation strengths of the logistic head


def pose_series(poses: pd.DataFrame):
    """(video_sha256, its pose rows) for each video, in time order with one row per sampled moment.

    A video is its content: the same file twice in a folder (under two names, or in two classes) is
    read twice, and its two readings are one series. Kept twice, every moment would come twice and
    the time between samples would read as zero."""
    for sha, group in poses.groupby("video_sha256", sort=False):
        yield sha, group.sort_values("timestamp", kind="stable").drop_duplicates("timestamp")


def video_pose_features(poses: pd.DataFrame, exercise: str) -> pd.DataFrame:
    """One row per video (index video_sha256): the summarised measures over all its sampled frames,
    and the fraction of frames in which the lifter was found (reported, never a model input)."""
    primary = get_exercise(exercise).primary_measure
    rows = {}
    for sha, group in pose_series(poses):
        measures, detected = MS.pose_table_measures(group)
        feats = summarise(measures, group["timestamp"].to_numpy(), primary)
        feats["detection_rate"] = float(detected.mean()) if len(detected) else 0.0
        rows[sha] = feats
    return pd.DataFrame.from_dict(rows, orient="index")


def video_embeddings(clip, frames: pd.DataFrame) -> pd.DataFrame:
    """Mean L2-normalised image embedding of each video's frames under a frozen CLIP."""
    from formclip_pipeline.core.embeddings import EmbeddingCache
    from formclip_pipeline.core.frames import frames_array
    from formclip_pipeline.core.model import preprocess

    feats = EmbeddingCache().image_features(clip.model, preprocess(frames_array(frames), clip)).numpy()
    df = pd.DataFrame(feats, index=frames["video_sha256"].to_numpy())
    mean = df.groupby(level=0, sort=False).mean()
    mean.columns = [f"clip_{i}" for i in range(mean.shape[1])]
    return mean


def forest_arrays(forest) -> dict[str, np.ndarray]:
    """A fitted scikit-learn forest as flat arrays (every tree's nodes one after the other), so it is
    saved with safetensors and evaluated with numpy, never unpickled."""
    left, right, feature, threshold, value, roots = [], [], [], [], [], []
    offset = 0
    for tree in (est.tree_ for est in forest.estimators_):
        leaf = tree.children_left < 0
        left.append(np.where(leaf, -1, tree.children_left + offset))
        right.append(np.where(leaf, -1, tree.children_right + offset))
        feature.append(np.where(leaf, 0, tree.feature))
        threshold.append(tree.threshold)
        v = tree.value[:, 0, :]
        value.append(v / np.maximum(v.sum(1, keepdims=True), 1e-12))
        roots.append(offset)
        offset += tree.node_count
    return {"left": np.concatenate(left).astype(np.int64), "right": np.concatenate(right).astype(np.int64),
            "feature": np.concatenate(feature).astype(np.int64), "threshold": np.concatenate(threshold),
            "value": np.concatenate(value), "roots": np.array(roots, np.int64)}


def forest_proba(head: dict[str, np.ndarray], A: np.ndarray) -> np.ndarray:
    """Mean of the trees' leaf class fractions, as scikit-learn's forests compute predict_proba."""
    node = np.tile(head["roots"], (len(A), 1))
    rows = np.arange(len(A))[:, None]
    while True:
        inner = head["left"][node] >= 0
        if not inner.any():
            break
        go_left = A[rows, head["feature"][node]] <= head["threshold"][node]
        node = np.where(inner, np.where(go_left, head["left"][node], head["right"][node]), node)
    return head["value"][node].mean(1)


@dataclass
class PoseClassifier:
    exercise: str
    labels: list[str]          # what predict_proba's columns mean: form classes, or good_form / bad_form
    classes: list[str]         # the form classes the head was fitted on, in the head's column order
    multi_class: bool
    strategy: str
    feature_names: list[str]
    head: dict[str, np.ndarray]  # "medians" for missing measures, then a logistic or forest head's arrays
    clip: object | None = None  # LoadedClip for pose_clip
    meta: dict = field(default_factory=dict)

    reads_joints = True  # judged from the lifter's joints: scoring needs the lifter in most frames

    def image_model(self):
        """The base's image embeddings for pose_clip, which reads them beside the joints; nothing otherwise."""
        from formclip_pipeline.core.model import image_embedder

        return image_embedder(self.clip) if self.strategy == "pose_clip" else None

    def judge_frames(self, measures: pd.DataFrame, times: np.ndarray, step: int, spans: list,
                     image_out: np.ndarray | None, read_poorly: tuple[str, ...] = ()) -> FrameJudgement:
        """Probabilities over the fitted form classes: each rep judged on its own frames' measures (and
        for pose_clip on the embeddings of the frames the image model read in it, every step-th),
        frames outside reps on the whole video's; with the whole video's familiarity and standing
        against good form."""
        embeddings = image_out if self.strategy == "pose_clip" else None

        def features(lo: int, hi: int) -> dict:
            image = embeddings[image_frames_in(lo, hi, step, len(times))] if embeddings is not None else None
            return self.window_features(measures.iloc[lo:hi], times[lo:hi], image)

        whole = features(0, len(times))
        proba = np.tile(self.class_proba(pd.DataFrame([whole]))[0], (len(times), 1))
        for s in spans:
            proba[s.start:s.end] = self.class_proba(pd.DataFrame([features(s.start, s.end)]))[0]
        return FrameJudgement(proba, self.classes, self.label_proba, self.familiarity(whole),
                              self.against_good_form(whole, read_poorly))

    def window_features(self, measures: pd.DataFrame, times: np.ndarray, image_embeddings: np.ndarray | None) -> dict:
        """Features of a stretch of one video (a rep, or all of it) from its smoothed measures and,
        for pose_clip, the base CLIP's embeddings of its frames (the mean is the feature, as in training)."""
        feats = summarise(measures, times, get_exercise(self.exercise).primary_measure)
        if self.strategy == "pose_clip" and image_embeddings is not None and len(image_embeddings):
            feats.update({f"clip_{i}": float(v) for i, v in enumerate(image_embeddings.mean(0))})
        if ANGLE_INTERCEPT not in self.head:
            return feats
        return self._against_angle(pd.DataFrame([feats])).iloc[0].to_dict()

    def features(self, poses: pd.DataFrame, frames: pd.DataFrame | None) -> pd.DataFrame:
        X = video_pose_features(poses, self.exercise)
        if self.strategy == "pose_clip":
            if frames is None or self.clip is None:
                raise ValueError("pose_clip needs the video's frames and its base CLIP")
            X = X.join(video_embeddings(self.clip, frames), how="left")
        return self._against_angle(X)

    def _against_angle(self, X: pd.DataFrame) -> pd.DataFrame:
        """X with the features the head reads against good form at the camera's angle (good_form)."""
        if ANGLE_INTERCEPT not in self.head:
            return X
        read = [good_form.as_read(f) for f in self.feature_names if good_form.is_at_angle(f)]
        angle = good_form.frontality(X, float(self.head[ANGLE_DEFAULT][0]))
        return good_form.against_angle(X, read, self.head, angle)

    def class_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities over the fitted form classes, one row per row of X."""
        A = X.reindex(columns=self.feature_names).to_numpy(np.float64)
        A = np.where(np.isnan(A), self.head["medians"], A)
        if "roots" in self.head:
            return forest_proba(self.head, A)
        if "fit_low" in self.head:
            # A linear head knows nothing beyond what its fit videos read, and extrapolating it there is
            # what makes it surest where it should be least sure: the demo's bench press head called a
            # real press with flared elbows, whose silhouette read 7 standard deviations wider than any
            # fit video's, good form at 99%; held to the fit videos' range, bad form at 91%.
            A = np.clip(A, self.head["fit_low"], self.head["fit_high"])
        z = (A - self.head["mean"]) / self.head["scale"] @ self.head["coef"].T + self.head["intercept"]
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(1, keepdims=True)

    def familiarity(self, features: dict) -> dict | None:
        """Whether a video with these features is like the fit videos (core.familiarity), or None for
        a checkpoint saved without its fit videos' reference."""
        if not familiarity.has_reference(self.head):
            return None
        x = np.array([features.get(n, np.nan) for n in self.feature_names], np.float64)
        return familiarity.check(self.head, x, self.feature_names, get_exercise(self.exercise).judged_by or None)

    def against_good_form(self, features: dict, read_poorly: tuple[str, ...] = ()) -> dict | None:
        """The measures of a video (or rep) furthest outside the range of the model's good-form fit
        videos (core.good_form), leaving out those of `read_poorly`; None where the checkpoint knows
        no such range."""
        if not good_form.has_ranges(self.head):
            return None
        return good_form.outside(self.head, features, self.feature_names, read_poorly=read_poorly)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probabilities over `labels`: the form classes, or good_form against the sum of the faults."""
        return self.label_proba(self.class_proba(X))

    def label_proba(self, p: np.ndarray) -> np.ndarray:
        """Rows of probabilities over the fitted `classes` as probabilities over `labels`: good form's
        odds shifted so that the cross-validated cut on P(good form) sits at a half (`catalog.called`
        reads good form there), the faults sharing the rest as the head shares it between them."""
        raw = np.clip(p[:, self.classes.index(GOOD_CLASS)], 1e-6, 1 - 1e-6)
        t = float(self.head.get("good_threshold", np.array(0.5)))
        good = 1 / (1 + np.exp(-(np.log(raw / (1 - raw)) - np.log(t / (1 - t)))))
        if not self.multi_class:
            return np.stack([good, 1 - good], axis=1)
        out = p[:, [self.classes.index(c) for c in self.labels]] * ((1 - good) / (1 - raw))[:, None]
        out[:, self.labels.index(GOOD_CLASS)] = good
        return out

    def save(self, path: str | Path, extra_meta: dict) -> Path:
        from safetensors.numpy import save_file

        from formclip_pipeline.core.files import atomic_dir
        from formclip_pipeline.core.model import save_checkpoint

        path = Path(path)
        meta = {"kind": POSE_KIND, "exercise": self.exercise, "labels": self.labels, "classes": self.classes,
                "multi_class": self.multi_class, "strategy": self.strategy, "feature_names": self.feature_names,
                MS.VERSION_KEY: MS.DEFINITIONS_VERSION, **extra_meta}
        tensors = {k: np.ascontiguousarray(v) for k, v in self.head.items()}
        if self.clip is not None:  # the base CLIP's files and our meta, then the head beside them
            save_checkpoint(self.clip, path, meta)
            save_file(tensors, str(path / HEAD_FILE))
            return path
        with atomic_dir(path) as tmp:
            save_file(tensors, str(tmp / HEAD_FILE))
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return path


def is_pose_checkpoint(path: str | Path) -> bool:
    meta = Path(path) / META_FILE
    try:
        return json.loads(meta.read_text()).get("kind") == POSE_KIND
    except (OSError, ValueError):
        return False


def load_pose_classifier(path: str | Path) -> PoseClassifier:
    from safetensors.numpy import load_file

    path = Path(path)
    meta = json.loads((path / META_FILE).read_text())
    fitted_on = MS.recorded_version(meta)
    if fitted_on != MS.DEFINITIONS_VERSION:
        from formclip_pipeline.core.model import ModelError

        raise ModelError(f"{path} was fitted on version {fitted_on} of the body measures and this FormClip computes "
                         f"version {MS.DEFINITIONS_VERSION}; its verdicts would read the new numbers as the old. "
                         f"Retrain it: formclip train --exercises {meta.get('exercise')} --strategy {meta.get('strategy')}"
                         f"{' --multi-class' if meta.get('multi_class') else ''}, or materialize the exercise's "
                         f"finetuned_checkpoint in Dagster")
    t = load_file(str(path / HEAD_FILE))
    clip = None
    if meta["strategy"] == "pose_clip":
        from formclip_pipeline.core.model import load_checkpoint

        clip = load_checkpoint(str(path))
    return PoseClassifier(meta["exercise"], meta["labels"], meta["classes"], meta["multi_class"], meta["strategy"],
                          meta["feature_names"], dict(t), clip, meta)


def fit_head(X: np.ndarray, y: np.ndarray, kind: str, C: float = 1.0, seed: int = 0) -> tuple[dict, list[str]]:
    """Fit a head on the features (missing values take the column's median): a multinomial logistic
    regression on standardised features, read only within the range the fit videos span
    (`PoseClassifier.class_proba`), or a forest of extremely randomised trees, which never reads
    beyond it."""
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import LogisticRegression

    medians = np.nanmedian(X, axis=0) if len(X) else np.zeros(X.shape[1])
    medians = np.where(np.isnan(medians), 0.0, medians)
    A = np.where(np.isnan(X), medians, X)
    if kind == "forest":
        forest = ExtraTreesClassifier(n_estimators=300, min_samples_leaf=1, class_weight="balanced",
                                      random_state=seed, n_jobs=1).fit(A, y)
        return {"medians": medians, **forest_arrays(forest)}, list(forest.classes_)
    mean, scale = A.mean(0), A.std(0)
    scale = np.where(scale < 1e-9, 1.0, scale)
    model = LogisticRegression(C=C, max_iter=5000, class_weight="balanced").fit((A - mean) / scale, y)
    coef, intercept = model.coef_, model.intercept_
    if coef.shape[0] == 1:  # sklearn keeps one row for two classes
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return {"medians": medians, "mean": mean, "scale": scale, "coef": coef, "intercept": intercept,
            "fit_low": A.min(0), "fit_high": A.max(0)}, list(model.classes_)


HEADS = (*((f"logistic C={c:g}", "logistic", c) for c in C_GRID), ("forest", "forest", 1.0))


def _good_threshold(p_good: np.ndarray, is_good: np.ndarray) -> float:
    """The P(good form) cut with the best balanced accuracy: good form is one class against several
    faults, so its probability rarely reaches a half even when it leads."""
    from sklearn.metrics import balanced_accuracy_score

    cuts = np.linspace(0.05, 0.95, 19)
    return float(max(cuts, key=lambda c: (balanced_accuracy_score(is_good, p_good >= c), -abs(c - 0.5))))


def _choose_head(X: np.ndarray, y: np.ndarray, multi_class: bool, seed: int = 0) -> tuple[tuple, dict, float]:
    """The head (a logistic regression at one of C_GRID, or the forest) with the best balanced accuracy
    over stratified folds of the fit videos (each video is one sample, so none is in two folds), and
    its cut on P(good form), below which a video is called faulty in both tasks. With a class of one
    video there is nothing to fold, and the logistic regression at C=1 is taken with the cut at a half."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold

    default = next(h for h in HEADS if h[1] == "logistic" and h[2] == 1.0)
    folds = min(5, int(pd.Series(y).value_counts().min()))
    if folds < 2:
        return default, {}, 0.5
    scores, cuts = {}, {}
    is_good = y == GOOD_CLASS
    for name, kind, c in HEADS:
        proba = np.zeros((len(y), len(set(y))))
        classes = sorted(set(y))
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
            head, fitted = fit_head(X[tr], y[tr], kind, c, seed)
            clf = PoseClassifier("", fitted, fitted, True, "pose", list(range(X.shape[1])), head)
            proba[np.ix_(te, [classes.index(f) for f in fitted])] = clf.class_proba(pd.DataFrame(X[te]))
        p_good = proba[:, classes.index(GOOD_CLASS)]
        cuts[name] = _good_threshold(p_good, is_good)
        if multi_class:
            pred = np.array(classes)[called(proba, classes, cuts[name])]
            scores[name] = float(balanced_accuracy_score(y, pred))
        else:
            scores[name] = float(balanced_accuracy_score(is_good, p_good >= cuts[name]))
    best = max(HEADS, key=lambda h: (scores[h[0]], h == default))  # ties: the plain regression
    return best, scores, cuts.get(best[0], 0.5)


# What a head may read, chosen by cross-validation with the head. Both sets hold every feature read
# against good form at the camera's angle (good_form), the reps' profile's too; the profile as read
# is the second set's extra. Nested cross-validation scored that 0.02-0.06 higher (binary) on the
# squat, the row and the overhead press than keeping the profile's out of the first set
# (docs/benchmarks.md).
FEATURE_SETS = {
    "summaries": lambda feature: good_form.is_at_angle(feature) or not is_rep_profile(feature),
    "summaries and rep profile": lambda feature: True,
}


def choose_features(X: pd.DataFrame, y: np.ndarray, multi_class: bool) -> tuple[list[str], tuple, dict, float]:
    """The feature set (FEATURE_SETS) and head with the best cross-validated balanced accuracy on the
    fit videos: the columns, the head, every pair's score keyed "features / head", and the cut on
    P(good form). Ties go to the smaller set.

    The reps' profile is what tells a deadlift's hips shooting up, or a press's bar drifting, from
    good form; on a lift whose faults show in the summaries it is only more features for 20 videos
    a class to fit. Chosen inside each fold of a nested cross-validation, the choice kept the row's
    and the bench press's figures and lifted the deadlift's and the overhead press's
    (docs/benchmarks.md)."""
    best, scores = None, {}
    for set_name, keep in FEATURE_SETS.items():
        columns = [c for c in X.columns if keep(c)]
        head, head_scores, cut = _choose_head(X[columns].to_numpy(np.float64), y, multi_class)
        scores.update({f"{set_name} / {h}": s for h, s in head_scores.items()})
        score = head_scores.get(head[0], 0.0)
        if best is None or score > best[0]:
            best = (score, columns, (f"{set_name} / {head[0]}", *head[1:]), cut)
    return best[1], best[2], scores, best[3]


def _judges(feature: str, judged_by: set[str]) -> bool:
    """Whether a head reads this feature: a summary of a measure the catalogue names for the lift's
    classes (all measures where it names none), the reps' tempo, or an image embedding.

    Measures no class names are left out. They add noise for a head fitted on 20 videos per class,
    and cues a coach would not use, such as the camera's angle, which tells apart the views a fault
    was filmed from rather than the fault. Nested cross-validation over 112-140 cached synthetic
    videos per lift gained 0.03 binary balanced accuracy and 0.01 macro-F1 on average, and up to
    0.07 (docs/benchmarks.md)."""
    measure = MS.measure_of(feature)
    return measure is None or not judged_by or measure in judged_by


def train_pose_classifier(poses: pd.DataFrame, frames: pd.DataFrame, exercise: str, strategy: str,
                          multi_class: bool, base_model: str | None = None, log=print) -> tuple[PoseClassifier, dict]:
    """Fit on the train and validation videos, the head chosen by cross-validation over them (with a
    handful of videos per class, one validation split is too few to choose by).

    The split of each video comes from `frames` (grouped by video); the test split is never read.
    """
    if strategy not in POSE_STRATEGIES:
        raise ValueError(f"{strategy!r} is not a pose strategy ({', '.join(POSE_STRATEGIES)})")
    ex = get_exercise(exercise)
    clip = None
    if strategy == "pose_clip":
        from formclip_pipeline.core.bases import load_clip

        clip = load_clip(base_model)
    videos = frames.drop_duplicates("video_sha256").set_index("video_sha256")[["form_class", "split"]]
    fit_videos = videos[videos["split"].isin(["train", "val"])]
    if fit_videos.empty:
        raise ValueError(f"no training videos for {exercise}: the train split is empty")
    missing = [c for c in ex.class_names if c not in set(fit_videos["form_class"])]
    if multi_class and missing:
        raise ValueError(f"no training videos of class {', '.join(missing)} for {exercise}")
    if GOOD_CLASS in missing:
        raise ValueError(f"no training videos of {GOOD_CLASS} for {exercise}")
    if "back_rounding" in ex.judged_by and "trunk_outline" not in poses:
        log(f"these poses of {exercise} were read without the trunk's outline, so the back's rounding is not "
            f"judged; extract them again (materialize pose_landmarks) to judge it")
    probe = PoseClassifier(exercise, [], [], multi_class, strategy, [], {}, clip=clip)
    X = probe.features(poses[poses["video_sha256"].isin(fit_videos.index)],
                       frames[frames["video_sha256"].isin(fit_videos.index)])
    X = X.reindex(fit_videos.index)
    detection = X.pop("detection_rate")
    angle = good_form.frontality(X)
    X = X[[c for c in X.columns if _judges(c, ex.judged_by)]]
    y = fit_videos["form_class"].to_numpy()
    measured = [c for c in X.columns if not c.startswith("clip_")]
    lines = good_form.angle_lines(X[measured], y == GOOD_CLASS, angle)
    angle = np.where(np.isnan(angle), lines[ANGLE_DEFAULT][0], angle)
    X = good_form.against_angle(X, measured, lines, angle)
    features, (name, kind, c), scores, cut = choose_features(X, y, multi_class)
    if scores:
        log(f"{strategy}: cross-validated balanced accuracy by features and head {scores}; using {name}")
    A = X[features].to_numpy(np.float64)
    head, classes = fit_head(A, y, kind, c)
    head["good_threshold"] = np.array([cut])
    at_angle = [measured.index(good_form.as_read(f)) for f in features if good_form.is_at_angle(f)]
    if at_angle:
        head.update({ANGLE_INTERCEPT: lines[ANGLE_INTERCEPT][at_angle], ANGLE_SLOPE: lines[ANGLE_SLOPE][at_angle],
                     ANGLE_DEFAULT: lines[ANGLE_DEFAULT]})
    head.update(familiarity.reference(A, features))
    head.update(good_form.ranges(A, y == GOOD_CLASS))
    clf = PoseClassifier(exercise, ex.labels(multi_class), classes, multi_class, strategy, features, head, clip)
    info = {"head": name, "cv_scores": scores, "good_threshold": cut, "fit_videos": int(len(fit_videos)),
            "detection_rate": float(detection.mean())}
    return clf, info


def evaluate_pose_classifier(clf: PoseClassifier, poses: pd.DataFrame, frames: pd.DataFrame) -> dict:
    """Video-level metrics on the test split (a pose model has no per-frame verdicts), each video
    judged as scoring judges it: the head with the coach's checks taken in (core.checks). The head's
    own figures are kept beside them under "head_only"."""
    from formclip_pipeline.core import checks as C
    from formclip_pipeline.core.metrics import video_scores

    test = frames[frames["split"] == "test"].drop_duplicates("video_sha256").set_index("video_sha256")
    if test.empty:
        return {"labels": clf.labels, "frame": {"n": 0}, "video": {"n": 0}}
    X = clf.features(poses[poses["video_sha256"].isin(test.index)],
                     frames[frames["video_sha256"].isin(test.index)]).reindex(test.index)
    class_p = clf.class_proba(X)
    head = clf.label_proba(class_p)
    by_video = dict(pose_series(poses[poses["video_sha256"].isin(test.index)]))
    judged = np.array([C.judged_proba(clf.exercise, class_p[i:i + 1], clf.classes, clf.label_proba, clf.labels,
                                      C.judge_pose_table(clf.exercise, by_video[sha]))[0]
                       if sha in by_video else head[i] for i, sha in enumerate(test.index)])
    truth = [to_label(c, clf.multi_class) for c in test["form_class"]]
    origins = test["origin"].tolist() if "origin" in test else [None] * len(test)

    def judged_by(proba: np.ndarray) -> dict:
        return video_scores(truth, [clf.labels[i] for i in called(proba, clf.labels)], origins, clf.labels)

    return {"labels": clf.labels, "frame": {"n": 0}, "video": judged_by(judged), "head_only": judged_by(head)}

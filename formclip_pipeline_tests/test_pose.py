"""BlazePose on our videos, the coach's measures, and the pose strategies: what they see and how they save."""
import json

import numpy as np
import pandas as pd
import pytest

from formclip_pipeline.core import features as F
from formclip_pipeline.core import measures as MS
from formclip_pipeline.core import reps as R
from formclip_pipeline.core.pose import INDEX, N_LANDMARKS, stack_landmarks, trunk_outline
from formclip_pipeline.core.synth.generate import truth_frames, truth_path


def _landmarks(*frames: dict[str, tuple[float, float, float]], visible: float = 0.9):
    """Image and world landmark arrays, one row per frame, with the named joints placed (world y down)
    and the camera in front of the lifter, 100 pixels to the metre."""
    image = np.zeros((len(frames), N_LANDMARKS, 3), np.float32)  # pixels, as stack_landmarks gives them
    world = np.zeros((len(frames), N_LANDMARKS, 3), np.float32)
    for i, points in enumerate(frames):
        for name, p in points.items():
            world[i, INDEX[name]] = p
            image[i, INDEX[name]] = (100 * p[0], 100 * p[1], visible)
    return image, world


def _standing_lifter(knee_bend_deg: float, knee_in: float = 0.0) -> dict:
    """Both legs in the sagittal plane: hip above knee, shank vertical, thigh bent forward by the angle."""
    a = np.radians(knee_bend_deg)
    pts = {}
    for side, x in (("left", 0.15), ("right", -0.15)):
        ankle = np.array([x, 0.9, 0.0])
        knee = ankle + [0.0, -0.45, 0.0]
        knee[0] = x * (1 - knee_in)
        hip = knee + [0.0, -0.45 * np.cos(a), -0.45 * np.sin(a)]  # thigh swings back as the knee bends
        hip[0] = x
        shoulder = hip + [0.0, -0.5, 0.0]
        pts.update({f"{side}_ankle": ankle, f"{side}_knee": knee, f"{side}_hip": hip, f"{side}_shoulder": shoulder,
                    f"{side}_heel": ankle + [0.0, 0.05, -0.05], f"{side}_foot_index": ankle + [0.0, 0.05, 0.15],
                    f"{side}_ear": shoulder + [0.0, -0.2, 0.0], f"{side}_elbow": shoulder + [0.0, 0.28, 0.0],
                    f"{side}_wrist": shoulder + [0.0, 0.28, 0.25]})
    return pts


@pytest.mark.parametrize("bend", [0.0, 45.0, 90.0, 120.0])
def test_knee_flexion_is_the_bend_of_the_knee_in_degrees_seen_from_the_front(bend):
    """Filmed from the front the thigh points at the camera as the knee bends: the angle is read from
    how much shorter it stands than when the lifter stood (the first frames), not from its width."""
    m = MS.frame_measures(*_landmarks(*[_standing_lifter(0)] * 3, _standing_lifter(bend))).iloc[-1]
    assert m["knee_flexion"] == pytest.approx(bend, abs=0.5)
    assert m["hip_flexion"] == pytest.approx(bend, abs=0.5)  # upright trunk: the thigh's tilt alone
    assert m["trunk_lean"] == pytest.approx(0, abs=0.5)
    assert m["elbow_flexion"] == pytest.approx(90.0, abs=0.5)
    assert (m["hip_below_knee"] > 0) == (bend > 90.5)  # the hip drops below the knee only past a right angle


def test_knee_gap_ratio_falls_when_the_knees_cave_in():
    straight = MS.frame_measures(*_landmarks(_standing_lifter(60)))["knee_gap_ratio"].iloc[0]
    caved = MS.frame_measures(*_landmarks(_standing_lifter(60, knee_in=0.4)))["knee_gap_ratio"].iloc[0]
    assert MS.frame_measures(*_landmarks(_standing_lifter(60)))["camera_frontality"].iloc[0] > MS.SIDE_ON_BELOW
    assert straight == pytest.approx(1.0, abs=0.01) and caved == pytest.approx(0.6, abs=0.01)


def _turned(points: dict, yaw_deg: float) -> dict:
    """The lifter turned about the vertical by yaw (90: the camera sees their right side, facing right)."""
    a = np.radians(yaw_deg)
    return {k: np.array([p[0] * np.cos(a) + p[2] * np.sin(a), p[1], p[2] * np.cos(a) - p[0] * np.sin(a)])
            for k, p in points.items()}


@pytest.mark.parametrize("yaw", [90.0, 40.0, -65.0])
def test_wrist_forward_is_read_in_foot_lengths_from_any_view_that_shows_the_feet(yaw):
    """The feet are 0.2 m heel to toe with the mid-foot 0.05 m ahead of the ankle; the wrists 0.25 m
    ahead of it (one foot length past the mid-foot), then 0.45 m (two). Seen side-on or at an angle,
    either way round, the measure reads 1 and 2; from the front it cannot see forward at all."""
    near, far = _standing_lifter(0), _standing_lifter(0)
    for side in ("left", "right"):
        far[f"{side}_wrist"] = far[f"{side}_wrist"] + [0.0, 0.0, 0.2]
    m = MS.frame_measures(*_landmarks(_turned(near, yaw), _turned(far, yaw)))["wrist_forward"]
    assert m.tolist() == pytest.approx([1.0, 2.0], abs=0.01)
    assert MS.frame_measures(*_landmarks(near, far))["wrist_forward"].isna().all()


def test_joints_the_model_does_not_see_give_no_measure():
    m = MS.frame_measures(*_landmarks(_standing_lifter(60), visible=0.2))
    assert m.isna().all().all()


def _trunk(hip, shoulder, back_bump: float = 0.0, size: int = 300):
    """A silhouette of a trunk 25 px thick on each side of the line from hip to shoulder, its back
    (the side facing away from where the trunk leans) bowed out by `back_bump` px at mid-trunk, and the
    landmarks of both hips and shoulders, fully visible, in pixels."""
    hip, shoulder = np.asarray(hip, float), np.asarray(shoulder, float)
    along = shoulder - hip
    length = np.hypot(*along)
    u = along / length
    left = np.array([u[1], -u[0]])
    back = left if along[0] >= 0 else -left
    y, x = np.mgrid[0:size, 0:size]
    rel = np.stack([x - hip[0], y - hip[1]], -1)
    t, s = rel @ u / length, rel @ back
    mask = ((t > -0.1) & (t < 1.1) & (s > -25) & (s < 25 + back_bump * np.sin(np.pi * np.clip(t, 0, 1)))).astype(np.float32)
    image = np.zeros((1, N_LANDMARKS, 3), np.float32)
    for side in ("left", "right"):
        image[0, INDEX[f"{side}_hip"]] = (*hip, 1.0)
        image[0, INDEX[f"{side}_shoulder"]] = (*shoulder, 1.0)
    return mask, image


def _outlined(outline: np.ndarray):
    """Silhouettes with these trunk outlines (N x 2 x K) and no other reading."""
    from formclip_pipeline.core.pose import Silhouettes

    nothing = np.full(len(outline), np.nan)
    return Silhouettes(outline, nothing, nothing)


@pytest.mark.parametrize("facing", ["right", "left"])
def test_back_rounding_is_the_bend_of_the_trunks_outline_in_degrees(facing):
    """A trunk hinged 45 degrees: with a flat back the outline reads no bend; bowed out 30 px at mid-trunk
    (16 px beyond the straight line through the outline's ends, over 0.7 of a 170 px trunk) it reads
    the arc through it, 4 atan(2 x 16.4 / 119) = 62 degrees, whichever way the lifter faces."""
    hip, shoulder = ((100, 220), (220, 100)) if facing == "right" else ((200, 220), (80, 100))
    readings = []
    for bump in (0.0, 30.0):
        mask, image = _trunk(hip, shoulder, bump)
        outline = trunk_outline(mask, image[0])[None]
        readings.append(MS.frame_measures(image, np.zeros_like(image), _outlined(outline))["back_rounding"].iloc[0])
    assert readings[0] == pytest.approx(0.0, abs=3.0)
    assert readings[1] == pytest.approx(61.6, abs=4.0)


def test_back_rounding_is_not_read_from_an_upright_trunk_or_without_an_outline():
    """Upright, the outline is the buttocks and shoulder blades, not the spine's curve."""
    mask, image = _trunk((150, 250), (165, 80), back_bump=30.0)
    assert np.isnan(MS.frame_measures(image, np.zeros_like(image), _outlined(trunk_outline(mask, image[0])[None]))["back_rounding"]).all()
    mask, image = _trunk((100, 220), (220, 100), back_bump=30.0)
    assert np.isnan(MS.frame_measures(image, np.zeros_like(image))["back_rounding"]).all()


def _rendered_measures(tmp_path, exercise: str, classes: tuple[str, ...], views: tuple[str, ...], seed: int):
    """(form class, smoothed measures, sample times) of three rendered videos a class, read as the
    pipeline reads them: one decode, BlazePose with its segmentation mask."""
    from formclip_pipeline.core.frames import extract_dataset, video_manifest
    from formclip_pipeline.core.synth.generate import VideoSpec, generate_dataset

    specs = [VideoSpec(exercise, c, seed, f"{c}_{i}", views=views, sets=(1, 1), reps=(3, 3), size=(640, 360), fps=15)
             for c in classes for i in range(3)]
    generate_dataset(tmp_path, specs, workers=2)
    _, poses, failures = extract_dataset(video_manifest(tmp_path, exercise), frames_per_video=4)
    assert not failures
    for _, group in poses.groupby("source_video"):
        group = group.sort_values("timestamp")
        measures, _ = MS.pose_table_measures(group)
        yield group["form_class"].iloc[0], measures, group["timestamp"].to_numpy()


def test_rounded_backs_read_more_back_rounding_than_flat_ones_on_rendered_deadlifts(tmp_path):
    """Rendered deadlifts filmed from the side or at an angle: each rounded back the trunk's outline reads
    bends further than each flat one. BlazePose reads some deadlifts' trunks near upright at the
    bottom, where the outline is not read at all, so two of three a class must be read."""
    read: dict[str, list[float]] = {"good_form": [], "rounded_back": []}
    for form_class, measures, _ in _rendered_measures(tmp_path, "deadlift", tuple(read), ("side", "oblique"), 23):
        if measures["back_rounding"].notna().any():
            read[form_class].append(float(measures["back_rounding"].median()))
    assert all(len(v) >= 2 for v in read.values()), read
    assert min(read["rounded_back"]) > max(read["good_form"]) + 15, read


def test_silhouette_readings_are_the_tops_width_over_the_height_and_the_height_over_the_frames():
    """A 200 px tall lifter in a 300 px frame whose arms span 160 px across the top third reads a top
    width of 0.8 and a height of 0.67; with the arms close to the body (60 px), 0.3; a speck of a mask
    is a lost lifter, not a narrow or a short one."""
    from formclip_pipeline.core.pose import silhouette_readings

    readings = []
    for arms in ((20, 180), (70, 130)):
        mask = np.zeros((300, 300), np.float32)
        mask[50:250, 80:120] = 1.0  # trunk and legs
        mask[55:75, arms[0]:arms[1]] = 1.0  # the arms in the top third
        readings.append(silhouette_readings(mask))
    assert readings[0][0] == pytest.approx(0.8, abs=0.03)
    assert readings[1][0] == pytest.approx(0.3, abs=0.03)
    assert readings[0][1] == pytest.approx(200 / 300, abs=0.02)
    speck = np.zeros((300, 300), np.float32)
    speck[10:20, 10:15] = 1.0
    assert np.isnan(silhouette_readings(speck)).all()


def test_silhouette_drop_is_the_height_lost_against_the_videos_tallest():
    """A lifter 200 px tall at lockout who sinks to 120 px has dropped 0.4 of the tallest; frames without
    a mask stay unread, and without masks at all the measure is NaN throughout."""
    from formclip_pipeline.core.pose import Silhouettes

    heights = np.array([200, 200, 160, 120, np.nan, 160, 200, 200, 200, 200, 200], float) / 300
    nothing = np.full(len(heights), np.nan)
    image = np.zeros((len(heights), N_LANDMARKS, 3), np.float32)
    silhouettes = Silhouettes(np.full((len(heights), 2, 15), np.nan), nothing, heights)
    drop = MS.frame_measures(image, image, silhouettes)["silhouette_drop"].to_numpy()
    assert drop[3] == pytest.approx(0.4, abs=1e-6) and drop[0] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(drop[4])
    assert MS.frame_measures(image, image)["silhouette_drop"].isna().all()


def test_flared_elbows_read_a_wider_silhouette_top_on_bench_presses_filmed_from_the_feet(tmp_path):
    """Rendered bench presses filmed from the feet end: there BlazePose's landmarks do not tell flared
    elbows from tucked ones, but the silhouette's top does, at the bottom of each rep. Per video its
    high (as the heads read it, `summarise`), compared by the class medians: the mask of one lifter
    in a few jumps about, and one video must not decide."""
    widest: dict[str, list[float]] = {"good_form": [], "flared_elbows": []}
    for form_class, measures, times in _rendered_measures(tmp_path, "bench_press", tuple(widest), ("front",), 31):
        assert measures["silhouette_top_width"].notna().mean() > 0.5
        widest[form_class].append(F.summarise(measures, times, "elbow_flexion")["silhouette_top_width_high"])
    assert np.median(widest["flared_elbows"]) > np.median(widest["good_form"]) + 0.05, widest


def test_bounced_bench_reps_spend_less_of_themselves_going_down_on_the_silhouette(tmp_path):
    """Rendered bench presses filmed at an angle: found on the silhouette's drop (the bench press's primary
    measure), a bounced rep spends a smaller share of itself going down than a rep with a controlled
    touch. Compared by the class medians over three videos a class."""
    from formclip_pipeline.catalog import get_exercise

    primary = get_exercise("bench_press").primary_measure
    assert primary == "silhouette_drop"
    tempo: dict[str, list[dict]] = {"good_form": [], "bounce_off_chest": []}
    for form_class, measures, times in _rendered_measures(tmp_path, "bench_press", tuple(tempo), ("oblique",), 41):
        assert measures[primary].notna().mean() > 0.8
        tempo[form_class].append(R.tempo(R.Reps.of(measures[primary].to_numpy(), times, MS.MEASURES[primary].scale)))
    median = {c: pd.DataFrame(rows).median() for c, rows in tempo.items()}
    assert median["bounce_off_chest"]["descent_share"] < median["good_form"]["descent_share"] - 0.03, median


def test_smoothing_fills_short_gaps_only_and_removes_a_spike():
    x = np.array([10, 11, np.nan, 13, 14, 80, 16, 17, np.nan, np.nan, np.nan, 21, 22], float)
    s = MS.smooth(x)
    assert not np.isnan(s[2]) and np.isnan(s[9])
    assert s[5] < 20  # the one-frame spike is a tracking glitch, not a movement


def test_blazepose_follows_the_synthetic_lifter_and_the_measures_follow_the_truth(squat_videos, squat_poses):
    """On every rendered squat the lifter is found in most samples, the measured knee flexion moves
    with the generator's own knee angle, and the deepest point is measured within a few degrees."""
    _, results = squat_videos
    by_video = {r["video"].split("/")[-1]: r for r in results}
    correlations, depth_errors = [], []
    for name, group in squat_poses.groupby("source_video"):
        group = group.sort_values("timestamp")
        truth = by_video[name]["truth"]
        image, world, detected = stack_landmarks(group)
        assert detected.mean() > 0.6, f"{name} ({truth['view']}): lifter found in {detected.mean():.0%} of samples"
        knee = MS.smoothed_measures(image, world)["knee_flexion"].to_numpy()
        idx = truth_frames(truth, group["timestamp"])
        true_flexion = 180 - np.asarray(truth["pose"]["knee_angle"])[idx]
        ok = ~np.isnan(knee)
        correlations.append(np.corrcoef(knee[ok], true_flexion[ok])[0, 1])
        depth_errors.append(abs(np.percentile(knee[ok], 95) - np.percentile(true_flexion, 95)))
    assert np.median(correlations) > 0.85 and min(correlations) > 0.5
    # The generator's standing knee already reads about 11 degrees (a sideways kink the sagittal
    # measure does not count), so the deepest point is the fair comparison; it decides depth faults.
    assert np.median(depth_errors) < 15, depth_errors


def test_rep_profile_reads_a_joint_that_straightens_early_on_the_way_back():
    """Hips shooting up in a deadlift: the knees follow the hips down, then straighten ahead of
    them on the way up. The profile reads that from the primary measure's excursion, at any tempo."""
    times = np.arange(0, 12, 1 / 8)
    phase = (times % 3) / 3  # a 3-second rep, four of them
    hip = 100 * np.sin(np.pi * phase) ** 2  # out to 100 degrees and back
    back = phase > 0.5
    knee_lead = np.where(back, 60 * (hip / 100) ** 3, 60 * hip / 100)  # straightens early on the way back
    knee_even = 60 * hip / 100
    m = pd.DataFrame({"hip_flexion": hip, "knee_flexion": knee_lead, "trunk_lean": knee_even})
    f = F.summarise(m, times, "hip_flexion")
    assert f["trunk_lean_out_60"] == pytest.approx(36, abs=4) and abs(f["trunk_lean_back_minus_out_60"]) < 4
    assert f["knee_flexion_out_60"] == pytest.approx(36, abs=4)
    assert f["knee_flexion_back_minus_out_60"] < -15  # 60 * 0.6 ** 3 = 13 against 36 on the way out
    assert all(R.is_rep_profile(k) for k in f if k.endswith(("_out_30", "_back_90", "_back_minus_out_60")))
    assert not R.is_rep_profile("knee_flexion_at_depth") and not R.is_rep_profile("descent_share")
    # A stretch with no whole rep has a profile of NaN, not of zeros.
    still = F.summarise(m.iloc[:5], times[:5], "hip_flexion")
    assert np.isnan(still["knee_flexion_back_minus_out_60"])


@pytest.mark.parametrize("telling", ["summaries", "profile"])
def test_training_reads_the_rep_profile_only_where_it_tells_the_classes_apart(telling):
    from formclip_pipeline.core.pose_classifier import choose_features

    rng = np.random.default_rng(1)
    y = np.repeat(["good_form", "hips_shoot_up", "bar_drift"], 20)
    code = pd.factorize(y)[0].astype(float)
    summaries = pd.DataFrame(rng.normal(size=(60, 6)), columns=[f"knee_flexion_{s}" for s in F.STATS])
    profile = pd.DataFrame(rng.normal(size=(60, 6)), columns=[f"knee_flexion_{k}_{p}" for k in R.PROFILE_LEGS
                                                                 for p in R.PROFILE_POINTS])
    (summaries if telling == "summaries" else profile).iloc[:, 0] += 3 * code
    (summaries if telling == "summaries" else profile).iloc[:, 1] += 3 * (code == 1)
    columns, head, scores, _ = choose_features(summaries.join(profile), y, multi_class=True)
    assert any(R.is_rep_profile(c) for c in columns) == (telling == "profile")
    assert {k.split(" / ")[0] for k in scores} == {"summaries", "summaries and rep profile"}


def test_pose_classifier_saves_without_pickle_and_reloads_to_the_same_verdicts(squat_frames, squat_poses, tmp_path):
    from formclip_pipeline.catalog import get_exercise
    from formclip_pipeline.core.pose_classifier import (is_pose_checkpoint, load_pose_classifier,
                                                        train_pose_classifier)

    for strategy, multi_class in (("pose", True), ("pose", False), ("pose_clip", True)):
        clf, info = train_pose_classifier(squat_poses, squat_frames, "squat", strategy, multi_class,
                                          base_model="formclip-tiny-init", log=lambda _: None)
        assert clf.labels == (["good_form", "partial_depth", "knee_valgus", "chest_collapse", "bouncing"]
                              if multi_class else ["good_form", "bad_form"])
        # The head reads the measures the catalogue names for the squat's classes, never the camera's angle.
        read = {MS.measure_of(f) for f in clf.feature_names} - {None}
        assert read == get_exercise("squat").judged_by and "camera_frontality" not in read
        assert {"rep_seconds", "descent_share", "far_end_share"} <= set(clf.feature_names)
        X = clf.features(squat_poses, squat_frames)
        before = clf.predict_proba(X)
        assert np.allclose(before.sum(1), 1) and before.shape == (len(X), len(clf.labels))
        path = tmp_path / f"{strategy}_{multi_class}"
        clf.save(path, {"strategy": strategy})
        names = {p.name for p in path.iterdir()}
        assert "pose_head.safetensors" in names and not any(n.endswith((".pkl", ".pt", ".bin", ".joblib")) for n in names)
        assert ("model.safetensors" in names) == (strategy == "pose_clip")
        assert is_pose_checkpoint(path) and json.loads((path / "formclip.json").read_text())["feature_names"]
        again = load_pose_classifier(path)
        assert np.allclose(again.predict_proba(again.features(squat_poses, squat_frames)), before, atol=1e-5)
        first = X.iloc[0].to_dict()
        assert again.against_good_form(first) == clf.against_good_form(first)
        # Each measure is also read against the good-form fit videos at the camera's angle (good_form).
        assert any(f.endswith("_against_good_form_at_angle") for f in clf.feature_names)
        for kept in ("good_form_low", "good_form_high", "good_form_videos", "at_angle_intercept", "at_angle_slope"):
            assert np.array_equal(again.head[kept], clf.head[kept], equal_nan=True)
    # A head fitted before a measure's definition changed would read the new numbers as the old.
    meta = json.loads((path / "formclip.json").read_text())
    assert meta["measures_version"] == MS.DEFINITIONS_VERSION
    del meta["measures_version"]
    (path / "formclip.json").write_text(json.dumps(meta))
    from formclip_pipeline.core.model import ModelError

    with pytest.raises(ModelError, match="version 1 of the body measures.*formclip train --exercises squat"):
        load_pose_classifier(path)


def test_a_report_cites_the_measures_furthest_outside_the_good_form_videos_range():
    """Ranges come from the good-form videos alone; a measure is cited only well past its range, a
    profile point never (it has no words), and a range every good video read alike is not a hair wide."""
    from formclip_pipeline.core import good_form

    rng = np.random.default_rng(0)
    names = ["trunk_lean_at_depth", "knee_flexion_high", "hip_below_knee_low", "knee_flexion_out_30", "rep_seconds"]
    good = np.column_stack([rng.uniform(30, 40, 12), rng.uniform(140, 150, 12), np.full(12, -0.98),
                            rng.uniform(50, 60, 12), rng.uniform(1.8, 2.2, 12)])
    faults = np.column_stack([rng.uniform(55, 70, 12), rng.uniform(100, 120, 12), np.full(12, -0.5),
                              rng.uniform(50, 60, 12), rng.uniform(1.0, 1.4, 12)])
    X = np.vstack([good, faults])
    head = good_form.ranges(X, np.r_[np.ones(12, bool), np.zeros(12, bool)])
    low, high = head[good_form.LOW], head[good_form.HIGH]
    assert 30 <= low[0] < 33 and 37 < high[0] <= 40 and high[1] <= 150 and head[good_form.COUNT][0] == 12

    def cited(**values):
        return good_form.outside(head, {**dict(zip(names, good[0])), **values}, names)["outside"]

    assert cited() == []
    leaning = cited(trunk_lean_at_depth=60.0, knee_flexion_high=128.0)
    assert [c["feature"] for c in leaning] == ["trunk_lean_at_depth", "knee_flexion_high"]
    assert leaning[0]["value"] == 60.0 and leaning[0]["good_form_range"] == [round(low[0], 1), round(high[0], 1)]
    assert leaning[0]["text"].startswith("trunk lean at depth 60.0 degrees (the model's good-form videos: ")
    assert cited(knee_flexion_out_30=200.0) == [] and cited(hip_below_knee_low=-0.96) == []
    assert [c["feature"] for c in cited(rep_seconds=0.9)] == ["rep_seconds"]
    # Fewer than three good-form videos say nothing about a range.
    sparse = good_form.ranges(X, np.r_[np.ones(2, bool), np.zeros(22, bool)])
    assert good_form.has_ranges(head) and not good_form.has_ranges(sparse)


def test_measures_read_against_good_form_at_the_cameras_angle_undo_a_view_that_stands_for_the_class():
    """Good form filmed from every angle, the fault only side-on, where the measure reads high anyway:
    read as it is, side-on good form looks like the fault; read against the good-form videos' line
    at the same angle, it does not."""
    from sklearn.metrics import balanced_accuracy_score

    from formclip_pipeline.core import good_form
    from formclip_pipeline.core.pose_classifier import PoseClassifier, fit_head

    rng = np.random.default_rng(3)

    def videos(n, angles, fault):
        angle = rng.uniform(*angles, n)
        lean = 35 + 25 * (1 - angle) + 4 * fault + rng.normal(0, 1.0, n)
        return pd.DataFrame({"trunk_lean_at_depth": lean, good_form.FRONTALITY: angle})

    fit = pd.concat([videos(40, (0.0, 0.7), 0), videos(40, (0.0, 0.25), 1)], ignore_index=True)
    y = np.repeat(["good_form", "chest_collapse"], 40)
    test = pd.concat([videos(40, (0.0, 0.25), 0), videos(40, (0.0, 0.25), 1)], ignore_index=True)
    lines = good_form.angle_lines(fit[["trunk_lean_at_depth"]], y == "good_form", good_form.frontality(fit))
    # The line runs through the good-form videos alone: 60 degrees side-on, 25 less facing the camera.
    assert abs(lines[good_form.ANGLE_INTERCEPT][0] - 60) < 1.5 and abs(lines[good_form.ANGLE_SLOPE][0] + 25) < 3

    def side_on_accuracy(columns):
        X = good_form.against_angle(fit, ["trunk_lean_at_depth"], lines, good_form.frontality(fit))
        T = good_form.against_angle(test, ["trunk_lean_at_depth"], lines, good_form.frontality(test))
        head, classes = fit_head(X[columns].to_numpy(float), y, "logistic")
        clf = PoseClassifier("", classes, classes, True, "pose", columns, head)
        return balanced_accuracy_score(np.repeat(["good_form", "chest_collapse"], 40),
                                       np.array(classes)[clf.class_proba(T).argmax(1)])

    as_read = side_on_accuracy(["trunk_lean_at_depth"])
    against = side_on_accuracy(["trunk_lean_at_depth", good_form.at_angle("trunk_lean_at_depth")])
    assert against >= 0.9 and against > as_read + 0.1
    # An unread angle takes the fit videos' median; a lifter lying down (far above 1) is clipped to facing.
    unread = pd.DataFrame({good_form.FRONTALITY: [np.nan, 5.4]})
    assert good_form.frontality(unread, 0.3).tolist() == [0.3, 1.0]
    assert good_form.as_read(good_form.at_angle("knee_flexion_out_30")) == "knee_flexion_out_30"


def test_pose_strategy_separates_depth_on_videos_it_never_saw(squat_frames, squat_poses):
    """Trained without the test videos, the pose model ranks the shallow squat's test video as more
    likely partial depth than the good squat's; from the image alone the untrained base cannot."""
    from formclip_pipeline.core.pose_classifier import train_pose_classifier

    clf, _ = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", True, log=lambda _: None)
    test = squat_frames[squat_frames["split"] == "test"].drop_duplicates("video_sha256").set_index("video_sha256")
    X = clf.features(squat_poses[squat_poses["video_sha256"].isin(test.index)], None).reindex(test.index)
    p = pd.DataFrame(clf.predict_proba(X), index=test["form_class"], columns=clf.labels)
    assert p.loc["partial_depth", "partial_depth"] > p.loc["good_form", "partial_depth"]
    deepest = X.set_index(test["form_class"])["knee_flexion_high"]
    assert deepest["good_form"] > deepest["partial_depth"] + 10


def test_scoring_with_a_pose_model_gives_each_rep_its_measures(squat_videos, squat_frames, squat_poses, tmp_path,
                                                               monkeypatch):
    from formclip_pipeline.core import good_form
    from formclip_pipeline.core.pose_classifier import train_pose_classifier
    from formclip_pipeline.core.report import render_html
    from formclip_pipeline.core.score import score_video

    result = next(r for r in squat_videos[1] if r["truth"]["form_class"] == "partial_depth")
    # pose_clip also reads the image: each rep's image embedding comes from the frames the image model read in it.
    clf, _ = train_pose_classifier(squat_poses, squat_frames, "squat", "pose_clip", True,
                                   base_model="formclip-tiny-init", log=lambda _: None)
    clf.save(tmp_path / "pose_clip_model", {"strategy": "pose_clip"})
    report, _ = score_video(result["video"], "squat", str(tmp_path / "pose_clip_model"))
    assert report["model"]["strategy"] == "pose_clip" and report["image_model_fps"] <= report["sampled_fps"]
    assert [r["measures"] for s in report["sets"] for r in s["reps"]]

    # The fixture fits on two good-form videos a class, one fewer than a range is normally drawn from.
    monkeypatch.setattr(good_form, "MIN_VIDEOS", 2)
    clf, _ = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", True, log=lambda _: None)
    clf.save(tmp_path / "pose_model", {"strategy": "pose"})
    report, extras = score_video(result["video"], "squat", str(tmp_path / "pose_model"))
    assert report["model"]["strategy"] == "pose" and 0 <= report["overall_score"] <= 100
    reps = [r for s in report["sets"] for r in s["reps"]]
    assert reps and all("knee_flexion_max" in r["measures"] for r in reps)
    assert report["pose"]["frames_with_lifter"] > 0.6
    assert extras["landmarks"].shape[1:] == (N_LANDMARKS, 3)
    # The shallow squat is told apart from the good-form videos by how far it bends, in degrees.
    against = report["against_good_form"]
    assert against["good_form_videos"] == 2 and against["outside"]
    for c in against["outside"]:
        low, high = c["good_form_range"]
        assert not low <= c["value"] <= high and c["feature"] in clf.feature_names
    assert {MS.measure_of(c["feature"]) for c in against["outside"]} & {"knee_flexion", "hip_below_knee"}
    page = render_html(report, extras)
    assert "Against the model's good-form videos" in page
    # Where the lifter is found, the report says which way the camera looked and what that view shows poorly.
    assert report["camera"]["view"] in ("front", "oblique", "side") and report["camera"]["note"] in page
    # A partial rep never bends the knee as far as the generator's good squats do (about 120+ degrees);
    # the fault may show on only some of the video's reps, so each counted rep is read against the
    # generator's rep it overlaps most.
    truth_reps = json.loads(truth_path(result["video"]).read_text())["reps"]

    def overlap(rep, t):
        return min(rep["end"], t["end_s"]) - max(rep["start"], t["start_s"])

    partial = [r for r in reps if max(truth_reps, key=lambda t: overlap(r, t))["fault"] == "partial_depth"]
    assert partial and all(r["measures"]["knee_flexion_max"] < 115 for r in partial), reps
    assert truth_path(result["video"]).exists()


def test_forest_head_saved_as_arrays_predicts_what_scikit_learn_predicts():
    from sklearn.ensemble import ExtraTreesClassifier

    from formclip_pipeline.core.pose_classifier import forest_arrays, forest_proba

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    y = np.where(X[:, 0] + X[:, 1] > 0.3, "deep", np.where(X[:, 2] > 0, "shallow", "valgus"))
    forest = ExtraTreesClassifier(n_estimators=40, random_state=0, class_weight="balanced").fit(X, y)
    unseen = rng.normal(size=(50, 6))
    assert np.allclose(forest_proba(forest_arrays(forest), unseen), forest.predict_proba(unseen))


def test_a_logistic_head_reads_no_further_than_its_fit_videos_went():
    """A measure far beyond anything the fit videos read counts as the furthest they read, so the head
    is no surer there than at the edge of what it saw; within the range nothing changes."""
    from formclip_pipeline.core.pose_classifier import PoseClassifier, fit_head

    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 2))
    y = np.where(X[:, 0] - 0.5 * X[:, 1] > 0, "good_form", "partial_depth")
    head, classes = fit_head(X, y, "logistic", C=1.0)
    clf = PoseClassifier("squat", classes, classes, True, "pose", ["a", "b"], head)
    edge = np.array([[X[:, 0].max(), X[:, 1].min()]])
    far = np.array([[X[:, 0].max() + 50.0, X[:, 1].min() - 50.0]])
    proba = clf.class_proba(pd.DataFrame(np.vstack([edge, far, X[:5]]), columns=["a", "b"]))
    assert np.allclose(proba[0], proba[1])
    z = (X[:5] - head["mean"]) / head["scale"] @ head["coef"].T + head["intercept"]
    inside = np.exp(z - z.max(1, keepdims=True))
    assert np.allclose(proba[2:], inside / inside.sum(1, keepdims=True))


def test_binary_verdict_uses_the_cross_validated_cut_on_good_form(squat_frames, squat_poses):
    """Good form is one class against four faults, so its probability is cut where cross-validation
    balanced the two errors, and that cut maps to even odds."""
    from formclip_pipeline.core.pose_classifier import train_pose_classifier

    clf, info = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", False, log=lambda _: None)
    assert 0.05 <= info["good_threshold"] <= 0.95
    X = clf.features(squat_poses, None)
    p_good = clf.class_proba(X)[:, clf.classes.index("good_form")]
    verdict = clf.predict_proba(X)[:, 0] >= 0.5
    assert (verdict == (p_good >= info["good_threshold"])).all()


def test_a_model_naming_faults_makes_the_same_good_or_bad_call_as_its_cut(squat_frames, squat_poses):
    """A model that names faults calls a lift faulty where P(good form) is under its cross-validated
    cut, as a binary model does, even where good form is the likeliest single class, and then names
    the likeliest fault."""
    from formclip_pipeline.catalog import called
    from formclip_pipeline.core.pose_classifier import train_pose_classifier

    clf, info = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", True, log=lambda _: None)
    X = clf.features(squat_poses, None)
    raw = clf.class_proba(X)
    p_good = raw[:, clf.classes.index("good_form")]
    proba = clf.predict_proba(X)
    assert np.allclose(proba.sum(1), 1)
    calls = np.array(clf.labels)[called(proba, clf.labels)]
    assert ((calls == "good_form") == (p_good >= info["good_threshold"])).all()
    faulty = calls != "good_form"
    fault_columns = [clf.classes.index(c) for c in clf.labels if c != "good_form"]
    likeliest = np.array([c for c in clf.labels if c != "good_form"])[raw[:, fault_columns].argmax(1)]
    assert (calls[faulty] == likeliest[faulty]).all()
    # Good form leading four faults by its single share is still a faulty lift where it is under a half.
    assert called(np.array([[0.4, 0.15, 0.15, 0.15, 0.15]]), ["good_form", "a", "b", "c", "d"])[0] == 1
    assert called(np.array([[0.5, 0.5]]), ["good_form", "bad_form"])[0] == 0


def test_a_video_without_a_person_is_refused_by_a_pose_model_in_one_sentence(squat_frames, squat_poses, tmp_path):
    import subprocess

    from formclip_pipeline.core.pose_classifier import train_pose_classifier
    from formclip_pipeline.core.errors import ScoreError
    from formclip_pipeline.core.score import score_video
    from formclip_pipeline.core.video import ffmpeg_exe

    clf, _ = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", True, log=lambda _: None)
    clf.save(tmp_path / "pose_model", {"strategy": "pose"})
    empty = tmp_path / "empty gym.mp4"  # moving pictures, no person
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=640x360:rate=25:duration=4", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(empty)],
                   check=True)
    with pytest.raises(ScoreError, match=r"empty gym.mp4: the lifter was found in \d+% of the sampled frames"):
        score_video(str(empty), "squat", str(tmp_path / "pose_model"))


def test_a_lift_unlike_the_training_videos_gets_its_measures_and_no_verdict(squat_frames, squat_poses,
                                                                             lifter_per_exercise, tmp_path):
    """A squat model shown an overhead press: the reps and measures are reported, the scores, classes
    and issues are withheld, and the report says why instead of giving a confident verdict."""
    from formclip_pipeline.core.pose_classifier import train_pose_classifier
    from formclip_pipeline.core.report import render_html
    from formclip_pipeline.core.score import UNSURE, score_video

    clf, _ = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", True, log=lambda _: None)
    clf.save(tmp_path / "pose_model", {"strategy": "pose"})
    report, extras = score_video(lifter_per_exercise["ohp"], "squat", str(tmp_path / "pose_model"))
    assert report["familiarity"]["familiar"] is False and report["familiarity"]["reasons"]
    assert report["verdict"]["label"] == UNSURE and not report["verdict"]["confident"]
    assert "unlike the training videos" in report["verdict"]["reason"]
    assert report["overall_score"] is None and all(s["form_score"] is None and not s["issues"] for s in report["sets"])
    reps = [r for s in report["sets"] for r in s["reps"]]
    assert reps and all(r["form_class"] == UNSURE and r["measures"] for r in reps)
    assert report["recommendations"][0].startswith("No verdict: this video is unlike")
    page = render_html(report, extras)
    assert "No verdict" in page and "/100" not in page

    same_kind = score_video(lifter_per_exercise["squat"], "squat", str(tmp_path / "pose_model"))[0]
    assert same_kind["familiarity"]["familiar"] is True
    assert same_kind["verdict"]["label"] in clf.labels and 0 <= same_kind["overall_score"] <= 100


def test_without_a_loadable_base_the_exercise_is_recognised_from_the_joints_alone(squat_frames, squat_poses,
                                                                                lifter_per_exercise, tmp_path):
    """Offline, the default base (ViT-B/32) cannot be downloaded: scoring without --exercise still
    names the lift from the joints, and says that the image model had no say."""
    from formclip_pipeline.core.pose_classifier import train_pose_classifier
    from formclip_pipeline.core.score import score_video

    clf, _ = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", True, log=lambda _: None)
    clf.save(tmp_path / "pose_model", {"strategy": "pose"})
    (tmp_path / "not_a_clip").mkdir()
    report, _ = score_video(lifter_per_exercise["squat"], None, str(tmp_path / "pose_model"),
                            base_model=str(tmp_path / "not_a_clip"))
    recognition = report["exercise_recognition"]
    assert report["exercise"] == "squat" and recognition["exercise"] == "squat"
    assert "from_image" not in recognition and "from_pose" in recognition
    assert recognition["note"].startswith("recognised from the joints alone") and "not_a_clip" in recognition["note"]


@pytest.mark.parametrize("read", [True, False])
def test_a_faulty_deadlift_reps_frame_shows_the_back_outline_where_its_rounding_was_read(read):
    """The worst frame of a faulty rep is the deepest of those judged equally (a pose model judges a rep
    as a whole), and on a lift judged by the back's rounding it carries the outline that was read: red
    pixels out along the back, beyond the hip-to-shoulder line. The rounding is read on the deepest
    frame alone, so the outline shows only if that frame was chosen; where it was not read, none."""
    import base64
    import io

    from PIL import Image

    from formclip_pipeline.core.report import worst_frames

    mask, pose = _trunk((100, 220), (220, 100), back_bump=30.0)
    outline = trunk_outline(mask, pose[0])
    n = 5
    depth = np.array([10.0, 40.0, 90.0, 40.0, 10.0])  # the rep's far end is frame 2
    extras = {"times": np.arange(n) / 8.0, "frames": np.full((n, 300, 300, 3), 60, np.uint8),
              "proba": np.tile([0.2, 0.8], (n, 1)), "labels": ["good_form", "bad_form"],
              "landmarks": np.repeat(pose, n, axis=0), "outlines": np.repeat(outline[None], n, axis=0),
              "pose_frame_size": (300, 300),
              "measures": pd.DataFrame({"hip_flexion": depth, "back_rounding": [np.nan, np.nan, 60.0 if read else np.nan,
                                                                               np.nan, np.nan]})}
    report = {"exercise": "deadlift", "sets": [{"set_number": 1, "reps": [
        {"rep_number": 1, "start": 0.0, "end": 0.5, "form_class": "bad_form", "confidence": 0.8}]}]}
    (image, _), = worst_frames(report, extras, size=300)
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(image))).convert("RGB")).astype(int)
    # Mid-trunk, 40 px out along the back's normal (up and behind the line): the outline bowed out to 55 px there.
    red = lambda p: p[0] > 150 and p[1] < 110 and p[2] < 110  # noqa: E731
    along = np.array([120.0, -120.0]) / np.hypot(120, 120)
    normal = np.array([along[1], -along[0]])
    mid = np.array([160.0, 160.0])
    band = [pixels[int(y), int(x)] for r in range(35, 70) for x, y in [mid + r * normal]]
    assert any(red(p) for p in band) == read

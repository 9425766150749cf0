import json

import numpy as np
import pytest

from formclip_pipeline.core.synth import kinematics, timeline
from formclip_pipeline.core.synth.generate import VideoSpec, contact_sheet, make_clip, render_video
from formclip_pipeline.core.video import decode, probe


def test_decoded_video_matches_its_truth(squat_videos):
    _, results = squat_videos
    for res in results[:6]:
        truth = res["truth"]
        info = probe(res["video"])
        assert info.fps == pytest.approx(truth["fps"], rel=1e-3)
        assert info.duration_s == pytest.approx(truth["duration_s"], abs=1.5 / truth["fps"])
        n = sum(1 for _ in decode(res["video"], 32, truth["fps"], info))
        assert n == truth["frame_count"]
        assert len(truth["frame_labels"]) == truth["frame_count"]


def test_truth_file_sits_beside_the_video_in_the_seed_layout(squat_videos):
    root, results = squat_videos
    res = results[0]
    video = root / "squat" / res["truth"]["form_class"] / (res["video"].rsplit("/", 1)[1])
    truth = json.loads(video.with_name(video.stem + ".truth.json").read_text())
    for key in ("exercise", "view", "form_class", "fps", "frame_count", "duration_s", "reps", "frame_labels"):
        assert key in truth
    assert truth["view"] in ("side", "front", "oblique")


def test_reps_lie_inside_the_video_and_do_not_overlap(squat_videos):
    _, results = squat_videos
    for res in results:
        truth = res["truth"]
        reps = truth["reps"]
        assert 1 <= truth["sets"] <= 2
        assert all(0 <= r["start_s"] < r["end_s"] <= truth["duration_s"] for r in reps)
        assert all(a["end_s"] <= b["start_s"] for a, b in zip(reps, reps[1:]))
        faults = {r["fault"] for r in reps} - {None}
        if truth["form_class"] == "good_form":
            assert faults == set()
        else:
            assert faults == {truth["form_class"]}


def _deepest(exercise, form_class, seed, measure, fn=min):
    """The extreme of a measure over the reps that show `form_class` (all reps for good_form)."""
    clip = make_clip(VideoSpec(exercise, form_class, seed, f"m{seed}", sets=(1, 1), reps=(4, 4)))
    values = [kinematics.measures(p)[measure] for p, st in zip(clip.poses(), clip.states)
              if st.rep is not None and st.label == form_class]
    return fn(values)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_partial_depth_reps_are_at_least_ten_degrees_shallower(seed):
    good = _deepest("squat", "good_form", seed, "knee_angle")
    partial = _deepest("squat", "partial_depth", seed + 100, "knee_angle")
    assert partial - good >= 10.0


def test_faults_change_the_measures_a_coach_would_look_at():
    body = kinematics.Body.sample(np.random.default_rng(0))
    squat = kinematics.squat
    gap_good = kinematics.measures(squat(body, 0.6, True, None, 0.5))["knee_gap_ratio"]
    gap_valgus = kinematics.measures(squat(body, 0.6, True, "knee_valgus", 0.5))["knee_gap_ratio"]
    assert gap_valgus < gap_good * 0.75
    spine_good = kinematics.measures(kinematics.deadlift(body, 1.0, False, None, 0.5))["spine_flexion"]
    spine_round = kinematics.measures(kinematics.deadlift(body, 1.0, False, "rounded_back", 0.5))["spine_flexion"]
    assert spine_round - spine_good >= 20
    lock_good = kinematics.measures(kinematics.ohp(body, 1.0, True, None, 0.5))["elbow_angle"]
    lock_partial = kinematics.measures(kinematics.ohp(body, 1.0, True, "partial_lockout", 0.5))["elbow_angle"]
    assert lock_good - lock_partial >= 20
    bench_good = kinematics.measures(kinematics.bench_press(body, 1.0, False, None, 0.5))["bar_height"]
    bench_partial = kinematics.measures(kinematics.bench_press(body, 1.0, False, "partial_range", 0.5))["bar_height"]
    assert bench_partial - bench_good >= 0.1


def test_fault_may_show_on_only_some_reps():
    rng = np.random.default_rng(5)
    partial_sets = 0
    for _ in range(40):
        plan = timeline.plan(rng, "knee_valgus", sets=(1, 1), reps=(8, 8))
        flags = [r.fault is not None for r in plan.reps]
        assert sum(flags) >= 5  # most reps of a faulty set show it
        partial_sets += not all(flags)
    assert partial_sets > 0


def test_same_seed_same_video_and_different_seed_different(tmp_path):
    spec = VideoSpec("ohp", "bar_forward", 3, "clip", sets=(1, 1), reps=(3, 3))
    a = render_video(spec, tmp_path / "a")
    b = render_video(spec, tmp_path / "b")
    c = render_video(VideoSpec("ohp", "bar_forward", 4, "clip", sets=(1, 1), reps=(3, 3)), tmp_path / "c")
    assert a["truth"] == b["truth"]
    frames_a = [f for _, f in decode(a["video"], 64, a["truth"]["fps"])]
    frames_b = [f for _, f in decode(b["video"], 64, b["truth"]["fps"])]
    assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b))
    assert a["truth"] != c["truth"]


def test_every_exercise_renders_in_portrait_and_landscape(tmp_path):
    sizes = set()
    for ex in ("squat", "deadlift", "bench_press", "row", "ohp"):
        for orientation in ("portrait", "landscape"):
            # One rep: what is under test is the frame's shape and rate, not the lift.
            res = render_video(VideoSpec(ex, "good_form", 9, f"{ex}_{orientation}", sets=(1, 1), reps=(1, 1),
                                         orientation=orientation), tmp_path)
            w, h = res["truth"]["width"], res["truth"]["height"]
            assert (h > w) == (orientation == "portrait")
            assert 24 <= res["truth"]["fps"] <= 60
            sizes.add((w, h))
    assert len(sizes) >= 2


def test_contact_sheet_is_a_picture_of_every_video(squat_videos, tmp_path):
    from PIL import Image

    _, results = squat_videos
    path = contact_sheet(results[:7], tmp_path / "preview.png", thumb=80, columns=4)
    img = Image.open(path)
    assert img.size == (320, 160)
    assert np.asarray(img).std() > 10


def _side_view_scene(**overrides):
    from dataclasses import replace

    from formclip_pipeline.core.synth import render

    rng = np.random.default_rng(5)
    body = kinematics.Body.sample(rng)
    scene = render.make_scene(rng, "squat", "side", body, size=(640, 360))
    scene = replace(scene, gain=1.0, flicker=0.0, noise=np.zeros((1, 360, 640, 1), np.int16), skin=(230, 180, 120),
                    shorts=(20, 40, 200), shirt=(30, 200, 40), **overrides)
    return render, body, scene


def test_the_nearer_solid_hides_the_farther_whatever_the_order_they_are_drawn_in():
    render, _, scene = _side_view_scene()
    cam = scene.camera
    toward = (cam.position - cam.target) / np.linalg.norm(cam.position - cam.target)
    near, far = cam.target + 0.3 * toward, cam.target - 0.3 * toward
    for order in ((near, far), (far, near)):
        solids = render._Solids(cam, np.zeros(3), light=np.array([0.0, 1.0, 0.0]))
        for centre in order:
            solids.ball(centre, 0.1, (200, 0, 0) if centre is near else (0, 0, 200))
        middle = solids.drawn().colour[cam.height // 2, cam.width // 2]
        assert middle[0] > 0 and middle[2] == 0, order


def test_a_solid_lit_from_above_is_brighter_on_top():
    render, _, scene = _side_view_scene()
    cam = scene.camera
    solids = render._Solids(cam, np.zeros(3), light=np.array([0.0, 1.0, 0.0]))
    solids.ball(cam.target, 0.15, (200, 200, 200))
    solids.drawn()
    xy, z = cam.project(cam.target[None], np.zeros(3))
    x, y = int(xy[0, 0]), int(xy[0, 1])
    reach = int(0.15 * cam.focal / z[0] * 0.7)
    assert solids.colour[y - reach, x].sum() > solids.colour[y + reach, x].sum() + 60


@pytest.mark.parametrize("hem", [0.5, 0.9])
def test_shorts_cover_the_thigh_down_to_their_hem_and_the_skin_shows_below(hem):
    render, body, scene = _side_view_scene(shorts_hem=hem, leggings=False)
    pose = kinematics.squat(body, 0.0, False, None, 0.0)
    frame = render.draw_pose(scene, body, pose, np.zeros(3))
    near = min("lr", key=lambda s: np.linalg.norm(pose.joints[f"knee_{s}"] - scene.camera.position))
    hip, knee = pose.joints[f"hip_{near}"], pose.joints[f"knee_{near}"]
    # Half way down the shorts, and half way from their hem to the knee.
    xy, _ = scene.camera.project(np.stack([hip + f * (knee - hip) for f in (hem / 2, (hem + 1) / 2)]), np.zeros(3))
    covered, bare = (frame[int(y), int(x)].astype(int) for x, y in xy)
    assert covered[2] > covered[0], covered  # the shorts' blue
    assert bare[0] > bare[2], bare  # the skin's warm tone

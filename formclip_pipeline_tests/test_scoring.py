"""Scoring new videos: reps and sets from the video, issues naming reps, reports, the watched folder."""
import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from formclip_pipeline.core import reps as R
from formclip_pipeline.core.sampling import sample_video
from formclip_pipeline.core.score import score_frames
from formclip_pipeline.core.settings import POSE_FPS, ScoringSettings
from formclip_pipeline.core.synth.generate import VideoSpec, render_video
from formclip_pipeline_tests.commands import formclip


def _oracle_proba(truth, times, labels):
    """Per-frame probabilities that say exactly what the truth says (idle counts as good form)."""
    proba = np.zeros((len(times), len(labels)))
    for i, t in enumerate(times):
        lab = truth["frame_labels"][min(int(round(t * truth["fps"])), truth["frame_count"] - 1)]
        proba[i, labels.index(lab if lab in labels else "good_form")] = 1.0
    return proba


def test_reps_and_sets_are_counted_from_the_video(squat_videos):
    _, results = squat_videos
    within_one, sets_right = 0, 0
    for res in results:
        times, frames, _ = sample_video(res["video"], ScoringSettings())
        spans = R.count_reps(R.motion_features(frames), ScoringSettings().fps)
        within_one += abs(len(spans) - len(res["truth"]["reps"])) <= 1
        sets_right += max((s.set_number for s in spans), default=0) == res["truth"]["sets"]
    assert within_one >= 0.8 * len(results)
    assert sets_right >= 0.8 * len(results)


def test_frames_pooled_a_batch_at_a_time_give_the_features_of_all_pooled_at_once():
    """Pooling in batches bounds scoring's memory; the features, and so the reps, must not move."""
    import torch
    import torch.nn.functional as F

    frames = np.random.default_rng(3).integers(0, 256, (30, 64, 48, 3), np.uint8)
    whole = torch.as_tensor(frames).permute(0, 3, 1, 2).float().mean(1, keepdim=True)
    whole = F.interpolate(whole, size=(20, 20), mode="area").flatten(1).numpy()
    whole = (whole - whole.mean(1, keepdims=True)) / (whole.std(1, keepdims=True) + 1e-6)
    for batch in (1, 7, 30, 64):
        np.testing.assert_array_equal(R.motion_features(frames, batch=batch), whole)


def test_reps_and_sets_are_counted_from_the_joints(squat_videos, squat_poses):
    """Where the lifter is tracked, the joints count the reps, and the counts match the truth."""
    from formclip_pipeline.core.measures import smoothed_measures
    from formclip_pipeline.core.pose import stack_landmarks
    from formclip_pipeline.core.score import find_reps

    _, results = squat_videos
    by_name = {Path(r["video"]).name: r["truth"] for r in results}
    exact, sets_right = 0, 0
    no_frames = np.zeros((0, 8, 8, 3), np.uint8)  # without frames the pixels count nothing: the joints alone
    for name, group in squat_poses.groupby("source_video"):
        truth = by_name[name]
        measures = smoothed_measures(*stack_landmarks(group.sort_values("timestamp"))[:2])
        spans, counted_from = find_reps("squat", measures, no_frames, POSE_FPS)
        assert counted_from == "joints", f"{name}: the knee was not tracked well enough to count by"
        exact += len(spans) == len(truth["reps"])
        sets_right += max((s.set_number for s in spans), default=0) == truth["sets"]
    assert exact >= 0.8 * len(by_name) and sets_right >= 0.8 * len(by_name)


def test_joints_that_show_no_rep_hand_the_count_to_the_pixels():
    """A tracked lifter whose joints read as standing still while the frames move is a misreading."""
    import pandas as pd

    from formclip_pipeline.core.measures import MEASURES
    from formclip_pipeline.core.score import find_reps

    fps = 8.0
    t = np.arange(0, 16, 1 / fps)
    rng = np.random.default_rng(0)
    # Half a degree of jitter on the angles, 0.005 on the ratios.
    measures = pd.DataFrame({name: 0.2 * m.scale + rng.normal(0, 0.005 * m.scale, len(t)) for name, m in MEASURES.items()})
    frames = np.zeros((len(t), 64, 64, 3), np.uint8)
    top = (8 + 36 * np.sin(np.pi * np.clip(t - 2, 0, 10) / 2.5) ** 2).astype(int)  # 4 reps of 2.5 s, then still
    for i, y in enumerate(top):
        frames[i, y:y + 12, 20:44] = 255
    assert R.joint_features(measures) is None  # jitter is no movement to count
    spans, counted_from = find_reps("squat", measures, frames, fps)
    assert counted_from == "pixels" and abs(len(spans) - 4) <= 1


def test_joint_reps_split_sets_at_rests_and_refuse_an_untracked_joint():
    fps = 4.0
    t = np.arange(0, 30, 1 / fps)
    rep = lambda t0, n: sum(np.where((t >= t0 + 2.5 * k) & (t < t0 + 2.5 * (k + 1)),  # noqa: E731
                                     110 * np.sin(np.pi * (t - t0 - 2.5 * k) / 2.5) ** 2, 0) for k in range(n))
    knee = 10 + rep(1.0, 3) + rep(14.0, 4) + np.random.default_rng(0).normal(0, 2, len(t))
    spans = R.count_reps_from_angle(knee, fps)
    assert [(s.set_number, s.rep_number) for s in spans] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3), (2, 4)]
    assert abs(spans[3].start / fps - 14.0) <= 0.75
    assert R.count_reps_from_angle(np.full(len(t), 12.0), fps) == []  # a lifter standing still
    hidden = knee.copy()
    hidden[::2] = np.nan
    assert R.count_reps_from_angle(hidden, fps) is None  # half the frames untracked: count from pixels


def _reps_signal(t: np.ndarray, starts: list[float], length: float = 2.5) -> np.ndarray:
    """0 at the start position, 1 at the turn of each rep beginning at `starts`."""
    return sum(np.where((t >= s) & (t < s + length), np.sin(np.pi * (t - s) / length) ** 2, 0.0) for s in starts)


def test_a_set_too_short_for_its_own_period_takes_the_lifters_rhythm_from_the_other_sets():
    fps = 8.0
    t = np.arange(0, 30, 1 / fps)
    rng = np.random.default_rng(1)
    lone = _reps_signal(t, [1.0])  # one rep, a rest, then five
    five = _reps_signal(t, [8.0 + 2.5 * k for k in range(5)])
    emb = np.stack([lone + five, 0.5 * (lone + five), np.cos(np.pi * (lone + five))], axis=1) + rng.normal(0, 0.02, (len(t), 3))
    spans = R.count_reps(emb, fps)
    assert [(s.set_number, s.rep_number) for s in spans] == [(1, 1)] + [(2, k) for k in range(1, 6)]


def test_rhythm_breaks_show_a_rep_counted_twice_or_lost():
    steady = [R.RepSpan(1, k + 1, 20 * k, 20 * k + 20) for k in range(6)]
    lost = [s for s in steady if s.rep_number != 3]
    twice = steady + [R.RepSpan(1, 7, 110, 120)]  # a rep split in two: half an interval
    assert R.rhythm_breaks(steady) == 0
    assert R.rhythm_breaks(lost) > 0 and R.rhythm_breaks(twice) > 0


def test_the_pixels_count_when_the_joints_lose_a_rep_inside_a_set():
    """Joints misread for one rep (the elbow hidden as a lying lifter turns) leave a double interval;
    the frames, which show every rep, keep the rhythm."""
    import pandas as pd

    from formclip_pipeline.core.measures import MEASURES
    from formclip_pipeline.core.reps import joint_reps
    from formclip_pipeline.core.score import find_reps

    fps = 8.0
    t = np.arange(0, 22, 1 / fps)
    starts = [1.0 + 2.5 * k for k in range(7)]
    seen = _reps_signal(t, [s for k, s in enumerate(starts) if k != 3])
    rng = np.random.default_rng(2)
    measures = pd.DataFrame({name: 0.2 * m.scale + rng.normal(0, 0.005 * m.scale, len(t)) for name, m in MEASURES.items()})
    measures["knee_flexion"] = 10 + 110 * seen + rng.normal(0, 1, len(t))
    measures["hip_flexion"] = 15 + 90 * seen + rng.normal(0, 1, len(t))
    frames = np.zeros((len(t), 64, 64, 3), np.uint8)
    for i, y in enumerate((8 + 36 * _reps_signal(t, starts)).astype(int)):
        frames[i, y:y + 12, 20:44] = 255
    assert len(joint_reps(measures, "knee_flexion", fps)) == 6
    spans, counted_from = find_reps("squat", measures, frames, fps)
    assert counted_from == "pixels" and len(spans) == 7
    # With every rep in the joints, they count.
    measures["knee_flexion"] = 10 + 110 * _reps_signal(t, starts) + rng.normal(0, 1, len(t))
    measures["hip_flexion"] = 15 + 90 * _reps_signal(t, starts) + rng.normal(0, 1, len(t))
    spans, counted_from = find_reps("squat", measures, frames, fps)
    assert counted_from == "joints" and len(spans) == 7


def test_the_period_is_the_full_cycle_when_one_component_repeats_twice_per_rep():
    """Going down and coming up pass through the same poses; another component tells them apart."""
    fps, period = 4.0, 2.5
    t = np.arange(0, 40, 1 / fps)
    twice_per_rep = np.abs(np.sin(2 * np.pi * t / period))
    once_per_rep = 0.3 * np.sin(2 * np.pi * t / period)
    assert R.repetition_period(twice_per_rep[:, None], fps, R.RepSettings()) == period / 2
    assert R.repetition_period(np.stack([twice_per_rep, once_per_rep], 1), fps, R.RepSettings()) == period


def test_frames_fed_to_the_model_while_decoding_are_the_image_models_frames_and_threads_come_back(squat_videos):
    import threading

    import pytest
    import torch

    video = squat_videos[1][0]["video"]
    threads = torch.get_num_threads()
    _, alone, _ = sample_video(video, ScoringSettings())
    # As many as sampled; one in four; and a rate so low that the floor of 25 frames a video sets it.
    for image_fps, min_frames, step in ((ScoringSettings().fps, 25, 1), (2.0, 1, 4), (0.1, 25, len(alone) // 25)):
        batches: list[np.ndarray] = []
        model_threads: set = set()

        def model(batch):
            batches.append(batch)
            model_threads.add(threading.get_ident())

        settings = ScoringSettings(image_fps=image_fps, min_image_frames=min_frames)
        _, frames, info = sample_video(video, settings, on_batch=model, batch=3)
        assert info["image_step"] == step and np.array_equal(frames, alone)
        assert np.array_equal(np.concatenate(batches), alone[::step]) and len(batches) > 1
        assert model_threads and threading.get_ident() not in model_threads
        assert torch.get_num_threads() == threads
    assert len(np.concatenate(batches)) >= 25

    def failing_model(batch):
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError, match="model failed"):
        sample_video(video, ScoringSettings(), on_batch=failing_model, batch=3)
    assert torch.get_num_threads() == threads


def test_frames_the_image_model_skipped_take_the_nearest_read_frames_probabilities():
    from formclip_pipeline.core.sampling import image_frames_in, spread_to_frames

    read = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]])  # frames 0, 4 and 8 of 10
    spread = spread_to_frames(read, 10, 4)
    assert spread.shape == (10, 2)
    taken = [int(np.flatnonzero((read == row).all(1))[0]) for row in spread]
    assert [abs(i - 4 * j) for i, j in enumerate(taken)] == [min(abs(i - 4 * j) for j in range(3)) for i in range(10)]
    assert taken[:2] == [0, 0] and taken[3:6] == [1, 1, 1] and taken[7:] == [2, 2, 2]
    assert image_frames_in(0, 10, 4, 10).tolist() == [0, 1, 2]
    assert image_frames_in(3, 9, 4, 10).tolist() == [1, 2]
    assert image_frames_in(5, 7, 4, 10).tolist() == [1]  # holds none: the nearest, frame 4
    assert image_frames_in(9, 10, 4, 10).tolist() == [2]


def test_issues_name_the_faulty_reps_and_when_they_start(tmp_path):
    from formclip_pipeline.catalog import get_exercise

    labels = get_exercise("squat").class_names
    checked = 0
    for seed in range(6):
        # Small and at 15 frames a second: scoring samples 8 a second, and the wording is under test.
        res = render_video(VideoSpec("squat", "partial_depth", 300 + seed, f"v{seed}", views=("side",), sets=(1, 1),
                                     reps=(5, 7), size=(640, 360), fps=15), tmp_path)
        truth = res["truth"]
        times, frames, _ = sample_video(res["video"], ScoringSettings())
        out = score_frames(times, frames, _oracle_proba(truth, times, labels), labels, "squat", ScoringSettings().fps)
        if len(out["sets"]) != 1 or len(out["sets"][0]["reps"]) != len(truth["reps"]):
            continue  # counting is measured above; here the issue wording is
        checked += 1
        faulty = [r["rep"] for r in truth["reps"] if r["fault"]]
        issue = out["sets"][0]["issues"][0]
        expect = f"rep {faulty[0]}" if len(faulty) == 1 else f"reps {faulty[0]}-{faulty[-1]}"
        assert issue["issue"] == f"Shallow depth on {expect}"
        first = next(r for r in truth["reps"] if r["fault"])
        m, s = issue["timestamp"].split(":")
        assert abs(int(m) * 60 + int(s) - first["start_s"]) <= 1.5
        assert out["overall_score"] < 80
        assert out["recommendations"][0].startswith("Squat until the hip crease")
    assert checked >= 3



@pytest.mark.parametrize("exercise, filmed", [("squat", "film from the side, from the front or behind or at about "
                                                         "45 degrees"), ("row", None)])
def test_reps_a_binary_model_flags_get_advice_a_lifter_can_use(exercise, filmed):
    """A model fitted on good form against bad names no fault: the lifter is pointed at what the report
    measured on the flagged reps and at the camera angles the coach's checks read, not at retraining."""
    times = np.arange(40) / 8.0
    spans = [R.RepSpan(1, n + 1, 10 * n, 10 * n + 10) for n in range(4)]
    proba = np.tile([0.9, 0.1], (40, 1))
    proba[10:30] = [0.2, 0.8]  # reps 2 and 3
    out = score_frames(times, np.zeros((40, 8, 8, 3), np.uint8), proba, ["good_form", "bad_form"], exercise, 8.0,
                       spans, [{} for _ in spans])
    assert out["sets"][0]["issues"][0]["issue"].startswith("Form breakdown on reps 2-3")
    advice = " ".join(out["recommendations"])
    assert "retrain" not in advice.lower() and "--multi-class" not in advice
    assert "marked form breakdown" in advice and "compare their measures in the report" in advice
    assert (filmed in advice) if filmed else ("film" not in advice)


def test_cli_score_writes_the_seed_json_and_a_self_contained_page(squat_videos, squat_model, tmp_path):
    video = squat_videos[1][0]["video"]
    res = formclip("score", video, "--exercise", "squat", "--model", squat_model, "--json", "r.json",
                   "--html", "r.html", cwd=tmp_path, check=False)
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["video"] == Path(video).name and report["exercise"] == "squat"
    assert 0 <= report["overall_score"] <= 100 and report["recommendations"]
    for s in report["sets"]:
        assert {"set_number", "form_score", "good_form_frames", "bad_form_frames", "issues", "reps"} <= set(s)
        for r in s["reps"]:
            assert {"rep_number", "start", "end", "form_class", "confidence"} <= set(r)
    assert report["model"]["path"] == str(squat_model)
    page = (tmp_path / "r.html").read_text()
    assert "data:image/png;base64," in page and "<h2>Issues</h2>" in page
    assert "http://" not in page and "https://" not in page and "src='/" not in page


def test_score_errors_are_one_sentence(squat_videos, squat_model, tmp_path):
    video = squat_videos[1][0]["video"]
    (tmp_path / "clip.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    cases = [
        (["score", tmp_path / "clip.mp4", "--exercise", "squat", "--model", squat_model], "truncated MP4"),
        (["score", video, "--exercise", "deadlift", "--model", squat_model], "was trained for squat, not deadlift"),
        (["score", video, "--exercise", "squat"], "train formclip-squat first"),
    ]
    for args, expected in cases:
        res = formclip(*args, cwd=tmp_path, check=False)
        assert res.returncode == 2, res.stderr
        assert expected in res.stderr and "Traceback" not in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # the sentence alone, no progress bars


# --- the watched folder -----------------------------------------------------------------------------

def _queued(result) -> dict[str, str | None]:
    """{video path: exercise} over the tick's run requests."""
    return {v["path"]: v["exercise"] for r in result.run_requests for v in json.loads(r.tags["formclip/videos"]).values()}


def _tick(paths, instance, cursor):
    from formclip_pipeline.sensors import incoming_video_sensor

    ctx = dg.build_sensor_context(cursor=cursor, instance=instance, resources={"paths": paths})
    result = incoming_video_sensor(ctx)
    for req in result.dynamic_partitions_requests:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return result, result.cursor


def test_sensor_waits_for_stable_files_and_never_scores_the_same_content_twice(squat_videos, tmp_path):
    from formclip_pipeline.resources import FormClipPaths

    paths = FormClipPaths(root=str(tmp_path))
    incoming = tmp_path / "data" / "incoming"
    (incoming / "squat").mkdir(parents=True)
    instance = dg.DagsterInstance.ephemeral()
    video = Path(squat_videos[1][0]["video"])
    shutil.copy(video, incoming / "squat" / "lift one.mp4")
    half = incoming / "growing.mp4"
    half.write_bytes(video.read_bytes()[:5000])
    (incoming / "copying.mp4.part").write_bytes(b"partial")
    result, cursor = _tick(paths, instance, None)
    assert result.run_requests == []  # nothing has held still for a tick yet
    with open(half, "ab") as f:  # still being copied
        f.write(video.read_bytes()[5000:20000])
    result, cursor = _tick(paths, instance, cursor)
    assert _queued(result) == {str(incoming / "squat" / "lift one.mp4"): "squat"}
    # The same content under another name, and the unchanged file, are not scored again.
    shutil.copy(video, incoming / "same content.mp4")
    result, cursor = _tick(paths, instance, cursor)
    assert _queued(result) == {str(half): None}  # finished arriving
    result, cursor = _tick(paths, instance, cursor)
    assert result.run_requests == []  # "same content.mp4" is now stable, but its content was scored
    assert "already scored" in result.skip_reason.skip_message
    # Replacing a file with new content scores it again, once.
    shutil.copy(squat_videos[1][1]["video"], incoming / "same content.mp4")
    result, cursor = _tick(paths, instance, cursor)
    result, cursor = _tick(paths, instance, cursor)
    assert list(_queued(result)) == [str(incoming / "same content.mp4")]
    result, cursor = _tick(paths, instance, cursor)
    assert result.run_requests == []


def test_video_report_writes_reports_and_records_failures(squat_videos, squat_model, tmp_path, monkeypatch):
    from formclip_pipeline.assets.scoring.video_report import video_report, videos_tag
    from formclip_pipeline.core import store
    from formclip_pipeline.partitions import incoming_videos
    from formclip_pipeline.resources import DuckDBStore, FormClipPaths

    # A champion for squat, registered as training would register it.
    tracker = store.Tracker.at_home(tmp_path)
    with tracker.run("train-squat") as run:
        version = tracker.register(run.info.run_id, "squat", "checkpoint", {"local_path": str(squat_model)})
    tracker.set_champion("squat", version)
    from formclip_pipeline.core.video import file_sha256

    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video at all")
    good = squat_videos[1][0]["video"]
    keys = {file_sha256(good)[:16]: good, file_sha256(broken)[:16]: str(broken)}
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(incoming_videos.name, list(keys))
    resources = {"paths": FormClipPaths(root=str(tmp_path)), "duckdb": DuckDBStore(root=str(tmp_path))}
    for key, path in list(keys.items()) + list(keys.items())[:1]:  # the good one twice: still one row
        result = dg.materialize([video_report], partition_key=key, resources=resources, instance=instance,
                                tags=videos_tag({key: (path, "squat")}))
        assert result.success
    rows = store.MetricsStore.at_home(tmp_path).query(
        "select video_sha256, status, reason, html_path, camera_view from scored_videos order by status")
    assert list(rows["status"]) == ["failed", "ok"]
    assert "not a video" in rows.loc[0, "reason"] and rows.loc[0, "camera_view"] is None
    assert Path(rows.loc[1, "html_path"]).exists()
    reports = list((tmp_path / "data" / "reports").glob("*.json"))
    assert len(reports) == 1
    # The table names the camera's view, as the report reads it, so videos filmed from a view that hides
    # faults can be found with one query.
    assert rows.loc[1, "camera_view"] == json.loads(reports[0].read_text())["camera"]["view"] is not None

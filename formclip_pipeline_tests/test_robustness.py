"""Nothing lost, nothing crashes: a soak through the watched folder, untrusted files, failed runs."""
import hashlib
import json
import os
import shutil
import subprocess

import dagster as dg
import pytest
import torch

from formclip_pipeline.core import store
from formclip_pipeline.core.files import atomic_path
from formclip_pipeline.core.video import ffmpeg_exe


def _register_champion(root, model_dir, exercise="squat"):
    tracker = store.Tracker.at_home(root)
    with tracker.run(f"train-{exercise}") as run:
        version = tracker.register(run.info.run_id, exercise, "checkpoint", {"local_path": str(model_dir)})
    tracker.set_champion(exercise, version)


def test_soak_100_mixed_videos_through_the_sensor(squat_videos, squat_model, tmp_path):
    """Two full batches of MAX_VIDEOS_PER_RUN, valid and broken mixed: 200 took two minutes of a
    15-minute suite and showed nothing 100 do not."""
    from formclip_pipeline.assets.scoring.video_report import video_report
    from formclip_pipeline.resources import DuckDBStore, FormClipPaths, ParquetJsonIOManager
    from formclip_pipeline.sensors import MAX_VIDEOS_PER_RUN, incoming_video_sensor

    _register_champion(tmp_path, squat_model)
    incoming = tmp_path / "data" / "incoming" / "squat"
    incoming.mkdir(parents=True)
    sources = [r["video"] for r in squat_videos[1][:4]]
    for i in range(70):  # distinct contents: a remux with its own metadata
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", sources[i % 4], "-t", "3",
                        "-c", "copy", "-metadata", f"comment=upload {i}", str(incoming / f"lift {i:03d}.mp4")],
                       check=True)
    good = (incoming / "lift 000.mp4").read_bytes()
    for i in range(30):
        bad = incoming / f"broken {i:02d}.mp4"
        if i % 3 == 0:
            bad.write_bytes(b"" if i == 0 else os.urandom(1000 + i))
        elif i % 3 == 1:
            bad.write_bytes(good[: len(good) // 3] + bytes([i]))
        else:
            bad.write_text(f"this is note {i}, not a video\n")
    paths = FormClipPaths(root=str(tmp_path))
    resources = {"paths": paths, "duckdb": DuckDBStore(root=str(tmp_path)), "io_manager": ParquetJsonIOManager(root=str(tmp_path))}
    instance = dg.DagsterInstance.ephemeral()
    cursor, launched, runs = None, [], 0
    for _ in range(3):
        ctx = dg.build_sensor_context(cursor=cursor, instance=instance, resources={"paths": paths})
        result = incoming_video_sensor(ctx)
        cursor = result.cursor
        for req in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        for run in result.run_requests:
            runs += 1
            launched += list(json.loads(run.tags["formclip/videos"]))
            # Two samples a second: this test is about nothing being lost, and each sample costs a pose.
            out = dg.materialize([video_report], resources=resources, instance=instance, tags=run.tags,
                                 run_config={"ops": {"video_report": {"config": {"fps": 2.0}}}})
            assert out.success
    assert len(launched) == len(set(launched)) == 100
    assert runs == 100 // MAX_VIDEOS_PER_RUN  # all 100 held still by the second tick: full batches
    rows = store.MetricsStore.at_home(tmp_path).query(
        "select status, count(*) n, count(distinct video_sha256) d from scored_videos group by 1")
    counts = dict(zip(rows["status"], rows["n"]))
    assert counts.get("ok", 0) + counts.get("failed", 0) == 100
    assert counts["ok"] == 70 and rows["n"].sum() == rows["d"].sum()
    assert len(list((tmp_path / "data" / "reports").glob("*.json"))) == 70
    assert len(list((tmp_path / "data" / "pipeline" / "video_report").glob("*.json"))) == 100  # one per partition


def test_checkpoints_load_from_safetensors_never_from_pickle(tmp_path, offline_cache):
    from formclip_pipeline.core import bases as B
    from formclip_pipeline.core import model as M

    B.load_clip(M.TINY_INIT_MODEL)
    pickled = tmp_path / "pickled"
    shutil.copytree(offline_cache / M.TINY_INIT_MODEL, pickled)
    state = B.load_clip(M.TINY_INIT_MODEL).model.state_dict()
    (pickled / "model.safetensors").unlink()
    torch.save(state, pickled / "pytorch_model.bin")
    with pytest.raises(M.ModelError, match=str(pickled)):
        B.load_clip(str(pickled))


def test_a_worse_model_never_takes_the_champion(tmp_path):
    from mlflow import MlflowClient

    from formclip_pipeline.core.runs import champion_gate

    versions = []
    tracker = store.Tracker.at_home(tmp_path)
    for score in (0.8, 0.6, 0.9):
        with tracker.run("train-row") as run:
            v = tracker.register(run.info.run_id, "row", "checkpoint", {})
        ck = {"exercise": "row", "model_version": v, "test_set": "same-videos"}
        versions.append((v, champion_gate(tracker, ck, {"video": {"balanced_accuracy": score}})))
    client = MlflowClient(tracking_uri=tracker.uri)
    assert [g["promoted"] for _, g in versions] == [True, False, True]
    assert "does not beat" in versions[1][1]["reason"]
    assert client.get_model_version_by_alias("formclip-row", "champion").version == versions[2][0]


def test_a_pose_champion_fitted_on_old_measures_gives_way_to_any_new_model(tmp_path):
    """It cannot load any more (load_pose_classifier refuses it), so its better score must not keep
    a model that can score in the registry's shadow."""
    from mlflow import MlflowClient

    from formclip_pipeline.core import measures as MS
    from formclip_pipeline.core.runs import champion_gate

    tracker = store.Tracker.at_home(tmp_path)
    gates = []
    for score, tags in ((0.9, {"strategy": "pose"}), (0.7, {"strategy": "pose", MS.VERSION_KEY: MS.DEFINITIONS_VERSION}),
                        (0.6, {"strategy": "pose", MS.VERSION_KEY: MS.DEFINITIONS_VERSION})):
        with tracker.run("train-squat") as run:
            v = tracker.register(run.info.run_id, "squat", "checkpoint", tags)
        gates.append(champion_gate(tracker, {"exercise": "squat", "model_version": v, "test_set": "same"},
                                   {"video": {"balanced_accuracy": score}}))
    assert [g["promoted"] for g in gates] == [True, True, False]
    assert "version 1 of the body measures" in gates[1]["reason"]
    champion = MlflowClient(tracking_uri=tracker.uri).get_model_version_by_alias("formclip-squat", "champion")
    assert str(champion.version) == "2"


def test_a_failed_write_leaves_the_previous_file_whole(tmp_path):
    target = tmp_path / "report.json"
    target.write_text('{"good": true}')
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"half')
            raise RuntimeError("killed mid-write")
    assert target.read_text() == '{"good": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def _report_run(tmp_path, key, path, instance=None):
    from formclip_pipeline.assets.scoring.video_report import video_report, videos_tag
    from formclip_pipeline.partitions import incoming_videos
    from formclip_pipeline.resources import DuckDBStore, FormClipPaths

    instance = instance or dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(incoming_videos.name, [key])
    resources = {"paths": FormClipPaths(root=str(tmp_path)), "duckdb": DuckDBStore(root=str(tmp_path))}
    return dg.materialize([video_report], partition_key=key, resources=resources, instance=instance,
                          tags=videos_tag({key: (str(path), "squat")}), raise_on_error=False)


def test_transient_errors_are_retried_and_permanent_ones_are_not(tmp_path):
    busy = tmp_path / "busy.mp4"
    busy.mkdir()  # reading it raises OSError, as a file locked by a copier does
    result = _report_run(tmp_path, "0" * 16, busy)
    assert not result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 3
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    from formclip_pipeline.core.video import file_sha256

    result = _report_run(tmp_path, file_sha256(text)[:16], text)
    assert result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert result.output_for_node("video_report")["status"] == "failed"


def test_a_video_replaced_after_queueing_is_not_scored_under_the_old_key(squat_videos, tmp_path):
    from formclip_pipeline.core.video import file_sha256

    path = tmp_path / "clip.mp4"
    shutil.copy(squat_videos[1][0]["video"], path)
    old_key = file_sha256(path)[:16]
    shutil.copy(squat_videos[1][1]["video"], path)  # replaced between the sensor tick and the run
    result = _report_run(tmp_path, old_key, path)
    assert result.success and result.output_for_node("video_report")["status"] == "replaced"
    assert not (tmp_path / "data" / "reports").exists()


def test_clips_under_one_second_still_give_frames_and_a_report(squat_videos, squat_model, tmp_path):
    from formclip_pipeline.core.frames import extract_dataset, video_manifest
    from formclip_pipeline.core.score import score_video

    folder = tmp_path / "videos" / "squat" / "good_form"
    folder.mkdir(parents=True)
    short = folder / "blink.mp4"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", squat_videos[1][0]["video"],
                    "-t", "0.6", "-an", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(short)],
                   check=True)
    frames, poses, failures = extract_dataset(video_manifest(tmp_path / "videos", "squat"), frames_per_video=5)
    assert not failures and len(frames) == 5 and len(poses) >= 2
    report, _ = score_video(str(short), "squat", str(squat_model))
    assert report["sets"] == [] and 0 <= report["overall_score"] <= 100


def _picture_model(root):
    """A squat classifier on formclip-tiny-init, trained for one epoch on frames of ffmpeg's test
    pictures (no lifter in them): enough for scoring to run through and write its report."""
    from formclip_pipeline.core.annotate import template_annotations
    from formclip_pipeline.core.frames import extract_dataset, video_manifest
    from formclip_pipeline.core.settings import TrainSettings
    from formclip_pipeline.core.train import train_classifier

    for form_class, picture in (("good_form", "testsrc2"), ("partial_depth", "smptebars")):
        for i in range(3):
            path = root / "videos" / "squat" / form_class / f"{i}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                            f"{picture}=size=96x96:rate=10:duration={2 + i}", "-pix_fmt", "yuv420p", str(path)],
                           check=True)
    frames, _, _ = extract_dataset(video_manifest(root / "videos", "squat"), frames_per_video=4, skip_first=0,
                                   skip_last=0, pose_fps=0, workers=1)
    clf, _ = train_classifier(template_annotations(frames), frames, "squat",
                              TrainSettings(base_model="formclip-tiny-init", epochs=1, strategy="flyp"),
                              log=lambda _: None)
    clf.save(root / "model", {"strategy": "flyp"})
    return root / "model"


def test_a_name_near_the_file_system_limit_gets_its_report_and_is_scored_once(tmp_path):
    """A 236-byte file name: the report's name is shortened (the content hash keeps it apart from any
    other), so the video is scored at the first try and its row written."""
    from formclip_pipeline.core.video import file_sha256

    _register_champion(tmp_path, _picture_model(tmp_path / "training"))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    videos = []
    for i, picture in enumerate(("testsrc2", "smptebars")):  # the same long name up to its last letters
        path = incoming / ("my squat " + "é" * 110 + f" take {i}.mp4")
        assert len(os.fsencode(path.name)) >= 236
        subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"{picture}=size=96x96:rate=10:duration=3", "-pix_fmt", "yuv420p", str(path)], check=True)
        videos.append(path)
    reports = set()
    for path in videos:
        result = _report_run(tmp_path, file_sha256(path)[:16], path)
        assert result.success
        assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        row = result.output_for_node("video_report")
        assert row["status"] == "ok", row["reason"]
        for report in (row["json_path"], row["html_path"]):
            assert os.path.exists(report) and len(os.fsencode(os.path.basename(report))) <= 128
            reports.add(report)
    assert len(reports) == 4
    # A path longer than the system takes at all: no retry makes it shorter, so it is a recorded failure.
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "rgbtestsrc=size=96x96:rate=10:duration=3", "-pix_fmt", "yuv420p", str(tmp_path / "third.mp4")],
                   check=True)
    data = (tmp_path / "third.mp4").read_bytes()
    folder = os.open(incoming, os.O_RDONLY)
    for _ in range(20):  # made one folder at a time, from the one before: the whole path is never spelled out
        os.mkdir("d" * 250, dir_fd=folder)
        folder, parent = os.open("d" * 250, os.O_RDONLY, dir_fd=folder), folder
        os.close(parent)
    fd = os.open("deep.mp4", os.O_WRONLY | os.O_CREAT, dir_fd=folder)
    os.write(fd, data)
    os.close(fd)
    os.close(folder)
    deep = str(incoming / "/".join(["d" * 250] * 20) / "deep.mp4")
    key = hashlib.sha256(data).hexdigest()[:16]
    result = _report_run(tmp_path, key, deep)
    assert result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    row = result.output_for_node("video_report")
    assert row["status"] == "failed" and "too long for the file system" in row["reason"]
    rows = store.MetricsStore.at_home(tmp_path).query("select status from scored_videos order by status")
    assert list(rows["status"]) == ["failed", "ok", "ok"]


def test_a_huge_file_in_the_watched_folder_is_refused_unread_and_later_drops_are_queued(tmp_path, capfd):
    """A 20 GB file (sparse: nothing on disk) is named as too large without being read, so the tick
    does not spend a minute hashing it, and the video dropped beside it is queued."""
    import time

    from formclip_pipeline.core.video import VideoError, probe
    from formclip_pipeline.resources import FormClipPaths
    from formclip_pipeline.sensors import incoming_video_sensor

    incoming = tmp_path / "data" / "incoming"
    incoming.mkdir(parents=True)
    with open(incoming / "huge.mp4", "wb") as fh:
        fh.truncate(20 * 2**30)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=96x96:rate=10:duration=2", "-pix_fmt", "yuv420p", str(incoming / "lift.mp4")],
                   check=True)
    paths, instance, cursor = FormClipPaths(root=str(tmp_path)), dg.DagsterInstance.ephemeral(), None
    seconds, queued, skips = [], [], []
    for _ in range(3):
        start = time.perf_counter()
        result = incoming_video_sensor(dg.build_sensor_context(cursor=cursor, instance=instance,
                                                               resources={"paths": paths}))
        seconds.append(time.perf_counter() - start)
        cursor = result.cursor
        for req in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        queued += [v["path"] for r in result.run_requests for v in json.loads(r.tags["formclip/videos"]).values()]
        skips.append(result.skip_reason.skip_message if result.skip_reason else "")
    assert queued == [str(incoming / "lift.mp4")]
    assert max(seconds) < 5
    refusals = [line for line in capfd.readouterr().err.splitlines() if "huge.mp4" in line]  # the sensor's log
    assert len(refusals) == 1 and "20.0 GB is more than the 4 GB a video may be" in refusals[0]
    assert "1 too large to score" in skips[2]
    with pytest.raises(VideoError, match="^huge.mp4: 20.0 GB is more than the 4 GB a video may be"):
        probe(incoming / "huge.mp4")  # as `formclip score` meets it, without the sensor

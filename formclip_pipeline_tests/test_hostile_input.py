"""Careless and hostile input, by class: every cell a spreadsheet could run, files people open,
numbers out of range. Each ends in one sentence and exit code 2, or is made harmless, and what the
person typed is never lost."""
from __future__ import annotations

import csv
import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from formclip_pipeline.core.annotate import (FORMULA_STARTS, from_spreadsheet, refresh_annotations,
                                             review_csv_path, spreadsheet_safe)

FORMULAS = ["=cmd|' /C calc'!A0", "=HYPERLINK(\"http://evil\",\"click\")", "+1+1", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1", "'=already quoted", "''", "'", "'tis fine", "plain words", ""]


@pytest.mark.parametrize("text", FORMULAS)
def test_every_text_cell_is_written_inert_and_read_back_as_typed(text):
    written = spreadsheet_safe(text)
    assert not str(written).startswith(FORMULA_STARTS)
    assert from_spreadsheet(written) == text


def test_numbers_are_not_quoted():
    assert spreadsheet_safe(-0.5) == -0.5 and spreadsheet_safe(None) is None


def test_the_review_csv_holds_no_formula_and_human_edits_starting_like_one_survive(squat_frames, tmp_path):
    frames = squat_frames.copy()
    frames["source_video"] = "=cmd|' /C calc'!A0_" + frames["source_video"]  # hostile video names
    refresh_annotations(frames, tmp_path, "squat")
    path = review_csv_path(tmp_path, "squat")
    with path.open(newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)
    table = pd.read_csv(path, dtype=str)
    for i, typed in enumerate(["=SUM(A1)", "+ better depth", "-knees in", "@coach look"]):
        table.loc[i, "description"] = typed  # as a text editor would write it, without the quote
    table.loc[4, "annotator_notes"] = "'=kept with its quote"  # as a spreadsheet keeps an escaped cell
    table.to_csv(path, index=False)
    ann = refresh_annotations(frames, tmp_path, "squat").set_index("frame_path")
    assert list(ann.loc[table["frame_path"].iloc[:4], "description"]) == ["=SUM(A1)", "+ better depth", "-knees in",
                                                                        "@coach look"]
    assert ann.loc[table["frame_path"].iloc[4], "annotator_notes"] == "=kept with its quote"
    assert ann["source_video"].str.startswith("=cmd|' /C calc'!A0_").all()
    with path.open(newline="") as fh:
        assert not any(c.startswith(FORMULA_STARTS) for row in csv.reader(fh) for c in row)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_files_and_folders_written_for_people_follow_the_umask(tmp_path, umask):
    from formclip_pipeline.core import files

    old = os.umask(umask)
    files._umask.cache_clear()
    try:
        files.write_text(tmp_path / "report.html", "<p>hi</p>")
        files.write_json(tmp_path / "report.json", {"a": 1})
        with files.atomic_dir(tmp_path / "checkpoint") as d:
            (d / "x").write_text("x")
    finally:
        os.umask(old)
        files._umask.cache_clear()
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "report.json").stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "checkpoint").stat().st_mode) == 0o777 & ~umask


def test_a_rewritten_file_keeps_the_mode_its_owner_gave_it(tmp_path):
    from formclip_pipeline.core.files import write_text

    target = tmp_path / "shared.csv"
    write_text(target, "a")
    target.chmod(0o640)
    write_text(target, "b")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text() == "b"


@pytest.mark.parametrize("argv", [
    ["annotate", "--csv-file", "x.csv", "--max-requests", "-1"],
    ["annotate", "--csv-file", "x.csv", "--concurrency", "0"],
    ["score", "v.mp4", "--fps", "100000"],
    ["score", "v.mp4", "--fps", "0"],
    ["score", "v.mp4", "--fps", "nan"],
    ["extract", "--frames-per-video", "-5"],
    ["extract", "--pose-fps", "1e9"],
    ["train", "--epochs", "0"],
    ["train", "--batch-size", "many"],
    ["train", "--learning-rate=-1e-5"],
    ["synth", "--out", "v", "--videos-per-class", "-3"],
])
def test_numbers_out_of_range_are_refused_before_anything_runs(argv, capsys):
    from formclip_pipeline.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "out of range" in err or "is not a" in err
    assert "Traceback" not in err


def test_a_negative_request_budget_sends_nothing_when_called_as_a_library():
    from formclip_pipeline.core.claude import DraftSettings

    with pytest.raises(ValueError, match="request budget must be 0 or more"):
        DraftSettings(max_requests=-1)


def _video(path, size="64x64", seconds=1, picture="testsrc2"):
    """An H.264 video of one of ffmpeg's test pictures."""
    import subprocess

    from formclip_pipeline.core.video import ffmpeg_exe

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"{picture}=size={size}:rate=10:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


def test_files_that_only_pretend_to_be_videos_are_refused_by_name_and_reason(tmp_path):
    from formclip_pipeline.core.video import VideoError, probe

    outside = _video(tmp_path / "elsewhere" / "secret.mp4")
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{outside}\n#EXT-X-ENDLIST\n"
    (tmp_path / "in").mkdir()
    cases = {
        "list.m3u8": (playlist, "extension .m3u8 is not a video type"),
        "list.mp4": (playlist, "not a video ffmpeg can read"),
        "list.mpg": (playlist, "not a video ffmpeg can read|no video stream"),
    }
    for name, (content, reason) in cases.items():
        (tmp_path / "in" / name).write_text(content)
        with pytest.raises(VideoError, match=rf"^{name}: ({reason})"):
            probe(tmp_path / "in" / name)
    tiny = _video(tmp_path / "in" / "tiny.mp4", size="2x2")
    with pytest.raises(VideoError, match=r"^tiny.mp4: 2x2 pixels is too small"):
        probe(tiny)
    os.mkfifo(tmp_path / "in" / "pipe.mp4")
    with pytest.raises(VideoError, match=r"^pipe.mp4: not a regular file"):
        probe(tmp_path / "in" / "pipe.mp4")


def test_a_file_name_that_is_not_utf8_is_reported_and_the_other_videos_go_on(tmp_path):
    from formclip_pipeline.core.frames import video_manifest

    folder = tmp_path / "squat" / "good_form"
    _video(folder / "fine.mp4", size="96x96")
    bad = os.fsdecode(bytes(folder) + b"/caf\xe9.mp4")
    _video(tmp_path / "x.mp4", size="96x96").rename(bad)
    manifest = video_manifest(tmp_path, "squat")
    assert list(manifest.sort_values("file_name")["status"]) == ["error", "ok"]
    row = manifest[manifest["status"] == "error"].iloc[0]
    assert row["file_name"] == "caf\\xe9.mp4" and "not valid UTF-8" in row["error"]
    manifest.to_parquet(tmp_path / "manifest.parquet")  # nothing left that Parquet refuses


def test_a_pipe_or_a_huge_file_among_labelled_frames_is_skipped_and_the_rest_imported(squat_frames, tmp_path):
    from formclip_pipeline.core.annotate import import_labeled_dir

    refresh_annotations(squat_frames, tmp_path, "squat")
    table = pd.read_csv(review_csv_path(tmp_path, "squat"))
    fifo, huge = tmp_path / table["frame_path"].iloc[0], tmp_path / table["frame_path"].iloc[1]
    fifo.unlink()
    os.mkfifo(fifo)
    huge.unlink()
    with open(huge, "wb") as fh:  # sparse: 60 MB on paper, nothing on disk
        fh.truncate(60 * 2**20)
    frames, ann, problems = import_labeled_dir(tmp_path, "squat")
    assert len(frames) == len(table) - 2
    assert any(table["frame_path"].iloc[0] in p and "not a regular file" in p for p in problems)
    assert any(table["frame_path"].iloc[1] in p and "more than the 50 MB" in p for p in problems)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_registry_or_metrics_database_is_one_sentence(tmp_path, monkeypatch, capsys, damage):
    from formclip_pipeline.cli import main
    from formclip_pipeline.core.store import MetricsStore, StoreError

    db = tmp_path / "data" / "formclip.duckdb"
    MetricsStore(db).append("t", pd.DataFrame({"a": range(1000)}))
    registry = tmp_path / "mlruns" / "mlflow.db"
    registry.parent.mkdir()
    import sqlite3

    with sqlite3.connect(registry) as con:
        con.execute("create table t (a text)")
        con.executemany("insert into t values (?)", [("x" * 200,)] * 2000)
    for path in (db, registry):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3] if damage == "truncated" else b"\x00garbage" * 512)
    with pytest.raises(StoreError, match=r"formclip.duckdb: the metrics database cannot be opened"):
        MetricsStore(db).query("select * from t")
    monkeypatch.setenv("FORMCLIP_HOME", str(tmp_path))
    assert main(["score", str(tmp_path / "v.mp4"), "--exercise", "squat"]) == 2
    err = capsys.readouterr().err.strip()
    assert "mlflow.db: the model registry is damaged" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("csv_bytes, reason", [
    ("frame_path,exercise,description\nframes_squat_good_form/a_0001.jpg,squat,genou pli\xe9\n".encode("latin-1"),
     "is not UTF-8 text"),
    (b"frame_path,exercise,form_type\nframes_squat_good_form/a_0001.jpg,squat,good_form\n", "missing column"),
])
def test_train_refuses_an_unreadable_review_csv_in_one_sentence(squat_frames, tmp_path, capsys, csv_bytes, reason):
    from formclip_pipeline.cli import main

    squat_frames.to_parquet(tmp_path / "squat_frames.parquet")
    review_csv_path(tmp_path, "squat").write_bytes(csv_bytes)
    assert main(["train", "--data-dir", str(tmp_path), "--output", str(tmp_path / "m"), "--exercises", "squat"]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and "squat_training_data.csv" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_evaluating_without_test_videos_writes_nothing(squat_frames, tmp_path):
    from formclip_pipeline.core import store
    from formclip_pipeline.core.runs import evaluate_run

    no_test = squat_frames.assign(split=squat_frames["split"].replace("test", "train"))
    checkpoint = {"exercise": "squat", "path": str(tmp_path / "none"), "strategy": "pose", "run_id": "x"}
    with pytest.raises(ValueError, match="no test videos for squat"):
        evaluate_run(checkpoint, no_test, store.Tracker.at_home(tmp_path), store.MetricsStore.at_home(tmp_path),
                     tmp_path)
    assert not (tmp_path / "data").exists() and not (tmp_path / "mlruns").exists()


def test_scoring_holds_at_most_max_frames_whatever_the_video_length(tmp_path):
    from formclip_pipeline.core.sampling import sample_video
    from formclip_pipeline.core.settings import ScoringSettings

    video = _video(tmp_path / "long.mp4", size="96x96", seconds=20)
    times, frames, info = sample_video(str(video), ScoringSettings(max_frames=40))
    assert len(frames) <= 40 and frames.shape[1:] == (224, 224, 3)
    assert info["sampled_fps"] == pytest.approx(2.0) and "instead of 8" in info["notes"][0]
    assert times[-1] > 15  # spread over the whole video, not its first five seconds


def _two_squats_extracted(squat_videos, frames_per_video: int) -> pd.DataFrame:
    """The frames of the first two rendered squats, without poses: what `formclip extract` writes
    with that --frames-per-video."""
    from formclip_pipeline.core.frames import extract_dataset, video_manifest

    manifest = video_manifest(squat_videos[0], "squat").head(2)
    frames, _, _ = extract_dataset(manifest, frames_per_video=frames_per_video, skip_first=0.5, skip_last=0.5,
                                   pose_fps=0)
    return frames


def test_a_label_stays_with_its_moment_when_the_videos_are_extracted_again(squat_videos, tmp_path):
    """Another --frames-per-video renumbers the frames: a person's label never moves to the frame
    that now has its number; it waits in the orphans file and comes back with its moment."""
    from formclip_pipeline.core.annotate import orphans_path

    six, four = _two_squats_extracted(squat_videos, 6), _two_squats_extracted(squat_videos, 4)
    refresh_annotations(six, tmp_path, "squat")
    path = review_csv_path(tmp_path, "squat")
    table = pd.read_csv(path)
    row = table[table["frame_path"].str.endswith("_002.jpg")].index[0]
    moment = (table.loc[row, "source_video"], table.loc[row, "timestamp"])
    table.loc[row, "description"] = "=knees cave in at this exact moment"
    table.to_csv(path, index=False)
    refresh_annotations(six, tmp_path, "squat")
    jpeg = (tmp_path / table.loc[row, "frame_path"]).read_bytes()

    warnings: list[str] = []
    ann = refresh_annotations(four, tmp_path, "squat", warn=warnings.append)
    assert "=knees cave in at this exact moment" not in set(ann["description"])
    assert warnings and "kept in squat_orphaned_labels.csv" in warnings[0]
    orphans = pd.read_csv(orphans_path(tmp_path, "squat"))
    assert orphans["description"].str.contains("knees cave in at this exact moment").all() and len(orphans) == 1
    same_name = ann[ann["frame_path"] == table.loc[row, "frame_path"]]
    if len(same_name):  # the number now names another moment, and its JPEG shows that moment
        assert (tmp_path / same_name["frame_path"].iloc[0]).read_bytes() != jpeg

    back = refresh_annotations(six, tmp_path, "squat")
    at = back[(back["source_video"] == moment[0]) & (back["timestamp"].round(3) == round(moment[1], 3))]
    assert list(at["description"]) == ["=knees cave in at this exact moment"] and list(at["source"]) == ["human"]
    assert not orphans_path(tmp_path, "squat").exists()


def test_an_edit_not_yet_merged_survives_another_extraction(squat_videos, tmp_path):
    """Edits typed in the review CSV and then `formclip extract` with other settings, before any
    annotate or train: each edit lands on its frame if the new extraction has it, else waits in
    the orphans file, named in one warning line."""
    from formclip_pipeline.core.annotate import orphans_path

    six, two = _two_squats_extracted(squat_videos, 6), _two_squats_extracted(squat_videos, 2)
    refresh_annotations(six, tmp_path, "squat")
    path = review_csv_path(tmp_path, "squat")
    table = pd.read_csv(path)
    moments = set(zip(two["source_video"], two["timestamp"].round(3)))
    shared = [i for i, m in enumerate(zip(table["source_video"], table["timestamp"].round(3))) if m in moments]
    gone = [i for i in table.index if i not in shared]
    assert shared and gone
    table.loc[shared[0], "description"] = "hips shoot up first"
    table.loc[gone[0], "description"] = "heels lift at the bottom"
    table.to_csv(path, index=False)

    warnings: list[str] = []
    ann = refresh_annotations(two, tmp_path, "squat", warn=warnings.append)
    at = ann[(ann["source_video"] == table.loc[shared[0], "source_video"])
             & (ann["timestamp"].round(3) == round(table.loc[shared[0], "timestamp"], 3))]
    assert list(at["description"]) == ["hips shoot up first"] and list(at["source"]) == ["human"]
    orphans = pd.read_csv(orphans_path(tmp_path, "squat"))
    assert list(orphans["description"]) == ["heels lift at the bottom"]
    assert len(warnings) == 1 and "squat_orphaned_labels.csv" in warnings[0]
    # The waiting edit comes back with its frame.
    back = refresh_annotations(six, tmp_path, "squat", warn=warnings.append)
    assert set(back.loc[back["source"] == "human", "description"]) == {"hips shoot up first",
                                                                      "heels lift at the bottom"}
    assert not orphans_path(tmp_path, "squat").exists()


def test_a_spreadsheet_round_trip_keeps_every_edit(squat_frames, tmp_path):
    """A spreadsheet saves what it displays and how it likes: times to two decimals, rows sorted by
    another column, CRLF line ends, "NA" typed as a note. Rows are matched by frame, not by time."""
    refresh_annotations(squat_frames, tmp_path, "squat")
    path = review_csv_path(tmp_path, "squat")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert (table["timestamp"].astype(float).round(2) != table["timestamp"].astype(float)).any()
    edits = {0: "bar path drifts forward", 7: "depth is fine here", 21: "NA"}
    for i, text in edits.items():
        table.loc[i, "description"] = text
    table.loc[3, "annotator_notes"] = "N/A"
    table.loc[5, "confidence"] = "0.70"
    table["timestamp"] = table["timestamp"].astype(float).map("{:.2f}".format)
    table.sort_values("description").to_csv(path, index=False, lineterminator="\r\n")

    warnings: list[str] = []
    ann = refresh_annotations(squat_frames, tmp_path, "squat", warn=warnings.append).set_index("frame_path")
    assert warnings == []
    for i, text in edits.items():
        assert ann.loc[table.loc[i, "frame_path"], "description"] == text
    assert ann.loc[table.loc[3, "frame_path"], "annotator_notes"] == "N/A"
    assert ann.loc[table.loc[5, "frame_path"], "confidence"] == pytest.approx(0.7)
    assert (ann["source"] == "human").sum() == 5  # and no row the person left alone became an edit


def test_deleted_added_and_unreadable_rows_are_each_named_and_no_edit_is_lost(squat_frames, tmp_path):
    from formclip_pipeline.core.annotate import orphans_path

    refresh_annotations(squat_frames, tmp_path, "squat")
    path = review_csv_path(tmp_path, "squat")
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.loc[2, ["description", "confidence"]] = ["weight shifts to the toes", "high"]
    deleted = table.loc[4, "frame_path"]
    added = table.iloc[[6]].assign(frame_path="frames_squat_good_form/mine.jpg", source_video="mine.mp4",
                                   description="a frame I added myself")
    pd.concat([table.drop(index=4), added]).to_csv(path, index=False)

    warnings: list[str] = []
    ann = refresh_annotations(squat_frames, tmp_path, "squat", warn=warnings.append).set_index("frame_path")
    assert len(warnings) == 3
    unreadable = next(w for w in warnings if "'high'" in w)
    assert "row 4" in unreadable and "confidence" in unreadable and "squat_orphaned_labels.csv" in unreadable
    assert any("mine.jpg" in w and "matches no frame" in w for w in warnings)
    assert any(deleted in w and "deleted" in w for w in warnings)
    assert ann.loc[table.loc[2, "frame_path"], "source"] == "template"
    assert ann.loc[deleted, "description"] == table.loc[4, "description"]  # the frame stays, with its text
    kept = pd.read_csv(orphans_path(tmp_path, "squat"), dtype=str, keep_default_na=False)
    assert set(kept["description"]) == {"weight shifts to the toes", "a frame I added myself"}
    assert set(kept.loc[kept["description"] == "weight shifts to the toes", "confidence"]) == {"high"}
    assert deleted in set(pd.read_csv(path)["frame_path"])


def _lifter_video(folder, name="a", form_class="good_form"):
    """A short rendered squat (two reps, seen from the side) in folder/squat/<form_class>/<name>.mp4."""
    from formclip_pipeline.core.synth.generate import VideoSpec, generate_dataset

    spec = VideoSpec("squat", form_class, 5, name, views=("side",), sets=(1, 1), reps=(2, 2), size=(320, 240), fps=12)
    return generate_dataset(folder, [spec], workers=1)[0]["video"]


def test_the_same_video_twice_in_a_class_is_one_pose_series(tmp_path):
    """Both copies are read (validate warns about them); the features a pose model trains on are
    those of one reading, not a crash on moments that each came twice."""
    import shutil

    from formclip_pipeline.core.frames import extract_dataset, video_manifest
    from formclip_pipeline.core.pose_classifier import video_pose_features

    video = _lifter_video(tmp_path)
    shutil.copy(video, tmp_path / "squat" / "good_form" / "a copy.mp4")
    frames, poses, failures = extract_dataset(video_manifest(tmp_path, "squat"), frames_per_video=3, workers=1)
    assert not failures and set(poses["source_video"]) == {"a.mp4", "a copy.mp4"}
    assert poses["detected"].mean() > 0.5  # a lifter to measure, so the features are numbers
    both = video_pose_features(poses, "squat")
    one = video_pose_features(poses[poses["source_video"] == "a.mp4"], "squat")
    assert len(both) == 1 and both.index[0] == frames["video_sha256"].iloc[0]
    assert 1.0 < both["rep_seconds"].iloc[0] < 8.0
    pd.testing.assert_frame_equal(both, one)


def test_commands_run_from_anywhere_find_what_the_others_wrote(tmp_path, monkeypatch, capsys):
    """Each command from its own working directory: the default folders are under FORMCLIP_HOME, and
    latest.json names its checkpoints by absolute path, so evaluate finds them from elsewhere."""
    from formclip_pipeline.cli import main

    home = tmp_path / "home"
    monkeypatch.setenv("FORMCLIP_HOME", str(home))
    for form_class, picture in (("good_form", "testsrc2"), ("partial_depth", "smptebars")):
        for i in range(3):
            _video(home / "data" / "training_data" / "squat" / form_class / f"{i}.mp4", "96x96", 2 + i, picture)
    for name in ("extract", "train", "evaluate"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "extract")
    assert main(["extract", "--exercises", "squat", "--pose-fps", "0", "--frames-per-video", "4",
                 "--skip-first", "0", "--skip-last", "0", "--workers", "1"]) == 0
    assert (home / "data" / "labeled_frames" / "squat_frames.parquet").exists()
    monkeypatch.chdir(tmp_path / "train")
    assert main(["train", "--exercises", "squat", "--output", "model", "--strategy", "flyp", "--epochs", "1",
                 "--base-model", "formclip-tiny-init"]) == 0
    latest = json.loads((tmp_path / "train" / "model" / "latest.json").read_text())
    assert Path(latest["squat"]["path"]).is_absolute() and Path(latest["squat"]["path"]).is_dir()
    monkeypatch.chdir(tmp_path / "evaluate")
    capsys.readouterr()
    assert main(["evaluate", "--exercises", "squat", "--model", str(tmp_path / "train" / "model")]) == 0
    assert "Balanced accuracy" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evaluate", "extract", "home", "train"]
    assert not list((tmp_path / "extract").iterdir()) and not list((tmp_path / "evaluate").iterdir())
    # A latest.json written before its paths were absolute: a sentence, not a search of the model hub.
    relative = os.path.relpath(latest["squat"]["path"], tmp_path / "train")
    old = {"squat": {**latest["squat"], "path": relative}}
    (tmp_path / "train" / "model" / "latest.json").write_text(json.dumps(old))
    assert main(["evaluate", "--exercises", "squat", "--model", str(tmp_path / "train" / "model")]) == 2
    err = capsys.readouterr().err
    assert f"its checkpoint {relative}" in err and "train squat again" in err and "model hub" not in err


def _ten_hour_gap_video(path):
    """A two-second 96x96 H.264 video whose second second starts ten hours after its first."""
    import subprocess

    from formclip_pipeline.core.video import ffmpeg_exe

    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=96x96:rate=10:duration=2", "-vf", "setpts='if(gte(N,10),PTS+36000/TB,PTS)'",
                    "-fps_mode", "passthrough", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def test_a_small_video_claiming_ten_hours_is_refused_by_extract_as_by_score(tmp_path, capsys):
    """Ten hours between two frames: decoded on a fixed grid, that is hours of frames from a
    kilobytes file. Extraction refuses it as scoring does, in one sentence, and reads the others."""
    from formclip_pipeline.cli import main
    from formclip_pipeline.core.frames import video_manifest
    from formclip_pipeline.core.sampling import sample_video
    from formclip_pipeline.core.settings import ScoringSettings
    from formclip_pipeline.core.video import VideoError

    folder = tmp_path / "videos" / "squat" / "good_form"
    _video(folder / "fine.mp4", "96x96", 2)
    gap = _ten_hour_gap_video(folder / "gap.mp4")
    assert gap.stat().st_size < 100_000
    refusal = "gap.mp4: 600 minutes is longer than the 60-minute limit for one video; cut out the part to judge"
    manifest = video_manifest(tmp_path / "videos", "squat").set_index("file_name")
    assert manifest.loc["gap.mp4", "error"] == refusal and manifest.loc["fine.mp4", "status"] == "ok"
    assert main(["extract", "--video-dir", str(tmp_path / "videos"), "--out", str(tmp_path / "frames"),
                 "--exercises", "squat", "--pose-fps", "0", "--frames-per-video", "3", "--workers", "1"]) == 0
    assert f"skipping {refusal}" in capsys.readouterr().err
    assert set(pd.read_parquet(tmp_path / "frames" / "squat_frames.parquet")["source_video"]) == {"fine.mp4"}
    with pytest.raises(VideoError) as refused:
        sample_video(str(gap), ScoringSettings())
    assert str(refused.value) == refusal


def test_frames_are_spread_over_the_picture_when_the_sound_runs_on_for_hours(tmp_path):
    """A two-second picture whose sound ends ten hours later: the container lasts ten hours, the
    video two seconds. Frames come from the two seconds, each a moment of its own, not copies of
    the last picture (nor a refusal for being ten hours long)."""
    import subprocess

    from formclip_pipeline.core.frames import extract_dataset, video_manifest
    from formclip_pipeline.core.video import ffmpeg_exe, probe

    video = tmp_path / "squat" / "good_form" / "late sound.mp4"
    video.parent.mkdir(parents=True)
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=96x96:rate=10:duration=2", "-itsoffset", "36000", "-f", "lavfi", "-i",
                    "sine=duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(video)], check=True)
    assert probe(video).duration_s == pytest.approx(2.0, abs=0.05)
    frames, _, failures = extract_dataset(video_manifest(tmp_path, "squat"), frames_per_video=8, skip_first=0,
                                          skip_last=0, pose_fps=0, workers=1)
    assert not failures and len(frames) == 8
    assert frames["timestamp"].max() < 2.0 and frames["timestamp"].is_unique
    assert frames["image"].nunique() == 8  # testsrc2 moves: eight moments are eight pictures


def _seed_folder(root, size=(64, 64)):
    """A seed-style labelled-frames folder: the review CSV and its JPEGs, three videos of two frames
    per class, each frame a picture of its own."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for form_class in ("good_form", "partial_depth"):
        for video in ("a", "b", "c"):
            for i in range(2):
                rel = f"frames_squat_{form_class}/{video}_{i:03d}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).save(root / rel)
                rows.append({"frame_path": rel, "exercise": "squat", "form_type": form_class,
                             "source_video": f"{form_class}_{video}.mp4", "timestamp": 1.0 + i,
                             "description": f"{form_class} frame {i}", "confidence": "", "annotator_notes": ""})
    pd.DataFrame(rows).to_csv(root / "squat_training_data.csv", index=False)
    return rows


def _blank_png(path, side):
    """A valid black-and-white PNG of side x side pixels, written a row at a time: a few hundred
    kilobytes on disk for what decodes to side * side pixels."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte, then one bit a pixel
    squeeze, body = zlib.compressobj(9), []
    for _ in range(side):
        body.append(squeeze.compress(row))
    body.append(squeeze.flush())
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", b"".join(body)) + chunk(b"IEND", b""))


def test_huge_images_named_jpg_in_a_seed_folder_are_refused_by_name_before_decoding(tmp_path, capsys):
    from PIL import Image

    from formclip_pipeline.cli import main
    from formclip_pipeline.core.annotate import import_labeled_dir

    rows = _seed_folder(tmp_path)
    for row, side in ((rows[0], 13000), (rows[6], 20000)):
        _blank_png(tmp_path / row["frame_path"], side)
        assert (tmp_path / row["frame_path"]).stat().st_size < 1_000_000
    with pytest.warns(Image.DecompressionBombWarning):  # a real image, and PIL's own guard frowns at it
        assert Image.open(tmp_path / rows[0]["frame_path"]).size == (13000, 13000)
    frames, _, problems = import_labeled_dir(tmp_path, "squat")
    assert len(frames) == len(rows) - 2
    assert any(p.startswith(f"{rows[0]['frame_path']}: its 13000x13000 pixels") for p in problems)
    assert any(p.startswith(f"{rows[6]['frame_path']}: ") and "pixel limit" in p for p in problems)
    capsys.readouterr()
    assert main(["validate", "--data-dir", str(tmp_path), "--exercises", "squat"]) == 1
    out = capsys.readouterr().out
    assert "ERROR unreadable_rows" in out and rows[0]["frame_path"] in out and rows[6]["frame_path"] in out
    assert main(["import-labeled", "--data-dir", str(tmp_path), "--exercises", "squat"]) == 0
    err = capsys.readouterr().err
    assert f"skipping {rows[0]['frame_path']}: its 13000x13000 pixels" in err and rows[6]["frame_path"] in err


def test_a_seed_frame_of_another_size_is_letterboxed_like_every_frame(tmp_path, monkeypatch):
    """Frames are letterboxed squares wherever they come from: a wide JPEG among square ones keeps its
    whole picture, between black bars, and training goes on."""
    from PIL import Image

    from formclip_pipeline.cli import main
    from formclip_pipeline.core.annotate import import_labeled_dir
    from formclip_pipeline.core.frames import FRAME_SIZE, frames_array

    rows = _seed_folder(tmp_path)
    wide = [r for r in rows if r["frame_path"].endswith("_001.jpg") and "good_form" in r["frame_path"]]
    for r in wide:  # one in each video, so in every split
        Image.new("RGB", (96, 48), (200, 30, 30)).save(tmp_path / r["frame_path"])
    frames, _, problems = import_labeled_dir(tmp_path, "squat")
    assert not problems
    pixels = frames_array(frames)
    assert pixels.shape == (len(rows), FRAME_SIZE, FRAME_SIZE, 3)
    at = (frames["source_video"] == wide[0]["source_video"]) & (frames["frame_index"] == 1)
    red = pixels[at.to_numpy().nonzero()[0][0]]
    assert red[:50].max() < 10 and red[-50:].max() < 10  # bars above and below
    assert abs(red[FRAME_SIZE // 2].astype(int) - (200, 30, 30)).max() < 10  # the picture across the middle
    monkeypatch.setenv("FORMCLIP_HOME", str(tmp_path / "home"))
    assert main(["import-labeled", "--data-dir", str(tmp_path), "--exercises", "squat"]) == 0
    assert main(["train", "--data-dir", str(tmp_path), "--output", str(tmp_path / "model"), "--exercises", "squat",
                 "--strategy", "flyp", "--epochs", "1", "--base-model", "formclip-tiny-init"]) == 0


def test_whatever_extract_passes_over_in_a_video_folder_is_named_with_its_reason(tmp_path, capsys):
    from formclip_pipeline.catalog import exercise_names, get_exercise
    from formclip_pipeline.cli import main

    videos = tmp_path / "videos"
    _video(videos / "squat" / "good_form" / "fine.mp4", "96x96", 2)
    _video(videos / "squat" / "good_form" / "anna" / "set1.mp4", "96x96", 3)  # a group: one lifter
    _video(videos / "squat" / "good_form" / "anna" / "old" / "set0.mp4")  # one folder too deep
    _video(videos / "squats" / "good_form" / "typo.mp4")  # no such exercise
    _video(videos / "squat" / "loose.mp4")  # in no class folder
    _video(videos / "lost.mp4")  # in no exercise folder
    (videos / "notes.txt").write_text("filmed on Monday")  # not a video, and not in the way
    os.mkfifo(videos / "squat" / "good_form" / "pipe.mp4")
    os.mkfifo(videos / "squat" / "good_form" / "anna" / "pipe.mp4")
    (videos / "squat" / "good_form" / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")
    assert main(["extract", "--video-dir", str(videos), "--out", str(tmp_path / "frames"), "--exercises", "squat",
                 "--pose-fps", "0", "--frames-per-video", "2", "--workers", "1"]) == 0
    skipped = sorted(line for line in capsys.readouterr().err.splitlines() if line.startswith("skipping"))
    assert skipped == sorted([
        f"skipping squats/: not an exercise of the catalogue ({', '.join(exercise_names())}); its videos are not read",
        "skipping lost.mp4: not in an exercise's folder; videos go in <exercise>/<form class>/",
        f"skipping loose.mp4: not in a form-class folder; move it into squat/<class>/ "
        f"({', '.join(get_exercise('squat').class_names)})",
        "skipping anna/old/: a folder inside a group's folder; videos go in their class folder or one folder "
        "below it",
        "skipping pipe.mp4: not a regular file",
        "skipping pipe.mp4: not a regular file",
        "skipping gone.mp4: a link to a file that is not there",
    ])
    frames = pd.read_parquet(tmp_path / "frames" / "squat_frames.parquet")
    assert set(frames["source_video"]) == {"fine.mp4", "anna/set1.mp4"}


@pytest.mark.parametrize("typed", ["knees in\ron rep 3", "knees in\r\non rep 3", "knees in\non rep 3"])
def test_a_line_break_typed_in_a_cell_keeps_its_row_whole_through_the_review_csv(tmp_path, typed):
    from formclip_pipeline.core.annotate import read_review_csv, write_spreadsheet_csv

    table = pd.DataFrame({"frame_path": ["a.jpg", "b.jpg", "c.jpg"], "description": ["one", typed, "three"],
                          "confidence": [1, 2, 3]})
    write_spreadsheet_csv(table, tmp_path / "squat_training_data.csv")
    back = read_review_csv(tmp_path / "squat_training_data.csv")
    assert list(back["frame_path"]) == ["a.jpg", "b.jpg", "c.jpg"]
    assert back["description"].iloc[1].replace("\r\n", "\n").replace("\r", "\n") == "knees in\non rep 3"


def test_a_semicolon_separated_review_csv_is_read_and_written_back_with_semicolons(tmp_path, capsys):
    """As a spreadsheet saves CSV where the comma is the decimal mark; descriptions hold commas."""
    from formclip_pipeline.cli import main
    from formclip_pipeline.core.annotate import import_labeled_dir

    rows = _seed_folder(tmp_path)
    table = pd.DataFrame(rows)
    table.loc[0, "description"] = "knees cave in, then out; hips rise first"
    table.loc[1, "confidence"] = "0,8"
    csv_path = tmp_path / "squat_training_data.csv"
    table.to_csv(csv_path, sep=";", index=False)
    frames, ann, problems = import_labeled_dir(tmp_path, "squat")
    assert not problems and len(frames) == len(rows)
    assert "knees cave in, then out; hips rise first" in set(ann["description"])
    assert ann["confidence"].dropna().tolist() == [0.8]
    assert main(["import-labeled", "--data-dir", str(tmp_path), "--exercises", "squat"]) == 0
    assert csv_path.read_text().splitlines()[0].startswith("frame_path;exercise;form_type;")
    again = pd.read_csv(csv_path, sep=";", dtype=str, keep_default_na=False)
    assert "knees cave in, then out; hips rise first" in set(again["description"])



@pytest.mark.parametrize("name, shown", [("car\rriage.mp4", "car\\rriage.mp4"), ("new\nline.mp4", "new\\nline.mp4"),
                                         ("both\r\nends.mp4", "both\\r\\nends.mp4")])
def test_a_video_named_with_a_line_break_is_refused_by_name_and_the_others_keep_their_edits(tmp_path, capsys, name,
                                                                                            shown):
    """A line break in a video's name went into two cells of each of its review CSV rows: written
    unquoted, a reader split each row in two, and matched again, the person's edit was lost."""
    from formclip_pipeline.cli import main

    videos, out = tmp_path / "videos", tmp_path / "frames"
    # Of three lengths: one video's content under three names would be one video, its edits shared.
    for seconds, file_name in enumerate(("before.mp4", name, "after.mp4"), start=2):
        _video(videos / "squat" / "good_form" / file_name, "96x96", seconds)
    extract = ["extract", "--video-dir", str(videos), "--out", str(out), "--exercises", "squat", "--pose-fps", "0",
               "--frames-per-video", "3", "--skip-first", "0", "--skip-last", "0", "--workers", "1"]
    assert main(extract) == 0
    refusal = f"skipping {shown}: the file name holds a line break or another control character; rename the file"
    assert refusal in capsys.readouterr().err.splitlines()
    assert set(pd.read_parquet(out / "squat_frames.parquet")["source_video"]) == {"before.mp4", "after.mp4"}
    path = review_csv_path(out, "squat")
    with path.open(newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    assert len(rows) == 6
    description = header.index("description")
    rows[4][description] = "bar drifts forward"  # saved as a spreadsheet saves CSV
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])
    assert main(extract) == 0
    store = pd.read_parquet(out / ".formclip" / "squat_annotations.parquet").set_index("frame_path")
    assert len(store) == 6 and store.loc[rows[4][header.index("frame_path")], "description"] == "bar drifts forward"
    with path.open(newline="", encoding="utf-8") as fh:
        assert [r[description] for r in list(csv.reader(fh))[1:]] == [r[description] for r in rows]

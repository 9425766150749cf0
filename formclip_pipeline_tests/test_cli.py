"""The seed's scripts as `formclip` subcommands, run as a user runs them."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from formclip_pipeline_tests.commands import formclip


@pytest.mark.slow  # renders videos and runs every command end to end: over a minute on 2 cores
def test_synth_extract_train_evaluate(tmp_path):
    import pandas as pd

    out = formclip("synth", "--out", "videos", "--videos-per-class", "2", "--seed", "5", "--exercises", "ohp",
                   "--views", "side,front", "--sets", "1", "--reps", "3-4", "--preview", "--quiet", cwd=tmp_path)
    assert "x real time" in out.stdout
    assert (tmp_path / "videos" / "preview.png").exists()
    truths = [json.loads(p.read_text()) for p in (tmp_path / "videos").rglob("*.truth.json")]
    assert len(truths) == 8 and {t["view"] for t in truths} <= {"side", "front"}
    extracted = formclip("extract", "--video-dir", "videos", "--out", "frames", "--frames-per-video", "6",
                         "--skip-first", "0.5", "--skip-last", "0.5", cwd=tmp_path)
    # Only our progress bar: none of what mediapipe's C++ side prints as each video's pose graph starts.
    assert not any(notice in extracted.stderr for notice in ("XNNPACK", "W0000", "absl")), extracted.stderr
    assert (tmp_path / "frames" / "ohp_frames.parquet").exists()
    poses = pd.read_parquet(tmp_path / "frames" / "ohp_poses.parquet")
    assert poses["detected"].mean() > 0.5 and poses["source_video"].nunique() == 8
    home = {"FORMCLIP_HOME": str(tmp_path / "home")}  # every store under it, none under the working directory
    formclip("train", "--data-dir", "frames", "--output", "model", "--epochs", "2", "--batch-size", "16",
             "--learning-rate", "3e-4", "--base-model", "formclip-tiny-init", "--multi-class", cwd=tmp_path, env=home)
    res = formclip("evaluate", "--model", "model", "--data-dir", "frames", "--json", "eval.json", cwd=tmp_path, env=home)
    assert "Ohp:" in res.stdout and "Accuracy:" in res.stdout and "Precision:" in res.stdout
    report = json.loads((tmp_path / "eval.json").read_text())
    assert set(report["ohp"]) >= {"video_balanced_accuracy", "video_macro_f1", "frame_accuracy",
                                  "zero_shot_video_balanced_accuracy", "linear_probe_video_macro_f1"}
    table = pd.read_parquet(tmp_path / "model" / "evaluation_metrics.parquet")
    assert set(table["strategy"]) == {"pose", "zero_shot", "linear_probe"}  # pose is the default strategy
    per_class = table[(table["class_name"] != "all") & (table["metric"] == "f1")]
    named = per_class["level"] != "video_good_or_bad"
    assert set(per_class[named]["class_name"]) == {"good_form", "excessive_back_arch", "partial_lockout", "bar_forward"}
    # A model naming faults is also scored on its good-or-bad call, the figure the champion gate compares.
    assert set(per_class[~named]["class_name"]) == {"good_form", "bad_form"}
    assert (tmp_path / "home" / "mlruns" / "mlflow.db").exists() and (tmp_path / "home" / "data" / "formclip.duckdb").exists()
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "data").exists()
    # --model means the same in every command: the training output folder scores too.
    video = next(p for p in (tmp_path / "videos").rglob("*.mp4"))
    scored = formclip("score", str(video), "--exercise", "ohp", "--model", "model", "--json", "r.json", cwd=tmp_path, env=home)
    assert scored.returncode == 0 and json.loads((tmp_path / "r.json").read_text())["model"]["ref"] == "model (ohp)"
    # A pose model fitted before the measures were last redefined is refused, with what to run.
    meta_file = tmp_path / json.loads((tmp_path / "model" / "latest.json").read_text())["ohp"]["path"] / "formclip.json"
    meta = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({k: v for k, v in meta.items() if k != "measures_version"}))
    for args in (("evaluate", "--model", "model", "--data-dir", "frames"),
                 ("score", str(video), "--exercise", "ohp", "--model", "model")):
        res = formclip(*args, cwd=tmp_path, env=home, check=False)
        assert res.returncode != 0 and "Traceback" not in res.stderr
        assert "version 1 of the body measures" in res.stderr and "formclip train --exercises ohp" in res.stderr


def test_unknown_exercise_and_missing_data_are_one_clear_sentence(tmp_path):
    res = formclip("synth", "--out", "v", "--exercises", "curl", cwd=tmp_path, check=False)
    assert res.returncode != 0 and "unknown exercise 'curl'" in res.stderr and "Traceback" not in res.stderr
    res = formclip("train", "--data-dir", "nothing", "--base-model", "formclip-tiny-init", cwd=tmp_path, check=False)
    assert res.returncode != 0 and "run `formclip extract` first" in res.stderr


def test_offline_hub_model_fails_with_guidance(squat_frames, tmp_path):
    squat_frames.to_parquet(tmp_path / "squat_frames.parquet")  # labelled frames, as formclip extract leaves them
    res = formclip("train", "--data-dir", ".", "--output", "m", "--epochs", "1", "--strategy", "flyp",
                   "--base-model", "openai/clip-vit-base-patch32", cwd=tmp_path, check=False)
    assert res.returncode != 0
    assert "formclip-tiny" in res.stderr and "Traceback" not in res.stderr


def test_model_means_a_trained_model_and_the_old_spellings_still_work_with_a_line(capsys):
    from formclip_pipeline.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "--base-model", "formclip-tiny"]).base_model == "formclip-tiny"
    assert capsys.readouterr().err == ""
    assert parser.parse_args(["train", "--model", "openai/clip-vit-base-patch32"]).base_model == \
        "openai/clip-vit-base-patch32"
    assert "--model is now --base-model" in capsys.readouterr().err
    assert parser.parse_args(["annotate", "--csv-file", "c.csv", "--model", "claude-haiku-4-5"]).claude_model == \
        "claude-haiku-4-5"
    assert "--model is now --claude-model" in capsys.readouterr().err
    assert parser.parse_args(["annotate", "--csv-file", "c.csv"]).claude_model == "claude-sonnet-4-5"
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    listed = capsys.readouterr().out
    assert "--base-model" in listed and "--model" not in listed.replace("--base-model", "")


def test_settings_built_in_code_obey_the_ranges_the_flags_enforce():
    """One declaration per setting: a caller of the core, or the Dagster config, gets the flag's bounds."""
    from formclip_pipeline.core.settings import ExtractSettings, PretrainSettings, ValidationSettings, TrainSettings

    tiny = "formclip-tiny"
    for build, words in (
            (lambda: TrainSettings(base_model=tiny, epochs=0), "epochs 0 is out of range"),
            (lambda: TrainSettings(base_model=tiny, strategy="magic"), "strategy 'magic' is not one of"),
            (lambda: ExtractSettings(test_share=0.9), "test_share 0.9 is out of range: it must be above 0 and at most 0.5"),
            (lambda: ValidationSettings(max_class_imbalance=0.5), "max_class_imbalance 0.5 is out of range"),
            (lambda: PretrainSettings(learning_rate=0.0), "learning_rate 0.0 is out of range: it must be above 0")):
        with pytest.raises(ValueError, match=re.escape(words)):
            build()
    assert TrainSettings(base_model="formclip-tiny", epochs=1).epochs == 1


def test_help_and_argument_errors_import_no_heavy_library():
    """`formclip --help` and a bad flag answer at once: torch, transformers, mlflow, mediapipe and
    Dagster are imported only by the commands that use them."""
    code = ("import sys\nfrom formclip_pipeline.cli import main\n"
            "for argv in (['--help'], ['train', '--help'], ['score', 'v.mp4', '--fps', '0']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'transformers', 'mlflow', 'mediapipe', 'dagster') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_train_and_evaluate_track_in_a_tracking_server_when_one_is_named(squat_frames, squat_poses, tmp_path,
                                                                        monkeypatch, capsys):
    """FORMCLIP_TRACKING_URI points every run, version and champion at a shared MLflow server (as a
    cluster's machines share one) instead of the sqlite store under FORMCLIP_HOME."""
    from mlflow import MlflowClient

    from formclip_pipeline.cli import main
    from formclip_pipeline_tests.servers import mlflow_server

    squat_frames.to_parquet(tmp_path / "squat_frames.parquet")
    squat_poses.to_parquet(tmp_path / "squat_poses.parquet")
    monkeypatch.setenv("FORMCLIP_HOME", str(tmp_path / "home"))
    with mlflow_server(tmp_path / "server") as uri:
        monkeypatch.setenv("FORMCLIP_TRACKING_URI", uri)
        assert main(["train", "--data-dir", str(tmp_path), "--output", str(tmp_path / "m"), "--exercises", "squat",
                     "--base-model", "formclip-tiny-init"]) == 0
        assert main(["evaluate", "--model", str(tmp_path / "m"), "--data-dir", str(tmp_path),
                     "--exercises", "squat"]) == 0
        client = MlflowClient(uri)
        runs = client.search_runs([client.get_experiment_by_name("formclip").experiment_id])
        assert [r.info.run_name for r in runs] == ["train-squat"] and "test_video_balanced_accuracy" in runs[0].data.metrics
        champion = client.get_model_version_by_alias("formclip-squat", "champion")
        assert champion.run_id == runs[0].info.run_id
    assert list((tmp_path / "server" / "artifacts").rglob("formclip.json")), "the checkpoint went to the server"
    assert not (tmp_path / "home" / "mlruns").exists()


def test_each_stage_declares_its_settings_once_for_the_flags_and_the_dagster_config():
    import dataclasses

    from formclip_pipeline.assets.scoring.video_report import ScoringConfig
    from formclip_pipeline.assets.training.extracted_frames_and_poses import ExtractConfig
    from formclip_pipeline.assets.training.finetuned_checkpoint import TrainConfig
    from formclip_pipeline.assets.training.validation_report import ValidationConfig
    from formclip_pipeline.cli import build_parser
    from formclip_pipeline.core.settings import (ExtractAssetSettings, ExtractSettings, ScoringSettings, TrainSettings,
                                                 ValidationSettings, choice_names, from_args)
    from formclip_pipeline.core.strategies import STRATEGIES

    parser = build_parser()
    for command, settings, config in (("train", TrainSettings, TrainConfig),
                                      ("extract", ExtractSettings, ExtractConfig),
                                      ("validate", ValidationSettings, ValidationConfig),
                                      ("score v.mp4", ScoringSettings, ScoringConfig)):
        assert from_args(settings, parser.parse_args(command.split())) == settings()  # the same defaults
        # The asset's config is the command's settings, and for extraction how its steps share the videos.
        asset_settings = ExtractAssetSettings if settings is ExtractSettings else settings
        chosen = choice_names(asset_settings)
        assert config().model_dump() == {k: v for k, v in dataclasses.asdict(asset_settings()).items() if k in chosen}
        assert all(config.model_fields[name].description for name in chosen)
    train = next(a for a in parser._subparsers._group_actions[0].choices["train"]._actions if a.dest == "strategy")
    assert tuple(train.choices) == STRATEGIES  # every strategy, lp_ft and wise_ft included
    assert "max_frames" not in choice_names(ScoringSettings)  # a limit the code keeps, not a flag
    import pydantic

    for config, bad in ((TrainConfig, {"epochs": 0}), (ExtractConfig, {"test_share": 0.9}),
                        (ScoringConfig, {"fps": 0.0}), (ValidationConfig, {"max_class_imbalance": 0.5})):
        with pytest.raises(pydantic.ValidationError):  # the asset's config refuses what the flag refuses
            config(**bad)
    chosen = from_args(TrainSettings, parser.parse_args(["train", "--strategy", "wise_ft", "--epochs", "3",
                                                       "--nproc-per-node", "2", "--base-model", "formclip-tiny"]))
    assert (chosen.strategy, chosen.epochs, chosen.nproc_per_node, chosen.base_model) == ("wise_ft", 3, 2, "formclip-tiny")
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--nproc-per-node", "0"])


@pytest.fixture(scope="module")
def squat_pose_model(squat_frames, squat_poses, tmp_path_factory):
    """A binary squat pose model saved as `formclip train` saves one, its meta naming the base it was
    trained on."""
    from formclip_pipeline.core.pose_classifier import train_pose_classifier

    clf, _ = train_pose_classifier(squat_poses, squat_frames, "squat", "pose", False, log=lambda _: None)
    path = tmp_path_factory.mktemp("pose_model") / "squat"
    clf.save(path, {"strategy": "pose", "base_model": "formclip-tiny-init"})
    return path


def _with_empty_lead_in(video: str, truth: dict, out: Path, seconds: float = 2.0) -> Path:
    """The video after `seconds` of an empty grey frame, as a clip filmed before the lifter steps in."""
    from formclip_pipeline.core.video import ffmpeg_exe

    empty = f"color=c=gray:s={truth['width']}x{truth['height']}:r={truth['fps']}:d={seconds}"
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", empty, "-i", video,
                    "-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]", "-map", "[v]", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


NATIVE_NOISE = ("W0000", "I0000", "E0000")  # how absl-logged lines from mediapipe's C++ side begin


def test_score_prints_no_pose_library_noise_when_the_lifter_steps_in_late(squat_videos, squat_pose_model, tmp_path):
    """mediapipe prints as its landmark stage starts, on the first frame with a person in it: in a clip
    that opens on an empty room, some way into the video. The terminal keeps FormClip's own lines."""
    clip = next(r for r in squat_videos[1] if r["truth"]["form_class"] == "good_form")
    late = _with_empty_lead_in(clip["video"], clip["truth"], tmp_path / "late.mp4")
    res = formclip("score", str(late), "--exercise", "squat", "--model", str(squat_pose_model),
                   "--json", "r.json", "--html", "r.html", cwd=tmp_path)
    noise = [line for line in res.stderr.splitlines() if line.startswith(NATIVE_NOISE) or "calculator.cc" in line
             or "TensorFlow Lite" in line or "absl::" in line]
    assert noise == [], res.stderr
    assert "report: r.html" in res.stderr
    assert json.loads((tmp_path / "r.json").read_text())["pose"]["frames_with_lifter"] < 0.9  # the lead-in was read


def _outside_make(home: Path, tmp_path: Path) -> dict:
    """The environment of a user who runs `formclip` without the Makefile: no HF_HUB_OFFLINE, no
    FORMCLIP_BASE_MODEL, an empty model hub cache, and a hub that refuses at once (so the test never
    downloads, whatever this machine's network)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
                                                           "FORMCLIP_BASE_MODEL")}
    return {**env, "FORMCLIP_HOME": str(home), "HF_HOME": str(tmp_path / "hf_home"),
            "HF_ENDPOINT": "http://127.0.0.1:9"}


def _score_outside_make(video, *args, home: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("formclip")
    return subprocess.run([str(exe), "score", str(video), *args, "--json", "r.json"], cwd=tmp_path,
                          capture_output=True, text=True, env=_outside_make(home, tmp_path))


HUB_RETRIES = ("Retrying in", "thrown while requesting")  # huggingface_hub's lines as it retries a request


def test_score_outside_make_recognises_the_exercise_with_the_base_its_champions_were_trained_on(
        squat_videos, squat_frames, squat_poses, tmp_path):
    from formclip_pipeline.core import store
    from formclip_pipeline.core.annotate import template_annotations
    from formclip_pipeline.core.runs import train_run
    from formclip_pipeline.core.settings import TrainSettings

    home = tmp_path / "home"
    tracker = store.Tracker.at_home(home)
    trained = train_run(squat_frames, template_annotations(squat_frames), "squat",
                        TrainSettings(strategy="pose", base_model="formclip-tiny-init"), tracker, home / "models",
                        log=lambda _: None, poses=squat_poses)
    tracker.set_champion("squat", trained["model_version"])
    video = next(r["video"] for r in squat_videos[1] if r["truth"]["form_class"] == "good_form")
    res = _score_outside_make(video, home=home, tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not any(line in res.stderr for line in HUB_RETRIES), res.stderr
    recognised = json.loads((tmp_path / "r.json").read_text())["exercise_recognition"]
    # The image model had its say: the champion's base loaded, where the default hub base could not.
    assert recognised["exercise"] == "squat" and "from_image" in recognised and "note" not in recognised


def test_a_base_the_cache_lacks_is_tried_once_and_named_in_one_line(squat_videos, squat_pose_model, tmp_path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(squat_pose_model, model)
    meta = json.loads((model / "formclip.json").read_text())
    (model / "formclip.json").write_text(json.dumps({**meta, "base_model": "openai/clip-vit-base-patch32"}))
    video = next(r["video"] for r in squat_videos[1] if r["truth"]["form_class"] == "good_form")
    res = _score_outside_make(video, "--model", str(model), home=tmp_path / "home", tmp_path=tmp_path)
    assert res.returncode == 0, res.stderr
    assert not any(line in res.stderr for line in HUB_RETRIES), res.stderr
    said = [line for line in res.stderr.splitlines() if "clip-vit-base-patch32" in line]
    assert len(said) == 1 and "not in this machine's model cache" in said[0] and "joints alone" in said[0], res.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exercise"] == "squat" and "from_image" not in report["exercise_recognition"]

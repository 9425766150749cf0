"""The seed's review CSV round trip, Claude drafts against a local Messages API, and data validation."""
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from formclip_pipeline.core import claude
from formclip_pipeline.core.annotate import (SEED_CSV_COLUMNS, apply_drafts, import_labeled_dir,
                                             load_store, orphans_path, refresh_annotations, review_csv_path)
from formclip_pipeline.core.validate import blocking_errors, validate
from formclip_pipeline_tests.fake_anthropic import FakeAnthropic

SECRET = "sk-ant-test-DO-NOT-LEAK-5f1e"


@pytest.fixture
def labeled(squat_frames, tmp_path):
    ann = refresh_annotations(squat_frames, tmp_path, "squat")
    return tmp_path, squat_frames, ann


def test_review_copy_has_the_seed_columns_and_frames_as_jpeg(labeled):
    root, frames, ann = labeled
    csv = pd.read_csv(review_csv_path(root, "squat"))
    assert list(csv.columns[:8]) == SEED_CSV_COLUMNS
    assert len(csv) == len(frames)
    first = root / csv["frame_path"].iloc[0]
    assert first.parent.name.startswith("frames_squat_") and Image.open(first).format == "JPEG"
    assert set(csv["source"]) == {"template"}


def test_human_edits_flow_back_and_are_never_overwritten(labeled):
    root, frames, _ = labeled
    path = review_csv_path(root, "squat")
    csv = pd.read_csv(path, dtype={"annotator_notes": object})
    csv.loc[0, "description"] = "knees drift in slightly on the way up"
    csv.loc[1, "confidence"] = 0.4
    csv.loc[2, "annotator_notes"] = "camera shake"
    csv.to_csv(path, index=False)
    ann = refresh_annotations(frames, root, "squat")
    by_path = ann.set_index("frame_path")
    edited = csv["frame_path"].iloc[:3]
    assert list(by_path.loc[edited, "source"]) == ["human"] * 3
    assert by_path.loc[edited[0], "description"] == "knees drift in slightly on the way up"
    assert by_path.loc[edited[1], "confidence"] == pytest.approx(0.4)
    assert by_path.loc[edited[2], "annotator_notes"] == "camera shake"
    # An AI draft run afterwards only touches template rows.
    drafted = apply_drafts(ann, {p: "draft text" for p in ann["frame_path"]})
    assert (drafted.set_index("frame_path").loc[edited, "source"] == "human").all()
    assert drafted.set_index("frame_path").loc[edited[0], "description"] == "knees drift in slightly on the way up"
    # A second refresh without new edits changes nothing, and the edit survives in the CSV.
    again = refresh_annotations(frames, root, "squat")
    assert again.set_index("frame_path").loc[edited[0], "updated_at"] == by_path.loc[edited[0], "updated_at"]
    assert pd.read_csv(path).loc[0, "description"] == "knees drift in slightly on the way up"


def test_accepting_an_ai_draft_makes_it_human(labeled):
    root, frames, ann = labeled
    from formclip_pipeline.core.annotate import write_review_copy

    write_review_copy(frames, apply_drafts(ann, {ann["frame_path"].iloc[0]: "bar over midfoot"}), root, "squat")
    path = review_csv_path(root, "squat")
    csv = pd.read_csv(path)
    assert csv.loc[0, "source"] == "ai_draft"
    csv.loc[0, "source"] = "human"
    csv.to_csv(path, index=False)
    ann = refresh_annotations(frames, root, "squat")
    row = ann.set_index("frame_path").loc[csv["frame_path"].iloc[0]]
    assert (row["source"], row["description"]) == ("human", "bar over midfoot")


def test_a_relabel_is_kept_and_an_unknown_class_is_refused_with_its_row(labeled, capsys):
    """Changing form_type is the reviewer's label for that frame: it is kept with the row's other
    edits. A class the exercise does not have is refused by row and reason, and kept aside."""
    from formclip_pipeline.cli import main

    root, frames, _ = labeled
    frames.to_parquet(root / "squat_frames.parquet")
    assert main(["validate", "--data-dir", str(root), "--exercises", "squat"]) == 0
    path = review_csv_path(root, "squat")
    csv = pd.read_csv(path, dtype=str, keep_default_na=False)
    relabelled, unknown = csv.index[csv["form_type"] == "knee_valgus"][:2]
    csv.loc[relabelled, ["form_type", "description"]] = ["good_form", "knees stay out at the top of the rep"]
    csv.loc[unknown, ["form_type", "description"]] = ["knees_forward", "knees travel far past the toes"]
    csv.to_csv(path, index=False)
    capsys.readouterr()
    # Not merged yet: validation says the CSV holds an edit that cannot be applied.
    assert main(["validate", "--data-dir", str(root), "--exercises", "squat"]) == 1
    assert "knees_forward" in capsys.readouterr().out

    warnings: list[str] = []
    ann = refresh_annotations(frames, root, "squat", warn=warnings.append).set_index("frame_path")
    row = ann.loc[csv.loc[relabelled, "frame_path"]]
    assert (row["relabelled_class"], row["description"], row["source"]) == (
        "good_form", "knees stay out at the top of the rep", "human")
    assert row["form_class"] == "knee_valgus"  # the video's own class, from its folder, is unchanged
    refused = ann.loc[csv.loc[unknown, "frame_path"]]
    assert refused["source"] == "template" and refused["relabelled_class"] is None
    assert len(warnings) == 1
    assert f"row {unknown + 2}" in warnings[0] and "knees_forward" in warnings[0]
    assert "squat_orphaned_labels.csv" in warnings[0]
    kept = pd.read_csv(orphans_path(root, "squat"), dtype=str, keep_default_na=False)
    assert list(kept["description"]) == ["knees travel far past the toes"]
    assert "knees_forward" in kept["reason"].iloc[0] and kept["relabelled_class"].iloc[0] == "knees_forward"
    # The review copy shows the reviewer's class, and the next refresh neither repeats nor loses anything.
    again = pd.read_csv(path, dtype=str, keep_default_na=False).set_index("frame_path")
    assert again.loc[csv.loc[relabelled, "frame_path"], "form_type"] == "good_form"
    warnings.clear()
    ann = refresh_annotations(frames, root, "squat", warn=warnings.append).set_index("frame_path")
    assert ann.loc[csv.loc[relabelled, "frame_path"], "relabelled_class"] == "good_form"
    assert warnings == [] and len(pd.read_csv(orphans_path(root, "squat"))) == 1
    # A relabelled frame is not a video filed under two classes.
    assert main(["validate", "--data-dir", str(root), "--exercises", "squat"]) == 0


def test_videos_that_differ_only_in_extension_get_a_frame_file_each(squat_frames, tmp_path):
    first, second = squat_frames[squat_frames["form_class"] == "good_form"]["source_video"].unique()[:2]
    frames = squat_frames[squat_frames["source_video"].isin([first, second])].copy()
    frames["source_video"] = frames["source_video"].map({first: "a.mp4", second: "a.mov"})
    ann = refresh_annotations(frames, tmp_path, "squat")
    assert ann["frame_path"].is_unique
    for rel, image in zip(ann["frame_path"], frames["image"]):
        assert (tmp_path / rel).read_bytes() == image
    csv = pd.read_csv(review_csv_path(tmp_path, "squat"))
    assert csv["frame_path"].is_unique and len(csv) == len(frames)


def _seed_folder(root, n_videos=3):
    """A folder as the seed's scripts left it: CSV plus JPEG folders, no videos."""
    rows = []
    rng = np.random.default_rng(0)
    for cls, folder in (("good_form", "frames_squat_good"), ("knee_valgus", "frames_squat_bad")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for v in range(n_videos):
            for k in range(2):
                name = f"{folder}/squat_{cls}_{v:02d}_{k:03d}.jpg"
                Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(root / name)
                rows.append({"frame_path": name, "exercise": "squat", "form_type": cls,
                             "source_video": f"squat_{cls}_{v:02d}.mp4", "timestamp": 0.5 * (k + 1),
                             "description": f"squat {cls} frame {v}-{k}" if v else "", "confidence": "",
                             "annotator_notes": ""})
    rows.append({"frame_path": "../../etc/passwd", "exercise": "squat", "form_type": "good_form",
                 "source_video": "evil.mp4", "timestamp": 0, "description": "x", "confidence": "", "annotator_notes": ""})
    pd.DataFrame(rows).to_csv(root / "squat_training_data.csv", index=False)


def test_seed_style_folder_imports_and_paths_cannot_escape(tmp_path):
    _seed_folder(tmp_path)
    frames, ann, problems = import_labeled_dir(tmp_path, "squat")
    assert len(frames) == 12
    assert any("outside" in p for p in problems)
    assert set(ann.loc[ann["description"].str.startswith("squat good_form frame 1"), "source"]) == {"human"}
    assert (ann.loc[ann["source_video"].str.endswith("_00.mp4"), "source"] == "template").all()
    assert (frames.groupby("video_sha256")["split"].nunique() == 1).all()


def test_cli_import_then_validate(tmp_path):
    from formclip_pipeline.cli import main

    _seed_folder(tmp_path)
    assert main(["import-labeled", "--data-dir", str(tmp_path)]) == 0
    assert (tmp_path / "squat_training_data.seed.csv").exists()
    assert (tmp_path / "squat_frames.parquet").exists()
    # Only two of the catalogue's five classes have videos: validation must refuse to train.
    assert main(["validate", "--data-dir", str(tmp_path)]) == 1
    report = pd.read_parquet(tmp_path / "validation_report.parquet")
    assert "videos_per_class:bouncing" in set(blocking_errors(report)["check"])


def test_validation_finds_duplicates_corrupt_images_and_leaks(squat_frames):
    from formclip_pipeline.core.annotate import template_annotations

    frames = squat_frames.copy()
    ann = template_annotations(frames)
    clean = validate(ann, "squat", frames=frames)
    assert blocking_errors(clean).empty
    # The same video uploaded again under another class: contradictory labels.
    one = frames[frames["source_video"] == frames["source_video"].iloc[0]].copy()
    one["form_class"] = "good_form" if one["form_class"].iloc[0] != "good_form" else "bouncing"
    one["source_video"] = "copy.mp4"
    bad_frames = pd.concat([frames, one], ignore_index=True)
    bad_frames.loc[0, "image"] = b"not a jpeg"
    report = validate(template_annotations(bad_frames), "squat", frames=bad_frames).set_index("check")
    assert not report.loc["same_video_in_two_classes", "passed"]
    assert report.loc["invalid_images", "value"] == 1 and report.loc["invalid_images", "severity"] == "error"
    # A renamed copy in another split is a near-duplicate that would leak.
    copy = frames[frames["source_video"] == frames["source_video"].iloc[-1]].copy()
    copy["video_sha256"] = "f" * 64
    copy["split"] = "train" if copy["split"].iloc[0] != "train" else "test"
    leaky = pd.concat([frames, copy], ignore_index=True)
    dup = validate(template_annotations(leaky), "squat", frames=leaky).set_index("check").loc["duplicate_frames"]
    assert dup["value"] >= 2 * len(copy) - 2 and "straddle splits" in dup["message"]


# --- Claude drafts against a local server that speaks the Messages API ---------------------------

def _items(n):
    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(np.full((24, 24, 3), i * 9 % 255, np.uint8)).save(buf, format="JPEG")
        out.append({"key": f"f{i}", "image": buf.getvalue(), "exercise": "squat", "form_class": "knee_valgus"})
    return out


@pytest.fixture
def api(monkeypatch):
    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
        yield server


def test_drafts_are_sent_once_and_then_cached(api, tmp_path):
    settings = claude.DraftSettings(model="claude-test", concurrency=2)
    first = claude.draft_descriptions(_items(5), settings, tmp_path / "cache.jsonl", log=lambda _: None)
    assert first.sent == 5 and len(first.drafts) == 5 and not first.failed
    body = api.requests[0]["body"]
    assert body["model"] == "claude-test"
    content = body["messages"][0]["content"]
    assert content[0]["type"] == "image" and content[0]["source"]["media_type"] == "image/jpeg"
    assert "knee_valgus" in content[1]["text"] and "partial_depth" in content[1]["text"]
    headers = api.requests[0]["headers"]
    assert SECRET in (headers.get("x-api-key", ""), headers.get("authorization", "").removeprefix("Bearer "))
    again = claude.draft_descriptions(_items(5), settings, tmp_path / "cache.jsonl", log=lambda _: None)
    assert again.sent == 0 and again.cached == 5 and len(api.requests) == 5
    # Another model or prompt version is another cache entry.
    other = claude.draft_descriptions(_items(1), claude.DraftSettings(model="claude-other"), tmp_path / "cache.jsonl",
                                      log=lambda _: None)
    assert other.sent == 1


def test_rate_limits_and_server_errors_are_retried(api, tmp_path):
    api.script = [("status", 429), ("status", 500), ("status", 503), ("ok", "knees caving in")]
    res = claude.draft_descriptions(_items(1), claude.DraftSettings(max_retries=4, concurrency=1),
                                    tmp_path / "c.jsonl", log=lambda _: None)
    assert res.drafts == {"f0": "knees caving in"} and len(api.requests) == 4


def test_persistent_errors_and_malformed_replies_keep_the_template(api, tmp_path):
    api.script = [("status", 500)] * 3 + [("malformed",), ("empty",)]
    res = claude.draft_descriptions(_items(3), claude.DraftSettings(max_retries=2, concurrency=1),
                                    tmp_path / "c.jsonl", log=lambda _: None)
    assert res.drafts == {}
    assert "server error (500)" in res.failed["f0"]
    assert "malformed" in res.failed["f1"] and "malformed" in res.failed["f2"]
    assert not (tmp_path / "c.jsonl").exists() or (tmp_path / "c.jsonl").read_text() == ""


def test_a_rejected_key_stops_the_run(api, tmp_path):
    api.script = [("status", 401)]
    res = claude.draft_descriptions(_items(4), claude.DraftSettings(concurrency=1), tmp_path / "c.jsonl",
                                    log=lambda _: None)
    assert res.failed["f0"] == "the API key was rejected (401)"
    assert len(api.requests) == 1 and not res.drafts


def test_budget_and_dry_run(api, tmp_path):
    dry = claude.draft_descriptions(_items(5), claude.DraftSettings(max_requests=3), tmp_path / "c.jsonl", dry_run=True)
    assert api.requests == [] and "3 requests" in dry.message and "2 over the budget" in dry.message
    assert dry.estimated_cost_usd > 0
    res = claude.draft_descriptions(_items(5), claude.DraftSettings(max_requests=3), tmp_path / "c.jsonl",
                                    log=lambda _: None)
    assert res.sent == 3 and res.over_budget == 2


def test_no_key_falls_back_to_templates_with_a_message(monkeypatch, tmp_path):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    res = claude.draft_descriptions(_items(2), claude.DraftSettings(), tmp_path / "c.jsonl")
    assert res.drafts == {} and "no ANTHROPIC_API_KEY" in res.message


def test_cli_annotate_ai_marks_drafts_and_never_leaks_the_key(api, squat_frames, tmp_path, capsys):
    from formclip_pipeline.cli import main

    root = tmp_path / "labeled"
    squat_frames.to_parquet((root.mkdir() or root) / "squat_frames.parquet")
    refresh_annotations(squat_frames, root, "squat")
    csv_path = review_csv_path(root, "squat")
    csv = pd.read_csv(csv_path)
    csv.loc[0, "description"] = "a person wrote this"
    csv.to_csv(csv_path, index=False)
    api.script = [("status", 429)] + [("ok", "drafted by claude")] * 500
    assert main(["annotate", "--csv-file", str(csv_path), "--ai", "--max-requests", "10"]) == 0
    out = capsys.readouterr()
    ann = load_store(root, "squat")
    assert (ann["source"] == "ai_draft").sum() == 10
    assert ann.loc[0, "source"] == "human" and ann.loc[0, "description"] == "a person wrote this"
    everything = out.out + out.err + "".join(p.read_text(errors="ignore") for p in root.rglob("*")
                                             if p.is_file() and p.suffix in (".csv", ".jsonl", ".json"))
    everything += "".join(p.read_bytes().decode("latin-1") for p in root.rglob("*.parquet"))
    assert SECRET not in everything
    assert main(["annotate", "--csv-file", str(csv_path), "--ai", "--dry-run"]) == 0
    assert "would be sent" in capsys.readouterr().out

"""The Dagster and MLflow UIs, driven in a real headless Chromium as a user drives them.

`.ci/run` installs Debian's chromium; Playwright's Python client drives that binary (no browser
download). Screenshots of every step land in test-artifacts/browser/ (FORMCLIP_TEST_ARTIFACTS).
Without chromium the test skips, unless FORMCLIP_REQUIRE_BROWSER=1 (as in CI), where it fails.
"""
from __future__ import annotations

import os
import re
import shutil
import time
import warnings
from pathlib import Path

import pytest

from formclip_pipeline_tests.servers import REPO, dagster_dev, graphql, mlflow_ui

CHROMIUM = os.environ.get("FORMCLIP_CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialing Google on a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
EXERCISES = ["squat", "deadlift", "bench_press", "row", "ohp"]
TRAINING_ASSETS = ["raw_videos", "extracted_frames", "pose_landmarks", "frame_annotations", "validation_report",
                   "finetuned_checkpoint", "evaluation_metrics"]
RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"
RUN_MESSAGES = ('query($runId: ID!) { logsForRun(runId: $runId) { ... on EventConnection { events '
                '{ ... on MessageEvent { message } } } } }')
CHECKPOINT = ('query($key: AssetKeyInput!) { assetOrError(assetKey: $key) { ... on Asset { assetMaterializations '
              '{ partition runId metadataEntries { label ... on TextMetadataEntry { text } } } } } }')


def _browser_or_skip():
    missing = None
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        missing = "the playwright package is not installed"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if missing:
        if os.environ.get("FORMCLIP_REQUIRE_BROWSER") == "1":
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture
def artifacts() -> Path:
    out = Path(os.environ.get("FORMCLIP_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return out


@pytest.fixture
def home_with_squat_videos(tmp_path, squat_videos) -> Path:
    src, _ = squat_videos
    shutil.copytree(src / "squat", tmp_path / "data" / "training_data" / "squat")
    return tmp_path


def _wait_for_run(port: int, timeout: float = 900) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = graphql(port, RUNS)["data"]["runsOrError"]["results"]
        if runs and runs[0]["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
            return runs[0]
        time.sleep(3)
    raise TimeoutError("the run launched from the UI did not finish in time")


def _open_mlflow_page(page, url: str, wanted: str, mlflow_log, artifacts: Path) -> None:
    """Open an MLflow UI page and wait for `wanted` on it.

    MLflow's UI has shown its "Something went wrong" page once on a loaded 2-core CI machine, with
    the store holding the run. If it does, this keeps what the browser and the server saw, reports it
    as a warning (it prints in pytest's summary) and reloads once, as a user would; a second failure
    fails the test with the same evidence."""
    from playwright.sync_api import expect

    failures: list[str] = []
    page.on("pageerror", lambda e: failures.append(f"page error: {e}"))
    page.on("response", lambda r: failures.append(f"HTTP {r.status} {r.url}")
            if r.status >= 500 else None)
    page.goto(url)
    wanted_text = page.get_by_text(wanted).first
    broken = page.get_by_text("Something went wrong").first
    for attempt in (1, 2):
        expect(wanted_text.or_(broken).first).to_be_visible()
        if not broken.is_visible():
            return
        page.screenshot(path=artifacts / f"mlflow-error-{attempt}.png")
        evidence = "\n".join(failures[-10:]) + "\n--- mlflow ui log ---\n" + mlflow_log(3000)
        if attempt == 2:
            pytest.fail(f"MLflow's UI failed twice on {url}:\n{evidence}")
        warnings.warn(f"MLflow's UI failed on {url}, reloading once:\n{evidence}")
        page.reload()


def test_a_partition_materialized_from_the_dagster_ui_is_tracked_in_the_mlflow_ui(home_with_squat_videos, artifacts,
                                                                                  monkeypatch):
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)

    home = home_with_squat_videos
    # The run launched from the UI goes through `dagster dev`'s default executor, multiprocess, as a
    # user's does: this is the one test of that executor end to end (test_cluster has the others).
    monkeypatch.delenv("FORMCLIP_EXECUTOR", raising=False)
    env = {"FORMCLIP_BASE_MODEL": "formclip-tiny-init"}
    with dagster_dev(home, env) as port, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.set_default_timeout(60_000)
        # On localhost Dagster offers its newsletter in a modal a second after any page loads, and
        # the modal can land on top of the launch dialog mid-click. Its "dismissed" flag lives in
        # localStorage under "communityNux", so the browser starts as one that dismissed it before.
        page.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
        base = f"http://127.0.0.1:{port}"

        # The asset graph of the training group shows all seven assets.
        page.goto(f"{base}/locations/__repository__@formclip_pipeline.definitions/asset-groups/training")
        for name in TRAINING_ASSETS:
            # The graph shortens long names in the middle ("finetu…_checkpoint").
            label = re.compile(rf"^{re.escape(name[:4])}.*{re.escape(name[-4:])}$")
            shown = page.get_by_text(label).locator("visible=true")
            expect(shown.first).to_be_visible()
        page.screenshot(path=artifacts / "1-asset-graph.png")

        # Each asset offers the five exercise partitions.
        page.goto(f"{base}/assets/raw_videos?view=partitions")
        expect(page.get_by_text("5 Partitions Selected")).to_be_visible()
        for ex in EXERCISES:
            expect(page.get_by_text(ex, exact=True).locator("visible=true").first).to_be_visible()
        page.screenshot(path=artifacts / "2-partitions.png")

        # Materialize the whole group for one partition, from the launch dialog.
        page.goto(f"{base}/locations/__repository__@formclip_pipeline.definitions/asset-groups/training")
        page.get_by_role("button", name="Materialize all").click()
        dialog = page.locator(".dagster-dialog")
        expect(dialog.get_by_text("Launch runs to materialize 7 assets")).to_be_visible()
        dialog.get_by_text("Select a partition or create one").click()
        page.keyboard.type("squat")
        page.get_by_text("squat", exact=True).locator("visible=true").first.click()
        page.keyboard.press("Escape")
        expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
        page.screenshot(path=artifacts / "3-launch-dialog.png")
        dialog.get_by_role("button", name="Launch 1 run").click()

        run = _wait_for_run(port)
        page.goto(f"{base}/runs/{run['runId']}")
        expect(page.get_by_text("Success").first).to_be_visible(timeout=120_000)
        page.screenshot(path=artifacts / "4-run.png")
        assert run["status"] == "SUCCESS"
        assert {"key": "dagster/partition", "value": "squat"} in run["tags"]
        events = graphql(port, RUN_MESSAGES, {"runId": run["runId"]})["data"]["logsForRun"]["events"]
        assert any("multiprocess executor" in (e.get("message") or "") for e in events)

        # The checkpoint's materialization links its MLflow run; the MLflow UI shows that run.
        mats = graphql(port, CHECKPOINT, {"key": {"path": ["finetuned_checkpoint"]}})["data"]["assetOrError"]
        mat = next(m for m in mats["assetMaterializations"] if m["runId"] == run["runId"])
        assert mat["partition"] == "squat"
        mlflow_run_id = next(e["text"] for e in mat["metadataEntries"] if e["label"] == "mlflow_run_id")

        import mlflow

        tracking = f"sqlite:///{home / 'mlruns' / 'mlflow.db'}"
        experiment_id = mlflow.MlflowClient(tracking).get_run(mlflow_run_id).info.experiment_id
        with mlflow_ui(tracking) as (ml_port, mlflow_log):
            # MLflow 3 opens experiments in its GenAI view; a training run lives in the model-training view.
            _open_mlflow_page(page, f"http://127.0.0.1:{ml_port}/#/experiments/{experiment_id}/runs"
                              "?workflowType=machine_learning", "train-squat", mlflow_log, artifacts)
            expect(page.get_by_text("1 matching run")).to_be_visible()
            page.screenshot(path=artifacts / "5-mlflow-runs.png")
            page.get_by_text("train-squat").first.click()
            expect(page).to_have_url(re.compile(mlflow_run_id))
            expect(page.get_by_text("test_video_balanced_accuracy").first).to_be_visible()
            expect(page.get_by_text("formclip-tiny-init").first).to_be_visible()
            page.screenshot(path=artifacts / "6-mlflow-run.png")
        browser.close()

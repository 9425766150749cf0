"""The same definitions on a cluster: Celery workers for real (Redis broker, PostgreSQL instance
storage, both started here), the Kubernetes executor loaded and validated, the image's Dockerfile."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from formclip_pipeline_tests.servers import REPO, celery_worker, postgres_server, redis_server, run_python

EXERCISES = ("squat", "deadlift")
# One video per extraction step, so an exercise's videos are decoded by several steps.
RUN_CONFIG = {"ops": {"extracted_frames_and_poses": {"config": {"frames_per_video": 4, "pose_fps": 2.0,
                                                                "videos_per_step": 1}}}}


@pytest.fixture(scope="module")
def videos(squat_videos, lifter_per_exercise, tmp_path_factory) -> Path:
    """The session's three good-form squats and its good-form deadlift, as a training folder."""
    import shutil

    out = tmp_path_factory.mktemp("videos")
    chosen = {"squat": [r["video"] for r in squat_videos[1] if r["truth"]["form_class"] == "good_form"],
              "deadlift": [lifter_per_exercise["deadlift"]]}
    for ex in EXERCISES:
        (out / ex / "good_form").mkdir(parents=True)
        for video in chosen[ex]:
            shutil.copy(video, out / ex / "good_form")
    return out


def expected_steps(videos: int) -> set[str]:
    """The selection's steps: extraction shares the videos out, one step each, and gathers them."""
    extraction = "extracted_frames_and_poses"
    return {"raw_videos", f"{extraction}.share_out_videos", f"{extraction}.gather_extraction", "frame_annotations",
            *(f"{extraction}.extract_share[videos_{i}]" for i in range(videos))}


def readme_cluster_commands() -> dict[str, list[str]]:
    """The README's "Running on a cluster" commands, so the test runs them as written."""
    import shlex

    block = (REPO / "README.md").read_text().split("## Running on a cluster", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [shlex.split(line.split("#", 1)[0].strip().rstrip("&")) for line in block.splitlines() if line.strip()]
    return {words[0] if words[0] != "dagster" else "dagster " + words[1]: words for words in lines}


def _home_with(videos: Path, home: Path) -> Path:
    import shutil

    shutil.copytree(videos, home / "data" / "training_data")
    return home


def _ancestors(pid: int) -> list[int]:
    chain = []
    while pid > 1:
        chain.append(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return chain


def test_celery_workers_run_every_step_and_match_one_process(videos, tmp_path, monkeypatch):
    import dagster as dg

    commands = readme_cluster_commands()
    exported = dict(w.split("=", 1) for w in commands["export"][1:])
    assert exported["FORMCLIP_EXECUTOR"] == "celery"
    worker, materialize = commands["dagster-celery"], commands["dagster asset"]
    selection = materialize[materialize.index("--select") + 1].split(",")
    at_partition = materialize.index("--partition") + 1
    celery_home = _home_with(videos, tmp_path / "celery")
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    with redis_server() as broker, postgres_server() as postgres:
        # Workers and the run share one instance: PostgreSQL, which several machines can reach.
        (dagster_home / "dagster.yaml").write_text(
            f"storage:\n  postgres:\n    postgres_url: {postgres}\ntelemetry:\n  enabled: false\n")
        # The README's settings, but the broker this test started on a free port.
        env = {**os.environ, **exported, "DAGSTER_HOME": str(dagster_home), "FORMCLIP_HOME": str(celery_home),
               "FORMCLIP_CELERY_BROKER": broker}
        named = [worker[:worker.index("-n") + 1] + [f"worker{i}"] + worker[worker.index("-n") + 2:] for i in (1, 2)]
        with celery_worker(named[0], env) as w1, celery_worker(named[1], env) as w2:
            dagster = str(Path(sys.executable).with_name("dagster"))
            launches = {ex: subprocess.Popen([dagster, *materialize[1:at_partition], ex, *materialize[at_partition + 1:],
                                              "--config-json", json.dumps(RUN_CONFIG)],
                                             cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                        for ex in EXERCISES}
            outputs = {ex: p.communicate(timeout=600)[0].decode(errors="replace") for ex, p in launches.items()}
            for ex, p in launches.items():
                assert p.returncode == 0, outputs[ex][-3000:]
            instance = dg.DagsterInstance.from_config(str(dagster_home))
            runs = instance.get_runs()
            assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(EXERCISES)
            workers_used = set()
            for run in runs:
                assert run.status == dg.DagsterRunStatus.SUCCESS
                events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
                started = {e.step_key: e.pid for e in events if e.event_type == dg.DagsterEventType.STEP_SUCCESS}
                exercise = run.tags["dagster/partition"]
                assert set(started) == expected_steps(len(list((videos / exercise).rglob("*.mp4"))))
                launcher = launches[exercise].pid
                for step, pid in started.items():
                    chain = _ancestors(pid)
                    assert pid != launcher and (w1.pid in chain or w2.pid in chain), (step, pid, chain)
                    workers_used.add(w1.pid if w1.pid in chain else w2.pid)
                delegated = [e for e in events if e.event_type == dg.DagsterEventType.ENGINE_EVENT
                             and "in celery worker" in (e.message or "")]
                assert len(delegated) == len(started)
            instance.dispose()
    print(f"steps ran in {len(workers_used)} of the 2 workers")  # Celery decides; one may take them all

    # The same selection in one process, on a copy of the same videos.
    local_home = _home_with(videos, tmp_path / "local")
    monkeypatch.setenv("FORMCLIP_HOME", str(local_home))
    from formclip_pipeline.assets import TRAINING_ASSETS
    from formclip_pipeline.definitions import resources

    for ex in EXERCISES:
        result = dg.materialize(TRAINING_ASSETS, selection=selection, partition_key=ex,
                                resources=resources(), run_config=RUN_CONFIG)
        assert result.success
        for asset in ("extracted_frames", "pose_landmarks", "frame_annotations"):
            ours = pd.read_parquet(celery_home / "data" / "pipeline" / asset / f"{ex}.parquet")
            theirs = pd.read_parquet(local_home / "data" / "pipeline" / asset / f"{ex}.parquet")
            paths = [c for c in ours.columns if ours[c].map(lambda v: isinstance(v, str) and str(celery_home) in v).any()]
            for c in paths:  # the same videos under two homes
                ours[c] = ours[c].str.replace(str(celery_home), "", regex=False)
                theirs[c] = theirs[c].str.replace(str(local_home), "", regex=False)
            when = [c for c in ours.columns if c.endswith("_at")]  # when each row was written
            pd.testing.assert_frame_equal(ours.drop(columns=when), theirs.drop(columns=when), check_exact=False, atol=1e-6)


def test_the_kubernetes_executor_loads_and_the_deploy_run_config_validates(tmp_path):
    check = run_python("""
import yaml, dagster as dg
from formclip_pipeline.definitions import defs
job = defs.resolve_job_def("train_exercise")
assert job.executor_def.name == "k8s", job.executor_def.name
dg.validate_run_config(job, yaml.safe_load(open("deploy/run_config.yaml")))
node = job.graph.node_named("finetuned_checkpoint")
print(node.definition.pool, node.tags["dagster-celery/queue"], node.tags["dagster-k8s/config"])
""", FORMCLIP_EXECUTOR="k8s")
    assert check.returncode == 0, check.stderr[-3000:]
    pool, queue, k8s = check.stdout.split(" ", 2)
    assert (pool, queue) == ("gpu", "gpu")
    assert json.loads(k8s)["container_config"]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    validate = subprocess.run([str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-m",
                               "formclip_pipeline.definitions"], cwd=REPO, capture_output=True, text=True,
                              env={**os.environ, "FORMCLIP_EXECUTOR": "k8s", "DAGSTER_HOME": str(tmp_path)},
                              timeout=300)
    assert validate.returncode == 0, validate.stdout[-2000:] + validate.stderr[-2000:]


def test_an_unknown_executor_is_named_with_the_choices():
    out = run_python("import formclip_pipeline.definitions", FORMCLIP_EXECUTOR="spark")
    assert out.returncode != 0
    assert "FORMCLIP_EXECUTOR='spark'" in out.stderr and "in_process, multiprocess, celery, k8s" in out.stderr


def test_the_image_installs_only_what_make_setup_installs():
    """The Dockerfile runs `make setup` and installs no Python package of its own; the only system
    package it adds is make, which runs that target."""
    lines = (REPO / "Dockerfile").read_text().replace("\\\n", " ").splitlines()
    runs = [line.split(None, 1)[1] for line in lines if line.startswith("RUN ")]
    assert "make setup" in runs
    for run in runs:
        assert "pip" not in run and "conda" not in run, run
        if "apt-get install" in run:
            packages = [w for w in run.split("apt-get install", 1)[1].split("&&")[0].split() if not w.startswith("-")]
            assert packages == ["make"], packages
    makefile = (REPO / "Makefile").read_text()
    assert "VENV := .venv" in makefile and "PATH=/opt/formclip/.venv/bin" in (REPO / "Dockerfile").read_text()
    python = next(line for line in lines if line.startswith("FROM ")).split(":")[1][:4]
    assert python in ("3.11", "3.12")  # the versions pyproject allows (mediapipe 0.10.21's wheels)


def test_the_image_and_its_pods_run_as_a_user_and_hold_no_secret_of_ours():
    """The image's last USER is a numbered user other than root, and every pod asks for it; the
    build context leaves out the history and .env files; PostgreSQL's password comes from a Secret,
    never the chart's default."""
    import yaml

    docker = (REPO / "Dockerfile").read_text().splitlines()
    user = [line.split()[1] for line in docker if line.startswith("USER ")][-1].split(":")[0]
    assert user.isdigit() and int(user) != 0
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    assert {".git", ".env", ".env.*", "**/.env"} <= set(ignored)  # .git without a slash: a worktree's is a file
    values = yaml.safe_load((REPO / "deploy" / "values.yaml").read_text())
    deployment = values["dagster-user-deployments"]["deployments"][0]
    run_pods = values["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["podSpecConfig"]
    step_pods = yaml.safe_load((REPO / "deploy" / "run_config.yaml").read_text())["execution"]["config"]
    for context in (deployment["podSecurityContext"], run_pods["securityContext"]):
        assert context["runAsNonRoot"] and context["runAsUser"] == int(user) and context["fsGroup"] == int(user)
    step = step_pods["step_k8s_config"]["pod_spec_config"]["security_context"]
    assert step["run_as_non_root"] and step["run_as_user"] == int(user)
    assert values["generatePostgresqlPasswordSecret"] is False and "postgresqlPassword" not in values["postgresql"]
    assert values["postgresql"]["existingSecret"] == values["global"]["postgresqlSecretName"]
    made = f"create secret generic {values['global']['postgresqlSecretName']}"
    assert made in (REPO / "docs" / "cluster.md").read_text()


def test_the_readme_train_command_takes_several_processes_and_refuses_them_for_pose(tmp_path):
    formclip = str(Path(sys.executable).with_name("formclip"))
    train = readme_cluster_commands()["formclip"]
    assert train[train.index("--nproc-per-node") + 1] == "2"
    out = subprocess.run([formclip, *train[1:], "--strategy", "pose", "--data-dir", str(tmp_path)], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2 and "fits in one process" in out.stderr, out.stderr

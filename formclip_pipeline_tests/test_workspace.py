"""`dagster dev`, started as a user starts it, loads workspace.yaml and serves the six assets."""
from formclip_pipeline_tests.servers import REPO, dagster_dev, graphql, run_python

QUERY = ("{ assetNodes { assetKey { path } groupName partitionKeys } "
         "repositoriesOrError { ... on RepositoryConnection { nodes { schedules { name cronSchedule } "
         "sensors { name } } } } }")


def test_pyproject_has_no_block_that_would_make_dagster_ignore_workspace_yaml():
    import tomllib

    tool = tomllib.loads((REPO / "pyproject.toml").read_text()).get("tool", {})
    assert "dagster" not in tool and "dg" not in tool


def test_dagster_dev_serves_the_seven_training_assets_with_five_partitions(tmp_path):
    with dagster_dev(tmp_path) as port:
        body = graphql(port, QUERY)
    nodes = body["data"]["assetNodes"]
    by_name = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    training = {"raw_videos", "extracted_frames", "pose_landmarks", "frame_annotations", "validation_report",
                "finetuned_checkpoint", "evaluation_metrics"}
    assert set(by_name) == training | {"video_report"}
    for name in training:
        assert sorted(by_name[name]["partitionKeys"]) == ["bench_press", "deadlift", "ohp", "row", "squat"]
        assert by_name[name]["groupName"] == "training"
    assert by_name["video_report"]["groupName"] == "scoring"
    repo = body["data"]["repositoriesOrError"]["nodes"][0]
    assert [s["name"] for s in repo["sensors"]] == ["incoming_video_sensor"]
    assert [(s["name"], s["cronSchedule"]) for s in repo["schedules"]] == [("retrain_changed_exercises", "0 3 * * 1")]


def test_loading_the_definitions_prints_nothing():
    # Every `dagster dev` reload and every demo run loads them; a notice there is noise the user
    # cannot act on, and hides the lines that matter.
    res = run_python("import formclip_pipeline.definitions")
    assert res.returncode == 0 and res.stderr == "" and res.stdout == "", res.stderr

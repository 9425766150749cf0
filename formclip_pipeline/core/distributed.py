"""Fine-tuning on several processes: one per GPU, or per CPU core with the gloo backend.

`train_distributed` writes the run's inputs to a job folder and starts `torchrun`, which runs this
module's `main` in each process. Every process trains on its share of each batch (core.loop wraps
the loss in DistributedDataParallel); only rank 0 opens the MLflow run, saves the checkpoint and
registers the model, so a run of N processes leaves one checkpoint and one MLflow run.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import pandas as pd

from formclip_pipeline.core.strategies import GRADIENT_STRATEGIES

RESULT_FILE = "result.json"


class DistributedTrainingError(Exception):
    """torchrun or one of its processes failed; the message names the exit status and the last lines."""


def check_strategy(strategy: str, nproc: int) -> None:
    if nproc > 1 and strategy not in GRADIENT_STRATEGIES:
        raise ValueError(f"--nproc-per-node {nproc} trains the gradient strategies ({', '.join(GRADIENT_STRATEGIES)}); "
                         f"{strategy} fits in one process, so train it with --nproc-per-node 1")


def train_distributed(frames: pd.DataFrame, annotations: pd.DataFrame, exercise: str, config, tracker,
                      models_dir: str | Path, nproc: int, log: Callable[[str], None] = print) -> dict:
    """What core.runs.train_run returns, computed by `nproc` processes under torchrun."""
    from formclip_pipeline.core.bases import resolve_base

    check_strategy(config.strategy, nproc)
    # Built (or found) once here, so the processes never race to build the same base.
    config = replace(config, base_model=resolve_base(config.base_model))
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".torchrun-", dir=models_dir) as job_dir:
        job = Path(job_dir)
        frames.to_parquet(job / "frames.parquet")
        annotations.to_parquet(job / "annotations.parquet")
        (job / "job.json").write_text(json.dumps({
            "exercise": exercise, "config": asdict(config), "models_dir": str(Path(models_dir).resolve()),
            "tracking_uri": tracker.uri, "artifact_location": tracker.artifact_location}))
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
               "-m", "formclip_pipeline.core.distributed", str(job)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail: list[str] = []
        for line in proc.stdout:
            log(line.rstrip())
            tail = (tail + [line.rstrip()])[-15:]
        if proc.wait() != 0 or not (job / RESULT_FILE).exists():
            raise DistributedTrainingError(f"training {exercise} on {nproc} processes failed (exit {proc.returncode}):\n"
                                           + "\n".join(tail))
        return json.loads((job / RESULT_FILE).read_text())


def main(job_dir: str) -> None:
    """One torchrun process: all train, rank 0 alone tracks, saves and registers."""
    import torch
    import torch.distributed as dist

    from formclip_pipeline.core.files import write_json
    from formclip_pipeline.core.runs import train_run
    from formclip_pipeline.core.store import Tracker
    from formclip_pipeline.core.settings import TrainSettings
    from formclip_pipeline.core.train import train_classifier

    job = Path(job_dir)
    spec = json.loads((job / "job.json").read_text())
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        frames = pd.read_parquet(job / "frames.parquet")
        annotations = pd.read_parquet(job / "annotations.parquet")
        config, exercise, models_dir = TrainSettings(**spec["config"]), spec["exercise"], Path(spec["models_dir"])
        if dist.get_rank() == 0:
            tracker = Tracker(spec["tracking_uri"], spec["artifact_location"])
            result = train_run(frames, annotations, exercise, config, tracker, models_dir)
            result["processes"] = dist.get_world_size()
            write_json(job / RESULT_FILE, result)
        else:
            # The same data, config and resume folder as rank 0's train_run, so the steps match.
            train_classifier(annotations, frames, exercise, config, log=lambda _: None,
                             resume_dir=models_dir / exercise / ".resume")
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])

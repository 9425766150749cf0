"""How Dagster runs the steps: a deployment setting (FORMCLIP_EXECUTOR), chosen here and nowhere in
the asset code, so the same definitions run in one process, in several, on Celery workers or as
Kubernetes jobs (docs/cluster.md).

Steps that want a GPU carry `GPU_STEP`: a Dagster pool (give it a limit of one per card, so two
never share one), the Celery queue `gpu` (start the GPU machines' workers with `-q gpu`) and, on
Kubernetes, a pod limit of one `nvidia.com/gpu`.
"""
from __future__ import annotations

import dagster as dg

from formclip_pipeline.core import environment

GPU_POOL = "gpu"
GPU_QUEUE = "gpu"
GPU_STEP = {
    "pool": GPU_POOL,
    "op_tags": {
        "dagster-celery/queue": GPU_QUEUE,
        "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}},
    },
}


def _needs_extra(name: str, exc: ImportError) -> RuntimeError:
    return RuntimeError(f"FORMCLIP_EXECUTOR={name} needs the cluster extra ({exc.name} is missing): "
                        f"pip install 'formclip[cluster]', or run `make setup`")


def executor_for(name: str) -> dg.ExecutorDefinition:
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError as exc:
            raise _needs_extra(name, exc) from exc
        broker = environment.celery_broker()
        return celery_executor.configured({"broker": broker, "backend": broker}, name="celery")
    if name == "k8s":
        try:
            from dagster_k8s import k8s_job_executor
        except ImportError as exc:
            raise _needs_extra(name, exc) from exc
        return k8s_job_executor  # image, namespace and limits come from the run config (deploy/run_config.yaml)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(environment.EXECUTORS)}")

"""Scheduled retraining: every exercise whose videos or annotations changed since its checkpoint."""
from __future__ import annotations

import dagster as dg

from formclip_pipeline.catalog import exercise_names
from formclip_pipeline.core import environment
from formclip_pipeline.core.fingerprint import data_fingerprint
from formclip_pipeline.resources import FormClipPaths

# Weekly by default (Monday 03:00); FORMCLIP_RETRAIN_CRON changes it for a deployment. A schedule's cron is
# fixed when Dagster loads the definitions, so it is read then.
RETRAIN_CRON = environment.retrain_cron()


def last_fingerprint(instance: dg.DagsterInstance, exercise: str) -> str | None:
    """The data fingerprint recorded with the exercise's latest checkpoint, from Dagster's own record
    of the materialization (not from where the IO manager happens to keep its output)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("finetuned_checkpoint"), asset_partitions=[exercise]), limit=1).records
    if not records:
        return None
    entry = records[0].asset_materialization.metadata.get("data_fingerprint")
    return str(entry.value) if entry is not None else None


def retrain_decisions(paths: FormClipPaths, instance: dg.DagsterInstance) -> dict[str, str | None]:
    """exercise -> None when unchanged, else why it should retrain."""
    out = {}
    for ex in exercise_names():
        if not (paths.video_dir / ex).exists():
            out[ex] = None
            continue
        last = last_fingerprint(instance, ex)
        current = data_fingerprint(paths.video_dir, paths.labeled_dir, ex)
        if last is None:
            out[ex] = "no checkpoint yet"
        elif last != current:
            out[ex] = "videos or annotations changed since the last checkpoint"
        else:
            out[ex] = None
    return out


def build_retrain_schedule(job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(job=job, cron_schedule=RETRAIN_CRON, default_status=dg.DefaultScheduleStatus.STOPPED,
                 description="Retrains, evaluates and (through the champion gate) promotes every exercise whose "
                             "videos or review CSV changed since its last checkpoint; unchanged ones are skipped "
                             "and the tick says why.")
    def retrain_changed_exercises(context: dg.ScheduleEvaluationContext, paths: FormClipPaths):
        decisions = retrain_decisions(paths, context.instance)
        changed = {ex: why for ex, why in decisions.items() if why}
        if not changed:
            have = [ex for ex in decisions if (paths.video_dir / ex).exists()]
            return dg.SkipReason("nothing changed since the last checkpoints of " + (", ".join(have) or "any exercise")
                                 + "; nothing to retrain")
        for ex, why in changed.items():
            context.log.info(f"{ex}: {why}")
        stamp = context.scheduled_execution_time.isoformat()
        return [dg.RunRequest(run_key=f"{ex}-{stamp}", partition_key=ex, tags={"formclip/retrain_reason": why})
                for ex, why in changed.items()]

    return retrain_changed_exercises

"""Where FormClip keeps its files and how it reaches MLflow and DuckDB.

Every path hangs off one root (FORMCLIP_HOME, else the working directory), so a test can point the
whole pipeline at a temporary directory with one setting.
"""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from formclip_pipeline.core import store
from formclip_pipeline.core.environment import duckdb_path, home


def default_root() -> str:
    return str(home())


class FormClipPaths(dg.ConfigurableResource):
    root: str  # FormClip's home (core.environment.home), given by definitions.resources()

    @property
    def base(self) -> Path:
        return Path(self.root).resolve()

    @property
    def video_dir(self) -> Path:
        return self.base / "data" / "training_data"

    @property
    def labeled_dir(self) -> Path:
        """The seed's review copy: <exercise>_training_data.csv and frames_<exercise>_<class>/ JPEGs."""
        return self.base / "data" / "labeled_frames"

    @property
    def models_dir(self) -> Path:
        return self.base / "data" / "models"

    @property
    def reports_dir(self) -> Path:
        return self.base / "data" / "reports"

    @property
    def duckdb_path(self) -> Path:
        return duckdb_path(self.base)


class MLflowTracking(dg.ConfigurableResource):
    """Where runs and the model registry live: a sqlite store under <root>/mlruns, or the tracking
    server at `tracking_uri` (FORMCLIP_TRACKING_URI). The assets hand its Tracker to the core."""
    root: str  # FormClip's home (core.environment.home), given by definitions.resources()
    tracking_uri: str = ""

    def tracker(self) -> store.Tracker:
        return store.Tracker(self.tracking_uri) if self.tracking_uri else store.Tracker.at_home(self.root)


class DuckDBStore(dg.ConfigurableResource):
    """The DuckDB file of metrics and scored videos; the assets hand its MetricsStore to the core."""
    root: str  # FormClip's home (core.environment.home), given by definitions.resources()

    def metrics_store(self) -> store.MetricsStore:
        return store.MetricsStore.at_home(self.root)


class ParquetJsonIOManager(dg.ConfigurableIOManager):
    """DataFrames as Parquet, everything else as JSON, one file per asset partition, written atomically.

    What one step hands another inside an asset (the shares of an exercise's extraction) lives under
    data/pipeline/steps/<run id>/<step>/, on the same storage as the assets, so steps that run on other
    machines can read it."""
    root: str  # FormClip's home (core.environment.home), given by definitions.resources()

    def _path(self, context, suffix: str) -> Path:
        if not context.has_asset_key:
            output = context if isinstance(context, dg.OutputContext) else context.upstream_output
            run_id, step, *name = output.get_identifier()
            return Path(self.root) / "data" / "pipeline" / "steps" / run_id / step / f"{'_'.join(name)}{suffix}"
        key = "/".join(context.asset_key.path)
        part = context.partition_key if context.has_partition_key else "__all__"
        return Path(self.root) / "data" / "pipeline" / key / f"{part}{suffix}"

    def handle_output(self, context: dg.OutputContext, obj) -> None:
        from formclip_pipeline.core.files import atomic_path, write_json

        if context.has_asset_key and context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            # A run over several partitions (the scoring sensor's batches) returns {partition key: value}.
            folder = Path(self.root) / "data" / "pipeline" / "/".join(context.asset_key.path)
            for key in context.asset_partition_keys:
                write_json(folder / f"{key}.json", obj[key])
            context.add_output_metadata({"path": dg.MetadataValue.path(str(folder)), "partitions": len(obj)})
            return

        if isinstance(obj, pd.DataFrame):
            path = self._path(context, ".parquet")
            with atomic_path(path) as tmp:
                obj.to_parquet(tmp, index=False)
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path)), "row_count": len(obj)})
        else:
            path = self._path(context, ".json")
            write_json(path, obj)
            context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext):
        # An InputContext carries the upstream asset key and the partition being read.
        parquet, js = self._path(context, ".parquet"), self._path(context, ".json")
        if parquet.exists():
            return pd.read_parquet(parquet)
        if js.exists():
            import json

            return json.loads(js.read_text())
        if not context.has_asset_key:
            raise FileNotFoundError(f"the output of step {context.upstream_output.step_key} is gone (looked for {parquet})")
        raise FileNotFoundError(f"{context.asset_key.to_user_string()} has not been materialized for this partition "
                                f"(looked for {parquet.name} and {js.name})")

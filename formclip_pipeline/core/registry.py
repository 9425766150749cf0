"""Which trained model scores a video, and loading it: a checkpoint folder, a `formclip train`
output folder, or the registry's champion (models:/formclip-<exercise>@champion), each looked up and
loaded once for a batch of videos."""
from __future__ import annotations

from pathlib import Path

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core import environment
from formclip_pipeline.core.errors import ScoreError


def resolve_model(ref: str | None, exercise: str, root: str | None = None) -> tuple[str, str]:
    """(local checkpoint directory, description) for a checkpoint directory, a `formclip train`
    output folder (the exercise's checkpoint in it), or models:/formclip-<ex>@champion."""
    from formclip_pipeline.core import store

    root = root or str(environment.home())
    ref = ref or f"models:/{store.REGISTERED_PREFIX}{exercise}@{store.CHAMPION}"
    if not ref.startswith("models:/"):
        if not Path(ref).is_dir():
            raise ScoreError(f"model {ref} is not a checkpoint directory")
        latest = Path(ref) / "latest.json"
        if latest.exists():  # a `formclip train --output` folder: its checkpoint for this exercise
            import json

            trained = json.loads(latest.read_text())
            if exercise not in trained:
                raise ScoreError(f"{ref} holds models for {', '.join(sorted(trained))}, not {exercise}")
            if not Path(trained[exercise]["path"]).is_dir():
                raise ScoreError(f"the {exercise} checkpoint {trained[exercise]['path']}, named in {latest}, is not "
                                 f"a folder here; train {exercise} again")
            return trained[exercise]["path"], f"{ref} ({exercise})"
        return ref, ref
    name, _, alias = ref[len("models:/"):].partition("@")
    tracker = store.Tracker.for_home(root)
    if tracker.local_db is not None and not tracker.local_db.exists():
        raise ScoreError(f"no model registry at {tracker.local_db.parent}: train {name} first (make demo, or "
                         f"formclip train) or pass --model DIR")
    client = tracker.client()
    try:
        mv = client.get_model_version_by_alias(name, alias or store.CHAMPION) if alias else \
            client.get_latest_versions(name)[0]
    except Exception:
        raise ScoreError(f"there is no {alias or 'registered'} version of {name} yet: train and evaluate one "
                         f"(make demo, or materialize finetuned_checkpoint and evaluation_metrics for {exercise}), "
                         f"or pass --model DIR") from None
    local = mv.tags.get("local_path")
    if local and Path(local).is_dir():
        return local, f"{ref} (version {mv.version})"
    import mlflow

    return mlflow.artifacts.download_artifacts(client.get_model_version_download_uri(name, mv.version)), \
        f"{ref} (version {mv.version})"


def _load_for(exercise: str, model_ref: str | None, root: str | None):
    from formclip_pipeline.core import model as M
    from formclip_pipeline.core.pose_classifier import is_pose_checkpoint, load_pose_classifier
    from formclip_pipeline.core.clip_classifier import load_classifier

    get_exercise(exercise)
    path_dir, described = resolve_model(model_ref, exercise, root)
    try:
        clf = load_pose_classifier(path_dir) if is_pose_checkpoint(path_dir) else load_classifier(path_dir)
    except M.ModelError as exc:
        raise ScoreError(str(exc)) from exc
    if clf.exercise != exercise:
        raise ScoreError(f"the model {described} was trained for {clf.exercise}, not {exercise}; "
                         f"use the {exercise} model or pass --exercise {clf.exercise}")
    return clf, described, path_dir


class LoadedModels:
    """Models looked up and loaded once, then reused for every video scored with them: a batch of
    dropped-in videos pays the registry lookup and the load once, not once per video."""

    def __init__(self, model_ref: str | None = None, root: str | None = None):
        self.model_ref, self.root = model_ref, root
        self._classifiers: dict[str, tuple] = {}
        self._bases: dict[str, object] = {}
        self._recognition_base: str | None = None

    def classifier(self, exercise: str):
        """(classifier, how it was named, its folder) for the exercise."""
        if exercise not in self._classifiers:
            self._classifiers[exercise] = _load_for(exercise, self.model_ref, self.root)
        return self._classifiers[exercise]

    def recognition_base(self) -> str:
        """The name of the base CLIP that recognises the exercise from the image: the one the models
        scored with were trained on (core.bases.trained_base), else FORMCLIP_BASE_MODEL."""
        from formclip_pipeline.core import bases as B

        if self._recognition_base is None:
            self._recognition_base = B.trained_base(self.model_ref, self.root or environment.home()) \
                or environment.base_model()
        return self._recognition_base

    def base(self, name: str):
        """The base CLIP that recognises the exercise from the image; a ModelError (kept, so that a
        batch looks once) where it cannot be loaded."""
        from formclip_pipeline.core import bases as B
        from formclip_pipeline.core import model as M

        if name not in self._bases:
            try:
                self._bases[name] = B.load_clip(name)
            except M.HubUnavailable as exc:  # what was not found and why, without training's advice
                self._bases[name] = M.ModelError(f"{exc.name} is not in this machine's model cache and {exc.reason}")
            except M.ModelError as exc:
                self._bases[name] = exc
        if isinstance(self._bases[name], M.ModelError):
            raise self._bases[name]
        return self._bases[name]

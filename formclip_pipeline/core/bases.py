"""Base models by name: the hub's, a local folder, or one FormClip builds itself into the cache
(`formclip-tiny-init`, and `formclip-tiny`, which is pretrained on synthetic frames on first use)."""
from __future__ import annotations

from pathlib import Path

from formclip_pipeline.core import model as M
from formclip_pipeline.core.environment import cache_dir
from formclip_pipeline.core.files import exclusive_lock


def _build_pretrained_tiny(path: Path) -> None:
    from formclip_pipeline.core.pretrain import describe_pretraining, pretrain_base

    print(f"{M.TINY_MODEL} is not in {cache_dir()} yet: pretraining it once (several minutes on 2 cores)", flush=True)
    print(f"{M.TINY_MODEL} {describe_pretraining(pretrain_base(path))}", flush=True)


# The names FormClip builds itself, and how; each is built into the cache once, on first use.
_BUILT_HERE = {M.TINY_INIT_MODEL: M.build_tiny, M.TINY_MODEL: _build_pretrained_tiny}


def cache_entry(name: str) -> Path:
    """Where a base FormClip builds itself lives: what its name resolves to, and where it is built."""
    return cache_dir() / name


def needs_building(name_or_path: str) -> bool:
    """Whether the base is one FormClip builds itself and the cache does not hold it yet."""
    return name_or_path in _BUILT_HERE and not (cache_entry(name_or_path) / "config.json").exists()


def building(name: str, on_wait=None):
    """The lock held while `name` is built into the cache: one process builds it, and any other that
    needs it meanwhile (runs started together by the sensor and the schedule, `dagster dev`'s run
    workers, `formclip pretrain`) waits for that build to finish."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    return exclusive_lock(cache_dir() / f".{name}.lock", on_wait=on_wait)


def resolve_base(name_or_path: str) -> str:
    """What `from_pretrained` should be given for a base model name."""
    if name_or_path not in _BUILT_HERE:
        return name_or_path
    target = cache_entry(name_or_path)
    if needs_building(name_or_path):
        with building(name_or_path, on_wait=lambda: print(
                f"waiting for another process to finish building {name_or_path} ...", flush=True)):
            if needs_building(name_or_path):
                _BUILT_HERE[name_or_path](target)
    return str(target)


def load_clip(name_or_path: str) -> M.LoadedClip:
    """Load a CLIP model and processor by hub name, local path or `formclip-tiny`."""
    return M.load_checkpoint(resolve_base(name_or_path))


def recorded_base(checkpoint_dir: str | Path) -> str | None:
    """The base model a checkpoint was trained from, as its training recorded it in formclip.json."""
    import json

    try:
        return json.loads((Path(checkpoint_dir) / M.FORMCLIP_META).read_text()).get("base_model") or None
    except (OSError, ValueError):
        return None


def trained_base(model_ref: str | None, root: str | Path) -> str | None:
    """The base that the models `formclip score --model` names were trained on: a checkpoint's, a
    `formclip train --output` folder's, or (None or models:/) each exercise's registered version's,
    read from the version's base_model tag or else its checkpoint. Where the exercises' models were
    trained on different bases, the one most of them were; None where none records its base."""
    import json
    from collections import Counter

    from formclip_pipeline.catalog import exercise_names

    if model_ref is not None and not model_ref.startswith("models:/"):
        latest = Path(model_ref) / "latest.json"
        try:
            paths = [entry["path"] for entry in json.loads(latest.read_text()).values()] if latest.exists() \
                else [model_ref]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        bases = [recorded_base(p) for p in paths]
    else:
        bases = [_registered_base(model_ref, exercise, root) for exercise in exercise_names()]
    counted = Counter(b for b in bases if b)
    return counted.most_common(1)[0][0] if counted else None


def _registered_base(model_ref: str | None, exercise: str, root: str | Path) -> str | None:
    from formclip_pipeline.core import store

    tracker = store.Tracker.for_home(root)
    if tracker.local_db is not None and not tracker.local_db.exists():
        return None  # no registry yet; looking would create one
    name, _, alias = (model_ref[len("models:/"):] if model_ref
                      else f"{store.REGISTERED_PREFIX}{exercise}@{store.CHAMPION}").partition("@")
    try:
        client = tracker.client()
        version = client.get_model_version_by_alias(name, alias) if alias else client.get_latest_versions(name)[0]
    except Exception:  # no such model or alias: that exercise has no model to score with
        return None
    return version.tags.get("base_model") or (recorded_base(version.tags["local_path"])
                                              if version.tags.get("local_path") else None)

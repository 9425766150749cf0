"""The core's modules stand in layers, each importing only from its own layer or below, with no
import loop and no Dagster: read from the source, imports inside functions included."""
from __future__ import annotations

import ast
from pathlib import Path

import formclip_pipeline

PACKAGE = Path(formclip_pipeline.__file__).parent
CORE = "formclip_pipeline.core"
# Lowest first. A new module of the core takes its place here.
LAYERS = {
    "settings and environment": {"environment", "errors", "files", "fingerprint", "parallel", "strategies",
                                 "captions", "settings", "metrics", "store"},
    "video, pose and the image model": {"video", "pose", "sampling", "model", "loop", "embeddings", "synth",
                                        "synth.generate", "synth.corpus", "synth.render", "synth.kinematics",
                                        "synth.timeline"},
    "measures": {"measures"},
    "reps": {"reps"},
    "features": {"features"},
    "good form, familiarity, recognition, views and the coach's checks": {"good_form", "familiarity", "recognise",
                                                                         "views", "checks", "classifier"},
    "training data and the classifiers": {"frames", "annotate", "validate", "pretrain", "bases", "clip_classifier",
                                          "train", "pose_classifier"},
    "runs and scoring": {"runs", "distributed", "registry", "score", "claude"},
    "report": {"report", "overlay"},
}
LEVEL = {name: level for level, names in enumerate(LAYERS.values()) for name in names}


def _core_modules() -> dict[str, Path]:
    found = {}
    for path in sorted((PACKAGE / "core").rglob("*.py")):
        parts = path.relative_to(PACKAGE / "core").with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name:
            found[name] = path
    return found


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _core_edges() -> dict[str, set[str]]:
    modules = _core_modules()
    edges = {}
    for name, path in modules.items():
        targets = {t[len(CORE) + 1:] for t in _imports(path) if t.startswith(CORE + ".")}
        edges[name] = {t for t in targets if t in modules} - {name}
    return edges


def test_every_core_module_has_a_layer_and_imports_only_from_its_own_or_below():
    edges = _core_edges()
    assert set(edges) <= set(LEVEL), f"modules with no layer in this test: {sorted(set(edges) - set(LEVEL))}"
    upward = [f"{a} ({LEVEL[a]}) imports {b} ({LEVEL[b]})" for a, targets in edges.items() for b in targets
              if LEVEL[b] > LEVEL[a]]
    assert not upward, upward


def test_the_core_has_no_import_loop():
    edges = _core_edges()
    state: dict[str, int] = {}  # 1 on the path being walked, 2 done

    def walk(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for nxt in sorted(edges[name]):
            if state.get(nxt) == 1:
                return path + [name, nxt]
            if nxt not in state and (loop := walk(nxt, path + [name])):
                return loop
        state[name] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            loop = walk(start, [])
            assert loop is None, " -> ".join(loop)


def test_the_core_never_imports_dagster_or_the_pipeline_around_it():
    """The core is used and tested alone; the assets, sensors and schedules wrap it."""
    outside = ("dagster", "dagster_pandas", "dagster_celery", "dagster_k8s", "formclip_pipeline.assets",
               "formclip_pipeline.definitions", "formclip_pipeline.sensors", "formclip_pipeline.schedules",
               "formclip_pipeline.resources", "formclip_pipeline.executors", "formclip_pipeline.cli")
    wrong = {name: sorted(t for t in _imports(path) if t.split(".")[0] in outside or t.startswith(outside))
             for name, path in _core_modules().items()}
    assert not {name: t for name, t in wrong.items() if t}

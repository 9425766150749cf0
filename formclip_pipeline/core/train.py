"""Fine-tune CLIP to classify form, with the strategy chosen by a setting.

Strategies:
- `flyp` (default): contrastive against the class prompts ("finetune like you pretrain"), both
  towers trained, so two frames of the same class are never pushed apart as negatives.
- `seed_contrastive`: the seed guide's in-batch image/description loss, kept for comparison.
- `linear_probe`: frozen towers, a logistic-regression head on cached image embeddings.
- `lp_ft`: the linear probe first, then the image tower and that head fine-tuned together
  (LP-FT: the head starts right, so fine-tuning distorts the features less).
- `wise_ft`: `flyp`, then weights interpolated between the base and the fine-tuned model, the mix
  picked on the validation split (WiSE-FT).
- `zero_shot`: no training; the base model's similarity to the class prompts.
- `pose` and `pose_clip` are trained in core.pose_classifier; the names live in core.strategies.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from formclip_pipeline.catalog import get_exercise, to_label
from formclip_pipeline.core import bases as B
from formclip_pipeline.core import model as M
from formclip_pipeline.core.clip_classifier import Classifier, zero_shot_classifier
from formclip_pipeline.core.frames import frames_array
from formclip_pipeline.core.loop import CaptionContrast, Loop, LoopSettings, training_device

from formclip_pipeline.core.settings import TrainSettings
WISE_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    val_balanced_accuracy: float
    seconds: float


def relabel_column(annotations: pd.DataFrame) -> list[str]:
    return ["relabelled_class"] if "relabelled_class" in annotations else []


def reviewed_classes(data: pd.DataFrame, exercise: str) -> int:
    """Put the class a reviewer typed for a frame (`relabelled_class`, from the review CSV) in its
    `form_class`, in place, where it names one of the exercise's classes; the count of frames moved.
    The frame-level strategies learn each frame's class, so a person's relabel is what they learn."""
    if "relabelled_class" not in data:
        return 0
    typed = data.pop("relabelled_class")
    moved = typed.notna() & typed.isin(get_exercise(exercise).class_names) & (typed != data["form_class"])
    data.loc[moved, "form_class"] = typed[moved]
    return int(moved.sum())


def _targets(df: pd.DataFrame, labels: list[str], multi_class: bool) -> np.ndarray:
    index = {l: i for i, l in enumerate(labels)}
    return np.array([index[to_label(c, multi_class)] for c in df["form_class"]], dtype=np.int64)


def _class_weights(y: np.ndarray, n: int) -> torch.Tensor:
    counts = np.bincount(y, minlength=n).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n, 0.0)
    return torch.tensor(w, dtype=torch.float32)


def _image_features(model, pixels: torch.Tensor, batch: int = 128) -> torch.Tensor:
    return torch.cat([M.image_features(model, pixels[i:i + batch]) for i in range(0, len(pixels), batch)])


def _evaluate(clf: Classifier, pixels: torch.Tensor, y: np.ndarray, weights: torch.Tensor) -> tuple[float, float, float]:
    if len(y) == 0:
        return float("nan"), float("nan"), float("nan")
    clf.clip.model.eval()
    with torch.no_grad():
        feats = _image_features(clf.clip.model, pixels)
        logits = clf.logits_from_features(feats).cpu()
        loss = float(F.cross_entropy(logits, torch.as_tensor(y), weight=weights))
    pred = logits.argmax(-1).numpy()
    from sklearn.metrics import balanced_accuracy_score

    return loss, float((pred == y).mean()), float(balanced_accuracy_score(y, pred))


def train_classifier(annotations: pd.DataFrame, frames: pd.DataFrame, exercise: str, config: TrainSettings,
                     on_epoch: Callable[[EpochStats], None] | None = None,
                     log: Callable[[str], None] = print, resume_dir=None) -> tuple[Classifier, list[EpochStats]]:
    """Train on the `train` split, choose the epoch by `val`, never look at `test`."""
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    ex = get_exercise(exercise)
    labels, prompts = ex.labels(config.multi_class), ex.prompts(config.multi_class)
    data = frames.merge(annotations[["video_sha256", "frame_index", "description", *relabel_column(annotations)]],
                        on=["video_sha256", "frame_index"], how="left")
    relabelled = reviewed_classes(data, exercise)
    if relabelled:
        log(f"{relabelled} frames train under the class a reviewer gave them in the review CSV, not their folder's")
    missing = data["description"].isna() | (data["description"].astype(str).str.strip() == "")
    if missing.any():
        from formclip_pipeline.core.annotate import template_for

        log(f"{int(missing.sum())} frames have no description; training them on the catalogue's templates")
        data.loc[missing, "description"] = [template_for(exercise, r.form_class, f"{r.video_sha256}:{r.frame_index}")
                                            for r in data[missing].itertuples()]
    train, val = data[data["split"] == "train"], data[data["split"] == "val"]
    if len(train) == 0:
        raise ValueError(f"no training frames for {exercise}: the train split is empty")
    history: list[EpochStats] = []
    if config.strategy == "zero_shot":
        return zero_shot_classifier(config.base_model, exercise, config.multi_class), history
    clip = B.load_clip(config.base_model)
    clf = Classifier(clip, exercise, labels, prompts, config.multi_class)
    y_tr, y_va = _targets(train, labels, config.multi_class), _targets(val, labels, config.multi_class)
    weights = _class_weights(y_tr, len(labels))
    px_tr = M.preprocess(frames_array(train), clip)
    px_va = M.preprocess(frames_array(val), clip)
    if config.strategy == "linear_probe":
        clf.head = _fit_linear_probe(clf, px_tr, y_tr, len(labels), config)
        loss, acc, bacc = _evaluate(clf, px_va, y_va, weights)
        stats = EpochStats(1, float("nan"), loss, acc, bacc, 0.0)
        history.append(stats)
        if on_epoch:
            on_epoch(stats)
        return clf, history

    probe = _fit_linear_probe(clf, px_tr, y_tr, len(labels), config) if config.strategy == "lp_ft" else None
    model = clip.model.to(training_device())
    base_state = copy.deepcopy(model.state_dict()) if config.strategy == "wise_ft" else None
    if probe is not None:
        loss = _HeadLoss(clip, px_tr, y_tr, weights, *probe)
        clf.head = (loss.weight, loss.bias)
        for p in model.text_model.parameters():  # the text tower plays no part once a head exists
            p.requires_grad_(False)
    elif config.strategy == "seed_contrastive":
        loss = CaptionContrast(clip, px_tr, train["description"].tolist())
    else:  # flyp, wise_ft
        loss = _PromptLoss(clip, px_tr, y_tr, weights, prompts)
    head_params = [loss.weight, loss.bias] if config.strategy == "lp_ft" else []
    loop = Loop(loss, len(train), LoopSettings(config.epochs, config.batch_size, config.learning_rate,
                                               config.weight_decay, warmup_fraction=0.1, seed=config.seed),
                min_batch=2 if config.strategy == "seed_contrastive" else 1)
    best_state, best_score, first_epoch = None, float("-inf"), 1
    resume = _Resume(resume_dir, config, train) if resume_dir else None
    if resume and resume.exists():
        first_epoch, best_score, history, best_state = resume.load(model, head_params, loop.optimizer, loop.scheduler)
        log(f"resuming from epoch {first_epoch - 1} checkpoint in {resume_dir}")
    loop.skip_epochs(first_epoch - 1)
    for epoch in range(first_epoch, config.epochs + 1):
        train_loss, seconds = loop.run_epoch()
        val_loss, val_acc, val_bacc = _evaluate(clf, px_va, y_va, weights)
        stats = EpochStats(epoch, train_loss, val_loss, val_acc, val_bacc, seconds)
        history.append(stats)
        log(f"Epoch {epoch}/{config.epochs} - Loss: {stats.train_loss:.4f}\n"
            f"  Val Loss: {val_loss:.4f} - Accuracy: {val_acc:.2f} - Balanced accuracy: {val_bacc:.2f}")
        if on_epoch:
            on_epoch(stats)
        score = val_bacc if not math.isnan(val_bacc) else -stats.train_loss
        if score > best_score:
            best_score, best_state = score, _snapshot(model, head_params)
        if resume and loop.rank == 0:
            resume.save(epoch, best_score, history, model, head_params, loop.optimizer, loop.scheduler, best_state)
    if best_state is not None:
        _restore(model, head_params, best_state)
    if head_params:
        clf.head = (head_params[0].detach(), head_params[1].detach())
    if base_state is not None:
        alpha = _wise_sweep(clf, base_state, px_va, y_va, weights, log)
        clf.wise_alpha = alpha
    model.eval().to("cpu")
    if clf.head is not None:
        clf.head = (clf.head[0].cpu(), clf.head[1].cpu())
    if resume and loop.rank == 0:
        resume.clear()
    return clf, history


class _PromptLoss(torch.nn.Module):
    """flyp, wise_ft: each frame contrasted with every class prompt (weighted cross-entropy), both towers trained."""

    def __init__(self, clip: M.LoadedClip, pixels: torch.Tensor, y: np.ndarray, weights: torch.Tensor, prompts: list[str]):
        super().__init__()
        self.model, self.processor = clip.model, clip.processor
        device = self.model.device
        self.pixels, self.y, self.weights, self.prompts = pixels, torch.as_tensor(y).to(device), weights.to(device), prompts

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        img = M.image_features(self.model, self.pixels[idx])
        txt = M.text_features(self.model, self.processor, self.prompts)
        return F.cross_entropy(self.model.logit_scale.exp() * img @ txt.T, self.y[idx], weight=self.weights)


class _HeadLoss(torch.nn.Module):
    """lp_ft: the image tower and a linear head (started at the linear probe) under weighted cross-entropy."""

    def __init__(self, clip: M.LoadedClip, pixels: torch.Tensor, y: np.ndarray, weights: torch.Tensor,
                 weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.model = clip.model
        device = self.model.device
        self.weight, self.bias = torch.nn.Parameter(weight.clone().to(device)), torch.nn.Parameter(bias.clone().to(device))
        self.pixels, self.y, self.weights = pixels, torch.as_tensor(y).to(device), weights.to(device)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        img = M.image_features(self.model, self.pixels[idx])
        return F.cross_entropy(img @ self.weight.T + self.bias, self.y[idx], weight=self.weights)


def _snapshot(model, head_params) -> dict:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    for i, p in enumerate(head_params):
        state[f"__head{i}"] = p.detach().clone()
    return state


def _restore(model, head_params, state: dict) -> None:
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("__head")})
    with torch.no_grad():
        for i, p in enumerate(head_params):
            p.copy_(state[f"__head{i}"])


def _wise_sweep(clf: Classifier, base_state: dict, px_va, y_va, weights, log) -> float:
    """Interpolate base and fine-tuned weights; keep the mix with the best validation balanced accuracy."""
    model = clf.clip.model
    tuned = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best_alpha, best = 1.0, -1.0
    for alpha in WISE_ALPHAS:
        model.load_state_dict({k: (1 - alpha) * base_state[k] + alpha * tuned[k] if tuned[k].is_floating_point()
                               else tuned[k] for k in tuned})
        _, _, bacc = _evaluate(clf, px_va, y_va, weights)
        bacc = -1.0 if math.isnan(bacc) else bacc
        log(f"WiSE-FT alpha {alpha:.2f}: val balanced accuracy {bacc:.3f}")
        if bacc > best or (bacc == best and alpha > best_alpha):
            best_alpha, best = alpha, bacc
    model.load_state_dict({k: (1 - best_alpha) * base_state[k] + best_alpha * tuned[k] if tuned[k].is_floating_point()
                           else tuned[k] for k in tuned})
    return best_alpha


class _Resume:
    """Per-epoch training state, so a killed run continues where it stopped.

    Weights go to safetensors; optimizer and scheduler state to torch files read back with
    weights_only=True, so resuming never unpickles arbitrary objects.
    """

    def __init__(self, folder, config: TrainSettings, train: pd.DataFrame):
        import hashlib
        import json
        from pathlib import Path

        key = json.dumps({**asdict(config), "frames": sorted(map(str, zip(train["video_sha256"], train["frame_index"])))})
        self.folder = Path(folder) / hashlib.sha256(key.encode()).hexdigest()[:16]

    def exists(self) -> bool:
        return (self.folder / "state.json").exists()

    def save(self, epoch, best_score, history, model, head_params, opt, sched, best_state) -> None:
        import json

        from safetensors.torch import save_file

        from formclip_pipeline.core.files import atomic_dir

        with atomic_dir(self.folder) as tmp:
            save_file({k: v.contiguous() for k, v in _snapshot(model, head_params).items()}, str(tmp / "current.safetensors"))
            save_file({k: v.contiguous() for k, v in best_state.items()}, str(tmp / "best.safetensors"))
            torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp / "optimizer.pt")
            (tmp / "state.json").write_text(json.dumps({"epoch": epoch, "best_score": best_score,
                                                        "history": [asdict(h) for h in history]}))

    def load(self, model, head_params, opt, sched):
        import json

        from safetensors.torch import load_file

        state = json.loads((self.folder / "state.json").read_text())
        _restore(model, head_params, load_file(str(self.folder / "current.safetensors")))
        opt_state = torch.load(self.folder / "optimizer.pt", weights_only=True)
        opt.load_state_dict(opt_state["optimizer"])
        sched.load_state_dict(opt_state["scheduler"])
        best = load_file(str(self.folder / "best.safetensors"))
        return state["epoch"] + 1, state["best_score"], [EpochStats(**h) for h in state["history"]], best

    def clear(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def _fit_linear_probe(clf: Classifier, pixels: torch.Tensor, y: np.ndarray, n_classes: int, config: TrainSettings):
    from sklearn.linear_model import LogisticRegression

    from formclip_pipeline.core.embeddings import EmbeddingCache

    feats = EmbeddingCache().image_features(clf.clip.model, pixels).numpy()
    lr = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced", random_state=config.seed)
    lr.fit(feats, y)
    w = np.zeros((n_classes, feats.shape[1]), np.float32)
    b = np.full(n_classes, -1e4, np.float32)  # classes absent from training are never predicted
    if len(lr.classes_) == 2 and lr.coef_.shape[0] == 1:
        # sklearn's binary form: one row for classes_[1]; make it a two-row softmax head.
        w[lr.classes_[1]], b[lr.classes_[1]] = lr.coef_[0], lr.intercept_[0]
        w[lr.classes_[0]], b[lr.classes_[0]] = 0.0, 0.0
    else:
        for row, c in enumerate(lr.classes_):
            w[c], b[c] = lr.coef_[row], lr.intercept_[row]
    return torch.tensor(w), torch.tensor(b)


def linear_probe_baseline(base_model: str, frames: pd.DataFrame, exercise: str, multi_class: bool,
                          seed: int = 0) -> Classifier:
    """The frozen base model with a logistic-regression head fitted on the train split's folder labels."""
    ex = get_exercise(exercise)
    labels = ex.labels(multi_class)
    clf = Classifier(B.load_clip(base_model), exercise, labels, ex.prompts(multi_class), multi_class)
    train = frames[frames["split"] == "train"]
    if len(train) == 0:
        raise ValueError(f"no training frames for {exercise}: the train split is empty")
    px = M.preprocess(frames_array(train), clf.clip)
    clf.head = _fit_linear_probe(clf, px, _targets(train, labels, multi_class), len(labels), TrainSettings(seed=seed))
    return clf


def config_params(config: TrainSettings) -> dict:
    return asdict(config)

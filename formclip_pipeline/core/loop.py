"""The one gradient-training loop: fine-tuning strategies and pretraining plug a batch loss into it.

A strategy is a `torch.nn.Module` whose forward takes the indices of one batch and returns its
loss; the loop owns everything else (batch order, AdamW, the cosine schedule with warm-up,
gradient clipping, CLIP's logit-scale clamp). Under `torchrun` the loss module is wrapped in
DistributedDataParallel: every process draws the same batch order and takes its share of each
batch, and DDP averages the gradients, so N processes take the steps one process would.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

MAX_LOGIT_SCALE = math.log(100)  # CLIP's clamp: a temperature below 1/100 destabilises training


@dataclass(frozen=True)
class LoopSettings:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_fraction: float
    seed: int


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, logit_scale: torch.Tensor,
                     text_ids: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric loss. Rows with the same text id are positives of each other, so two frames
    with the same caption are never pushed apart as negatives."""
    logits = logit_scale.exp() * image @ text.T
    same = (text_ids[:, None] == text_ids[None, :]).float()
    target = same / same.sum(1, keepdim=True)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2


def world() -> tuple[int, int]:
    """(rank, world size): (0, 1) unless torchrun started this process and the group is up."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def training_device() -> torch.device:
    """This process's GPU under torchrun (LOCAL_RANK), the GPU alone, or the CPU."""
    import os

    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


class Loop:
    """Epochs over `n_items` with a batch loss; `min_batch` is the smallest share a process may take
    (2 for contrastive losses, which need a negative)."""

    def __init__(self, loss: torch.nn.Module, n_items: int, settings: LoopSettings, min_batch: int = 1):
        from transformers import get_cosine_schedule_with_warmup

        self.loss, self.n_items, self.settings, self.min_batch = loss, n_items, settings, min_batch
        self.rank, self.world_size = world()
        self.params = [p for p in loss.parameters() if p.requires_grad]
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            # broadcast_buffers off: forward then needs no collective, only backward's gradient all-reduce.
            device = next(loss.parameters()).device
            self.module = DistributedDataParallel(loss, broadcast_buffers=False,
                                                  device_ids=[device.index] if device.type == "cuda" else None)
        else:
            self.module = loss
        # The fused kernel updates all parameters in one pass: 8% off a pretraining epoch on 2 cores, where
        # the small model's many tensors make the per-tensor loop a real cost.
        self.optimizer = torch.optim.AdamW(self.params, lr=settings.learning_rate, weight_decay=settings.weight_decay,
                                           fused=True)
        total = max(1, settings.epochs * math.ceil(n_items / settings.batch_size))
        self.scheduler = get_cosine_schedule_with_warmup(self.optimizer, int(total * settings.warmup_fraction), total)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self._logit_scales = [p for name, p in loss.named_parameters() if name.endswith("logit_scale")]

    def skip_epochs(self, n: int) -> None:
        """Draw the batch orders of n finished epochs, so a resumed run sees the batches it would have."""
        for _ in range(n):
            torch.randperm(self.n_items, generator=self.generator)

    def run_epoch(self) -> tuple[float, float]:
        """One pass over the items; returns (mean batch loss over all processes, seconds)."""
        t0 = time.perf_counter()
        self.loss.train()
        order = torch.randperm(self.n_items, generator=self.generator)
        losses = []
        for i in range(0, self.n_items, self.settings.batch_size):
            share = order[i:i + self.settings.batch_size][self.rank::self.world_size]
            # Every process decides alike (same order), so none waits in an all-reduce the others skip.
            if len(order[i:i + self.settings.batch_size]) < self.min_batch * self.world_size:
                continue
            loss = self.module(share)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, 1.0)
            self.optimizer.step()
            self.scheduler.step()
            with torch.no_grad():
                for p in self._logit_scales:
                    p.clamp_(0, MAX_LOGIT_SCALE)
            losses.append(loss.item())
        mean = float(np.mean(losses)) if losses else float("nan")
        if self.world_size > 1:
            import torch.distributed as dist

            t = torch.tensor([mean], device=next(self.loss.parameters()).device)
            dist.all_reduce(t)
            mean = float(t) / self.world_size
        self.loss.eval()
        return mean, time.perf_counter() - t0


class CaptionContrast(torch.nn.Module):
    """Each frame against the captions of its batch (pretraining; the seed guide's `seed_contrastive`).

    `vary` rewrites a caption each time it is drawn (pretraining drops attributes, so the model
    also learns from partial captions)."""

    def __init__(self, clip, pixels: torch.Tensor, captions: list[str], vary=None):
        super().__init__()
        self.model, self.processor = clip.model, clip.processor
        self.pixels, self.captions, self.vary = pixels, captions, vary

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        from formclip_pipeline.core.model import image_features, text_features

        texts = [self.captions[j] for j in idx.tolist()]
        if self.vary is not None:
            texts = [self.vary(t) for t in texts]
        ids = {t: k for k, t in enumerate(dict.fromkeys(texts))}
        return contrastive_loss(image_features(self.model, self.pixels[idx]),
                                text_features(self.model, self.processor, texts), self.model.logit_scale,
                                torch.tensor([ids[t] for t in texts], device=self.model.device))

"""Image embeddings cached by (image tower weights, frame content).

A head-only retrain (linear probe, the probe stage of LP-FT, the baselines) encodes the same frames
with the same frozen tower again and again; with the cache it encodes each frame once. Keys are
computed from what determines the embedding, never from names: the image tower's current weights
(a fine-tuned copy of a base model gets its own key) and the pixels the tower is given.

Layout: <FORMCLIP_CACHE>/embeddings/<tower key>/<shard>.npz, each shard written atomically by one
call that had misses, so concurrent writers never corrupt each other.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import numpy as np
import torch

from formclip_pipeline.core import model as M
from formclip_pipeline.core.environment import cache_dir


def tower_key(model) -> str:
    """Hash of everything that decides an image embedding: vision tower and projection weights."""
    h = hashlib.sha256()
    h.update(str(model.config.vision_config.image_size).encode())
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith(("vision_model.", "visual_projection.")):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def _pixel_keys(pixels: torch.Tensor) -> list[str]:
    data = pixels.detach().cpu().contiguous().numpy()
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in data]


class EmbeddingCache:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root else cache_dir() / "embeddings"
        self.hits = 0
        self.misses = 0

    def _load(self, folder: Path) -> dict[str, np.ndarray]:
        known: dict[str, np.ndarray] = {}
        for shard in sorted(folder.glob("*.npz")):
            try:
                with np.load(shard) as z:
                    known.update(zip(z["keys"].tolist(), z["vectors"]))
            except (OSError, ValueError, KeyError):
                continue  # an unreadable shard is only a cache miss
        return known

    @torch.no_grad()
    def image_features(self, model, pixels: torch.Tensor, batch: int = 128) -> torch.Tensor:
        """Normalised image features of preprocessed pixels, from the cache where possible."""
        folder = self.root / tower_key(model)
        keys = _pixel_keys(pixels)
        known = self._load(folder) if folder.exists() else {}
        missing = [i for i, k in enumerate(keys) if k not in known]
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            was_training = model.training
            model.eval()
            idx = torch.tensor(missing)
            fresh = torch.cat([M.image_features(model, pixels[idx[i:i + batch]]) for i in range(0, len(idx), batch)])
            model.train(was_training)
            new = {keys[i]: v for i, v in zip(missing, fresh.numpy())}
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{uuid.uuid4().hex}.tmp.npz"
            np.savez(tmp, keys=np.array(list(new)), vectors=np.stack(list(new.values())))
            os.replace(tmp, folder / f"{uuid.uuid4().hex}.npz")
            known.update(new)
        if not keys:
            return torch.zeros((0, model.config.projection_dim))
        return torch.from_numpy(np.stack([known[k] for k in keys]))

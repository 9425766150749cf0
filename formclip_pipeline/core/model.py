"""Load, build, embed with and save CLIP checkpoints.

Users start from `openai/clip-vit-base-patch32` (the default) or any local directory that
`CLIPModel.from_pretrained` reads. `formclip-tiny` names the small CLIP this project pretrains itself
on synthetic frames (core.pretrain) so that the demo runs offline, and `formclip-tiny-init` the same
architecture untrained, which tests of plumbing use because it builds in a second. Both are saved
with `save_pretrained` into the cache on first use and loaded back through the very same
`from_pretrained` path a user's model takes.
"""
from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


TINY_MODEL = "formclip-tiny"
TINY_INIT_MODEL = "formclip-tiny-init"
FORMCLIP_META = "formclip.json"

class ModelError(Exception):
    """A model that cannot be loaded or used, with what to do about it."""


class HubUnavailable(ModelError):
    """A model hub name that this machine's cache does not hold and that cannot be downloaded now."""

    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason
        super().__init__(f"{name} is not in this machine's model cache and {reason}. Use --base-model {TINY_MODEL} "
                         f"(pretrained offline) or --base-model /path/to/a/downloaded/clip")


HUB_TIMEOUT_S = 5.0  # the one look at the hub for a model the cache lacks; a reachable hub answers far sooner


def hub_source(name: str) -> dict:
    """from_pretrained's keywords for a model hub name, or HubUnavailable.

    A model in huggingface_hub's cache loads from the cache alone: otherwise transformers asks the hub
    whether it changed, and with no network each ask retries for about 23 seconds, a warning a try.
    A model the cache lacks is looked up on the hub once, without retries, before it is downloaded."""
    import huggingface_hub
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError

    try:
        cached = huggingface_hub.try_to_load_from_cache(name, "config.json")
    except HFValidationError:
        raise ModelError(f"{name!r} is neither a folder on this machine nor a model hub name") from None
    if isinstance(cached, str):
        return {"local_files_only": True}
    if huggingface_hub.is_offline_mode():
        raise HubUnavailable(name, "HF_HUB_OFFLINE is set")
    try:
        huggingface_hub.model_info(name, timeout=HUB_TIMEOUT_S)
    except RepositoryNotFoundError:
        raise HubUnavailable(name, "the model hub has no model of that name that this machine may read") from None
    except Exception as exc:  # no network, a refused connection, a timeout: the hub cannot be reached
        raise HubUnavailable(name, f"the model hub cannot be reached ({str(exc).splitlines()[0][:120]})") from None
    return {}

def _tokenizer_corpus() -> list[str]:
    from formclip_pipeline.catalog import catalogue
    from formclip_pipeline.core.captions import caption_phrases

    lines = caption_phrases()
    for ex in catalogue().values():
        lines.append(ex.display_name.lower())
        for c in ex.classes:
            lines += [c.description, *c.templates, c.issue or "", c.recommendation]
    return [ln.lower() for ln in lines if ln]

# CLIPTokenizer's own split of a text into words: letters, single digits, runs of other symbols.
_CLIP_WORD = r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+"

def train_bpe(lines: list[str], vocab_size: int, alphabet: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Byte-pair merges learned from `lines`, the same in every process.

    The most frequent adjacent pair is merged first and ties go to the alphabetically first pair.
    The `tokenizers` trainer breaks ties by hash order, which Rust randomises per process, so two
    builds of formclip-tiny got different token ids and so different weights from the same seed.
    """
    import re
    from collections import Counter

    words = Counter(w for ln in lines for w in re.findall(_CLIP_WORD, ln.lower()))
    seqs = {w: tuple(w[:-1]) + (w[-1] + "</w>",) for w in words}
    symbols = sorted(set(alphabet) | {ch for w in words for ch in w})
    vocab: dict[str, int] = {}
    for tok in ["<|startoftext|>", "<|endoftext|>", *symbols, *(ch + "</w>" for ch in symbols)]:
        vocab.setdefault(tok, len(vocab))
    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size:
        pairs: Counter = Counter()
        for w, n in words.items():
            seq = seqs[w]
            for pair in zip(seq, seq[1:]):
                pairs[pair] += n
        if not pairs:
            break  # every word is one token
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merged = best[0] + best[1]
        merges.append(best)
        vocab.setdefault(merged, len(vocab))
        for w, seq in seqs.items():
            if best[0] not in seq:
                continue
            out, i = [], 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            seqs[w] = tuple(out)
    return vocab, merges

def build_tokenizer(extra_corpus: list[str] | None = None, vocab_size: int = 1024):
    """A real CLIP BPE tokenizer trained on the catalogue's text (the hub's vocabulary is unreachable)."""
    from transformers import CLIPTokenizer

    vocab, merges = train_bpe(_tokenizer_corpus() + (extra_corpus or []), vocab_size,
                              "abcdefghijklmnopqrstuvwxyz0123456789-'.,")
    return CLIPTokenizer(vocab=vocab, merges=merges)

def tiny_config(vocab_size: int, image_size: int = 96):
    from transformers import CLIPConfig

    return CLIPConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=128, intermediate_size=512, num_hidden_layers=3,
                         num_attention_heads=4, max_position_embeddings=64, projection_dim=128,
                         bos_token_id=0, eos_token_id=1, pad_token_id=1),
        vision_config=dict(image_size=image_size, patch_size=12, hidden_size=128, intermediate_size=512,
                           num_hidden_layers=3, num_attention_heads=4, projection_dim=128),
        projection_dim=128,
    )

def vit_b32_config():
    """The architecture of openai/clip-vit-base-patch32 (the transformers defaults), no weights."""
    from transformers import CLIPConfig

    return CLIPConfig()

def build_processor(tokenizer, image_size: int):
    from transformers import CLIPImageProcessorPil, CLIPProcessor

    image_processor = CLIPImageProcessorPil(size={"shortest_edge": image_size},
                                            crop_size={"height": image_size, "width": image_size})
    return CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)

def build_tiny(path: str | os.PathLike, seed: int = 0, image_size: int = 96) -> Path:
    """Create the small CLIP from config and save it where `from_pretrained` can read it."""
    from transformers import CLIPModel

    from formclip_pipeline.core.files import atomic_dir

    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    model = CLIPModel(tiny_config(len(tokenizer), image_size))
    path = Path(path)
    with atomic_dir(path) as tmp, _without_weight_bars():
        model.save_pretrained(tmp)
        build_processor(tokenizer, image_size).save_pretrained(tmp)
        (tmp / FORMCLIP_META).write_text(json.dumps({"kind": "base", "name": TINY_INIT_MODEL, "seed": seed}))
    return path

@dataclass
class LoadedClip:
    model: "torch.nn.Module"
    processor: object
    source: str
    meta: dict

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    @property
    def image_mean(self) -> list[float]:
        return list(self.processor.image_processor.image_mean)

    @property
    def image_std(self) -> list[float]:
        return list(self.processor.image_processor.image_std)

@contextlib.contextmanager
def _without_weight_bars():
    """transformers draws a progress bar each time it reads or writes a model's weights. For a
    local folder of a few MB they are noise among FormClip's own progress lines (ten in one demo
    run); downloads from the hub keep their bars."""
    from transformers.utils import logging as transformers_logging

    was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            transformers_logging.enable_progress_bar()

def load_checkpoint(source: str) -> LoadedClip:
    """Load a CLIP model and processor from a local directory or a hub name, as from_pretrained takes
    them (core.bases.load_clip also knows the names FormClip builds itself)."""
    from transformers import CLIPModel, CLIPProcessor

    local = Path(source).exists()
    hub = {} if local else hub_source(source)
    try:
        with _without_weight_bars() if local else contextlib.nullcontext():
            model = CLIPModel.from_pretrained(source, use_safetensors=True, **hub)
            processor = CLIPProcessor.from_pretrained(source, **hub)
    except OSError as exc:
        if local:
            raise ModelError(f"{source} is not a CLIP checkpoint that from_pretrained can read: {exc}") from exc
        raise ModelError(
            f"could not load {source!r}: it is not a local directory and downloading it failed "
            f"(no network or no access to the model hub). Use --base-model {TINY_MODEL} (pretrained offline) "
            f"or --base-model /path/to/a/downloaded/clip") from exc
    meta_path = Path(source) / FORMCLIP_META
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    model.eval()
    return LoadedClip(model, processor, source, meta)

def preprocess(frames: np.ndarray | torch.Tensor, clip: LoadedClip) -> torch.Tensor:
    """uint8 NxHxWx3 square frames to normalised pixel values at the model's resolution.

    Frames are letterboxed squares already, so the processor's resize and centre crop reduce to a
    resize; doing it in torch keeps training from spending its time in PIL.
    """
    x = torch.as_tensor(frames).permute(0, 3, 1, 2).float().div_(255.0)
    size = clip.image_size
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    mean = torch.tensor(clip.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(clip.image_std).view(1, 3, 1, 1)
    return (x - mean) / std

def _as_tensor(out) -> torch.Tensor:
    # transformers 5 returns a model output object from get_*_features.
    return out if isinstance(out, torch.Tensor) else out.pooler_output

def image_features(model, pixels: torch.Tensor) -> torch.Tensor:
    """Unit image embeddings, on the model's device (a GPU while training there)."""
    return F.normalize(_as_tensor(model.get_image_features(pixel_values=pixels.to(model.device))), dim=-1)

def text_features(model, processor, texts: list[str]) -> torch.Tensor:
    tok = processor.tokenizer(texts, padding=True, truncation=True, max_length=model.config.text_config.max_position_embeddings,
                              return_tensors="pt")
    return F.normalize(_as_tensor(model.get_text_features(input_ids=tok["input_ids"].to(model.device),
                                                          attention_mask=tok["attention_mask"].to(model.device))), dim=-1)

@torch.no_grad()
def embed_images(clip: LoadedClip, frames: np.ndarray, batch_size: int = 64) -> np.ndarray:
    out = []
    for i in range(0, len(frames), batch_size):
        out.append(image_features(clip.model, preprocess(frames[i:i + batch_size], clip)))
    return torch.cat(out).numpy() if out else np.zeros((0, clip.model.config.projection_dim), np.float32)

def save_checkpoint(clip: LoadedClip, path: str | os.PathLike, meta: dict) -> Path:
    """Save weights (safetensors), processor, tokenizer and class prompts, atomically."""
    from formclip_pipeline.core.files import atomic_dir

    path = Path(path)
    with atomic_dir(path) as tmp, _without_weight_bars():
        clip.model.save_pretrained(tmp, safe_serialization=True)
        clip.processor.save_pretrained(tmp)
        (tmp / FORMCLIP_META).write_text(json.dumps(meta, indent=2, default=str))
    return path


def image_embedder(clip):
    """frames -> unit image embeddings under `clip`, callable from any thread (no_grad is per thread)."""
    import torch

    def embed(frames: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return embed_images(clip, frames)

    return embed

"""Draft frame descriptions with Claude through the anthropic SDK (the seed's generate_descriptions_ai).

Drafts are suggestions for a person to review, never labels: vision-language models are weak
judges of subtle form errors. Results are cached by (frame content, prompt version, model), so a
re-run sends nothing already answered. Retries with backoff on 429 and 5xx are the SDK's own
(`max_retries`); requests run under a concurrency limit and a request budget. The API key is read
from ANTHROPIC_API_KEY by the SDK and never written anywhere by us.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from formclip_pipeline.catalog import get_exercise
from formclip_pipeline.core import environment

PROMPT_VERSION = "v1"


@dataclass(frozen=True)
class DraftSettings:
    model: str = "claude-sonnet-4-5"
    prompt_version: str = PROMPT_VERSION
    max_requests: int = 500
    concurrency: int = 4
    max_retries: int = 4
    timeout_s: float = 60.0
    max_tokens: int = 120
    # USD per million tokens, for --dry-run's estimate; a setting because prices change.
    input_price_per_mtok: float = 3.0
    output_price_per_mtok: float = 15.0

    def __post_init__(self):
        # A negative budget would slice the work list from the end and still send requests.
        if self.max_requests < 0 or self.concurrency < 1:
            raise ValueError(f"the request budget must be 0 or more and the concurrency 1 or more "
                             f"(got {self.max_requests} and {self.concurrency})")


@dataclass
class DraftResult:
    drafts: dict[str, str] = field(default_factory=dict)  # frame key -> description
    sent: int = 0
    cached: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # frame key -> reason
    over_budget: int = 0
    estimated_cost_usd: float = 0.0
    message: str = ""


class NoApiKey(Exception):
    pass


def build_prompt(exercise: str, form_class: str) -> str:
    ex = get_exercise(exercise)
    cls = ex.form_class(form_class)
    faults = "; ".join(f"{c.name}: {c.description}" for c in ex.classes if c.is_fault)
    return (
        f"This frame comes from a video of a {ex.display_name.lower()} labelled '{form_class}' "
        f"({cls.description}). Known faults for this lift: {faults}. "
        "Describe in one sentence of at most 40 words what the lifter's body and the bar are doing in this frame, "
        "naming joint positions (knees, hips, back, elbows, bar path) and any visible fault. "
        "Reply with the sentence only."
    )


def cache_key(image: bytes, settings: DraftSettings, prompt: str) -> str:
    h = hashlib.sha256()
    for part in (image, settings.prompt_version.encode(), settings.model.encode(), prompt.encode()):
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


class DraftCache:
    """Append-only JSON lines; a torn last line from a killed run is ignored."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = threading.Lock()
        self.entries: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                    self.entries[rec["key"]] = rec["description"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def put(self, key: str, description: str) -> None:
        with self.lock:
            self.entries[key] = description
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                f.write(json.dumps({"key": key, "description": description}) + "\n")
                f.flush()
                os.fsync(f.fileno())


def estimate_tokens(image: bytes, prompt: str, settings: DraftSettings) -> tuple[int, int]:
    """Anthropic's rule of thumb: an image costs about width*height/750 tokens."""
    from PIL import Image
    import io

    w, h = Image.open(io.BytesIO(image)).size
    return int(w * h / 750) + len(prompt) // 4 + 10, settings.max_tokens


def _client(settings: DraftSettings):
    import anthropic

    if not environment.anthropic_api_key():
        raise NoApiKey("ANTHROPIC_API_KEY is not set")
    # base_url comes from ANTHROPIC_BASE_URL when set (the SDK's own setting).
    return anthropic.Anthropic(max_retries=settings.max_retries, timeout=settings.timeout_s)


def _ask(client, settings: DraftSettings, image: bytes, prompt: str) -> str:
    msg = client.messages.create(
        model=settings.model,
        max_tokens=settings.max_tokens,
        messages=[{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg",
                                         "data": base64.b64encode(image).decode()}},
            {"type": "text", "text": prompt},
        ]}],
    )
    texts = [b.text for b in (msg.content or []) if getattr(b, "type", None) == "text" and getattr(b, "text", None)]
    text = " ".join(t.strip() for t in texts).strip()
    if not text:
        raise ValueError("the reply held no text")
    return text


def draft_descriptions(items: list[dict], settings: DraftSettings, cache_path: str | Path, dry_run: bool = False,
                       log: Callable[[str], None] = print) -> DraftResult:
    """Drafts for items {key, image (JPEG bytes), exercise, form_class}; failures keep their template."""
    import anthropic

    cache = DraftCache(cache_path)
    result = DraftResult()
    todo = []
    for it in items:
        prompt = build_prompt(it["exercise"], it["form_class"])
        ck = cache_key(it["image"], settings, prompt)
        hit = cache.get(ck)
        if hit is not None:
            result.drafts[it["key"]] = hit
            result.cached += 1
        else:
            todo.append((it, prompt, ck))
    if len(todo) > settings.max_requests:
        result.over_budget = len(todo) - settings.max_requests
        todo = todo[:settings.max_requests]
    tin = tout = 0
    for it, prompt, _ in todo:
        i, o = estimate_tokens(it["image"], prompt, settings)
        tin, tout = tin + i, tout + o
    result.estimated_cost_usd = round(tin / 1e6 * settings.input_price_per_mtok + tout / 1e6 * settings.output_price_per_mtok, 4)
    if dry_run:
        result.message = (f"dry run: {len(todo)} requests to {settings.model} would be sent "
                          f"({result.cached} cached, {result.over_budget} over the budget of {settings.max_requests}); "
                          f"estimated cost ${result.estimated_cost_usd:.2f}")
        return result
    if not todo:
        result.message = f"nothing to send: {result.cached} drafts came from the cache"
        return result
    try:
        client = _client(settings)
    except NoApiKey:
        result.message = ("no ANTHROPIC_API_KEY set: AI drafts skipped, frames keep their catalogue templates. "
                          "Set the key (and ANTHROPIC_BASE_URL for a proxy) to draft with Claude.")
        return result
    stop = threading.Event()
    lock = threading.Lock()

    def work(job):
        it, prompt, ck = job
        if stop.is_set():
            return it["key"], None, "stopped after an earlier permanent error"
        try:
            with lock:
                result.sent += 1
            text = _ask(client, settings, it["image"], prompt)
            cache.put(ck, text)
            return it["key"], text, None
        except anthropic.AuthenticationError:
            stop.set()
            return it["key"], None, "the API key was rejected (401)"
        except anthropic.RateLimitError:
            return it["key"], None, f"rate limited (429) after {settings.max_retries} retries"
        except anthropic.InternalServerError as exc:
            return it["key"], None, f"server error ({exc.status_code}) after {settings.max_retries} retries"
        except anthropic.APIConnectionError:
            return it["key"], None, "could not reach the Anthropic API"
        except anthropic.APIStatusError as exc:
            return it["key"], None, f"request refused ({exc.status_code})"
        except (ValueError, anthropic.APIResponseValidationError, json.JSONDecodeError) as exc:
            return it["key"], None, f"malformed reply: {type(exc).__name__}: {str(exc)[:80]}"

    with ThreadPoolExecutor(max_workers=max(1, settings.concurrency)) as pool:
        for key, text, err in pool.map(work, todo):
            if text is not None:
                result.drafts[key] = text
            else:
                result.failed[key] = err
    reasons = sorted(set(result.failed.values()))
    result.message = (f"{len(result.drafts) - result.cached} new drafts, {result.cached} from the cache, "
                      f"{len(result.failed)} failed" + (f" ({'; '.join(reasons)})" if reasons else "") +
                      (f", {result.over_budget} left for a later run (budget {settings.max_requests})"
                       if result.over_budget else ""))
    log(result.message)
    return result

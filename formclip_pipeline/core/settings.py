"""The settings of each stage, declared once: a dataclass whose fields carry their help text and
range, named `<Stage>Settings` (the Dagster config made from it is `<Stage>Config`). The same
dataclass gives the command's flags (`add_flags`), the asset's Dagster config
(`formclip_pipeline.assets.config.dagster_config`, outside the Dagster-free core) and the defaults
of both, and checks the values it is built with (`check_ranges`). Nothing here imports torch, so
`formclip --help` stays fast.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from dataclasses import dataclass, field

from formclip_pipeline.core import environment
from formclip_pipeline.core.strategies import DEFAULT_STRATEGY, STRATEGIES

# Pose samples per second of video, in training and in scoring alike (the speed and depth features
# depend on it). 8 rather than 4: a bounced squat passes the bottom in a tenth of a second, and on
# 40 unseen synthetic squats 8 per second lifted multi-class macro-F1 from 0.70 to 0.77 (bouncing
# found in 6 of 8 videos, against 2) for about 1.8 times the extraction time (docs/benchmarks.md).
POSE_FPS = 8.0
# Of the sampled frames, the image model (CLIP) reads this many a second when scoring. Each costs
# ViT-B/32 0.12 s of one core, beside BlazePose's 0.025 s per sampled frame: on 2 cores, pose with
# ViT-B/32 scored a 720p video at 3.5 to 4.3 times real time reading 1 a second (six runs over two sessions) and at
# 3.1 times reading 2 (docs/benchmarks.md). CLIP checkpoints are trained on 25 frames of each 10-20 s video (1.4 to 3
# a second); a rep of 2-3 s still gets 2-3, and a minute 60 for the video's verdict.
IMAGE_FPS = 1.0
MAX_FPS = 30.0  # sampling faster than a phone films only repeats frames
TEST_SHARE = 0.15  # of each class's videos, held out as test videos


def setting(default=dataclasses.MISSING, help: str = "", *, low: float | None = None, high: float | None = None,
            above: bool = False, choices: tuple[str, ...] | None = None, flag: str | None = None,
            old_flag: str | None = None, user_choice: bool = True, default_factory=dataclasses.MISSING):
    """A field with its help text, its range (`above`: `low` itself is out of range), its flag where
    the field's name would not say it on the command line, and an old spelling of the flag (the seed
    guide's scripts, or an earlier FormClip) that still works with a line saying what it is now. A
    field that is no `user_choice` is a limit the code keeps: checked like the others, but neither a
    flag nor a Dagster config field."""
    return field(default=default, default_factory=default_factory,
                 metadata={"help": help, "low": low, "high": high, "above": above, "choices": choices, "flag": flag,
                           "old_flag": old_flag, "user_choice": user_choice})


def renamed_flag(new: str):
    """An argparse action for a flag's old spelling: it sets the value, and says once, on stderr,
    which flag to use now."""
    class Renamed(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            print(f"{parser.prog}: {option_string} is now {new}; the old spelling will go (--model means a "
                  f"trained FormClip model everywhere)", file=sys.stderr)
            setattr(namespace, self.dest, values)
    return Renamed


def out_of_range(value, low: float | None = None, high: float | None = None, above: bool = False) -> str | None:
    """What a number must be, in words, where `value` is outside its range (NaN always is); None where it is in."""
    if value == value and not (low is not None and (value < low or (above and value == low))) and \
            not (high is not None and value > high):
        return None
    bounds = [f"{'above' if above else 'at least'} {low:g}"] if low is not None else []
    bounds += [f"at most {high:g}"] if high is not None else []
    return f"it must be {' and '.join(bounds)}" if bounds else "it must be a number"


def number(kind=int, low: float | None = None, high: float | None = None, above: bool = False):
    """An argparse type for a number in range. A negative budget or an absurd rate is refused before
    anything runs, not half-obeyed."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if kind is int else 'a number'}") from None
        problem = out_of_range(value, low, high, above)
        if problem:
            raise argparse.ArgumentTypeError(f"{text} is out of range: {problem}")
        return value
    return parse


def check_ranges(settings) -> None:
    """Refuse settings built in code (a core function's caller, a test) with a value outside the range
    or the choices its field declares: the bounds the flags and the Dagster config enforce."""
    for f, kind, _ in _fields(type(settings)):
        value, meta = getattr(settings, f.name), f.metadata
        if meta.get("choices") and value not in meta["choices"]:
            raise ValueError(f"{f.name} {value!r} is not one of {', '.join(meta['choices'])}")
        if kind in (int, float) and not isinstance(value, bool):
            problem = out_of_range(value, meta.get("low"), meta.get("high"), meta.get("above", False))
            if problem:
                raise ValueError(f"{f.name} {value!r} is out of range: {problem}")


def _fields(cls, choices_only: bool = False):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if choices_only and not f.metadata.get("user_choice", True):
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        yield f, hints[f.name], default


def add_flags(parser: argparse.ArgumentParser, cls) -> None:
    """One flag per field a user chooses: --field-name (or the field's `flag`), typed and range-checked,
    defaulting to the field."""
    for f, kind, default in user_choices(cls):
        meta = f.metadata
        flags = [meta.get("flag") or "--" + f.name.replace("_", "-")]
        help_text = meta.get("help", "")
        if kind is bool:
            parser.add_argument(*flags, dest=f.name, action="store_true", help=help_text)
            continue
        parse = number(kind, meta.get("low"), meta.get("high"), meta.get("above", False)) if kind in (int, float) else kind
        parser.add_argument(*flags, dest=f.name, type=parse, default=default, choices=meta.get("choices"),
                            metavar=None if meta.get("choices") else flags[0].lstrip("-").replace("-", "_").upper(),
                            help=f"{help_text} (default: {default})" if help_text else None)
        if meta.get("old_flag"):
            parser.add_argument(meta["old_flag"], dest=f.name, type=parse, choices=meta.get("choices"),
                                action=renamed_flag(flags[0]), help=argparse.SUPPRESS)


def user_choices(cls) -> list[tuple[dataclasses.Field, type, object]]:
    """(field, type, default) of each field of a settings class that a user chooses: its flags, and
    its Dagster config's fields (formclip_pipeline.assets.config)."""
    return list(_fields(cls, choices_only=True))


def choice_names(cls) -> list[str]:
    return [f.name for f, _, _ in user_choices(cls)]


def from_args(cls, args: argparse.Namespace):
    return cls(**{f.name: getattr(args, f.name) for f, _, _ in user_choices(cls)})


@dataclass
class ExtractSettings:
    """Sampling labelled frames (and the lifter's joints) from the training videos."""
    frames_per_video: int = setting(25, "CLIP frames sampled per video", low=1)
    skip_first: float = setting(1.0, "seconds left out at the start (setting up)", low=0)
    skip_last: float = setting(1.0, "seconds left out at the end (racking)", low=0)
    split_seed: int = setting(0, "seed of the train/val/test split by video")
    test_share: float = setting(TEST_SHARE, "share of each class's videos held out as test videos (at least one "
                                            "where a class has two); with a handful a class, more test videos make "
                                            "the evaluation less of a coin toss", low=0, above=True, high=0.5)
    pose_fps: float = setting(POSE_FPS, "BlazePose samples per second of video (0: no poses, only CLIP frames)",
                              low=0, high=MAX_FPS)
    workers: int = setting(2, "processes reading videos side by side, at most one per core (each keeps a core "
                              "busy decoding and finding the lifter)", low=1)

    def __post_init__(self):
        check_ranges(self)


@dataclass
class ExtractAssetSettings(ExtractSettings):
    """Extraction as the Dagster asset runs it: the command's settings, and how the videos are shared
    out between steps, which a Celery or Kubernetes executor runs side by side."""
    videos_per_step: int = setting(0, "videos each extraction step decodes (0: the whole exercise in one step, "
                                      "which suits one machine: each step is a process start)", low=0)


@dataclass(frozen=True)
class ScoringSettings:
    """Scoring a new video: two choices, and the limits scoring keeps."""
    fps: float = setting(POSE_FPS, "frames sampled per second of video (the rate pose models were trained at)",
                         low=0, above=True, high=MAX_FPS)
    image_fps: float = setting(IMAGE_FPS, "of those, frames per second the image model reads; more cost ViT-B/32 "
                                          "0.12 s of one core each", low=0, above=True, high=MAX_FPS)
    # ...and at least this many of a video's, as training reads 25 of each video: on a 7 s real clip,
    # 7 frames at 1 a second let the frames' noise decide a recognition that 56 frames got right.
    min_image_frames: int = setting(25, "fewest frames of a video the image model reads", low=1, user_choice=False)
    frame_size: int = setting(224, "side of the square frames kept, in pixels", low=1, user_choice=False)
    # Scoring keeps its sampled frames (for the image model, pixel reps and the report's pictures):
    # at most this many, 2,400 x 224 x 224 x 3 bytes = 361 MB, whatever the video claims or holds.
    # Past 5 minutes at 8 frames a second the rate is lowered to fit.
    max_frames: int = setting(2400, "most sampled frames kept", low=1, user_choice=False)
    recognise_min_confidence: float = setting(0.5, "below this the exercise is not named; --exercise is asked for",
                                              low=0, high=1, user_choice=False)
    min_lifter_found: float = setting(0.5, "share of sampled frames with the lifter that a pose model needs",
                                      low=0, high=1, user_choice=False)
    confident_above: float = setting(0.7, "a verdict whose mean probability reaches this is reported as confident",
                                     low=0, high=1, user_choice=False)

    def __post_init__(self):
        check_ranges(self)


@dataclass(frozen=True)
class ValidationSettings:
    """The data checks that gate training: what is an error."""
    max_missing_description_fraction: float = setting(0.0, "share of frames allowed without a description",
                                                      low=0, high=1, flag="--max-missing-descriptions")
    min_videos_per_class: int = setting(1, "training videos each form class needs", low=0)
    max_class_imbalance: float = setting(10.0, "largest class over smallest, in frames", low=1)
    max_invalid_images: int = setting(0, "frames allowed that are not readable images", low=0)
    max_duplicate_frame_fraction: float = setting(0.05, "share of near-identical frames from different videos",
                                                  low=0, high=1)

    def __post_init__(self):
        check_ranges(self)


@dataclass
class TrainSettings:
    """Training one exercise's form classifier."""
    base_model: str = setting(help="base CLIP: hub name, local directory, or formclip-tiny (built offline); "
                                   "FORMCLIP_BASE_MODEL sets the default",
                              flag="--base-model", old_flag="--model", default_factory=environment.base_model)
    strategy: str = setting(DEFAULT_STRATEGY, "pose strategies judge from the joints `formclip extract` measured; "
                                              "see docs/guide.md", choices=STRATEGIES)
    multi_class: bool = setting(False, "one class per named fault, not good/bad")
    epochs: int = setting(5, "passes over the training frames (gradient strategies)", low=1)
    batch_size: int = setting(16, "frames per optimiser step, over all processes", low=1)
    learning_rate: float = setting(1e-5, "AdamW's peak learning rate", low=0, above=True)
    weight_decay: float = setting(0.1, "AdamW's weight decay", low=0)
    seed: int = setting(0, "seed of initialisation and batch order")
    nproc_per_node: int = setting(1, "processes to train on, one per GPU (or CPU core, with gloo) under torchrun",
                                  low=1)

    def __post_init__(self):
        check_ranges(self)


@dataclass(frozen=True)
class PretrainSettings:
    """The shipped recipe, chosen by measurement on 2 cores (docs/guide.md, "Base models"; docs/benchmarks.md for how).

    Small batches win on a fixed CPU budget: the loss first sits at ln(batch) and more optimiser
    steps leave that plateau sooner. Measured on the same 8,000 frames and 8 epochs: batch 32 at
    5e-4 reached zero-shot exercise recognition 0.33, batch 16 at 3.5e-4 reached 0.51 (chance 0.20);
    at 2e-3 the loss never left the plateau. 12 px patches (64 image tokens) keep it to minutes.
    """
    clips: int = setting(1000, "synthetic clips rendered for the corpus", low=1)
    frames_per_clip: int = setting(8, "frames captioned per clip", low=1)
    epochs: int = setting(8, "passes over the corpus", low=1)
    batch_size: int = setting(16, "frames per optimiser step", low=1)
    learning_rate: float = setting(3.5e-4, "AdamW's peak learning rate", low=0, above=True)
    seed: int = setting(0, "seed of the corpus and the initialisation")

    def __post_init__(self):
        check_ranges(self)

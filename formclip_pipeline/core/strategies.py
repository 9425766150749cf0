"""The training strategies by name, without importing torch (the command line lists them in --help).

- `pose` (default): the lifter's joint measures read by a logistic regression per video; it is the
  one that measures best (docs/benchmarks.md).
- `pose_clip`: the same measures beside the frozen base CLIP's mean image embedding.
- `flyp`: contrastive against the class prompts ("finetune like you pretrain"), both towers trained.
- `seed_contrastive`: the seed guide's in-batch image/description loss, kept for comparison.
- `linear_probe`: frozen towers, a logistic-regression head on cached image embeddings.
- `lp_ft`: the linear probe first, then the image tower and that head fine-tuned together.
- `wise_ft`: `flyp`, then weights interpolated between the base and the fine-tuned model.
- `zero_shot`: no training; the base model's similarity to the class prompts.
"""
POSE_STRATEGIES = ("pose", "pose_clip")
CLIP_STRATEGIES = ("flyp", "seed_contrastive", "linear_probe", "lp_ft", "wise_ft", "zero_shot")
STRATEGIES = (*POSE_STRATEGIES, *CLIP_STRATEGIES)
# Those trained by gradient steps in core.loop: the ones several processes (--nproc-per-node) can share.
GRADIENT_STRATEGIES = ("flyp", "seed_contrastive", "lp_ft", "wise_ft")
DEFAULT_STRATEGY = "pose"

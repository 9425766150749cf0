import numpy as np
import pytest
import torch

from formclip_pipeline.core import bases as B
from formclip_pipeline.core import model as M


def test_tiny_clip_is_built_once_and_loads_through_from_pretrained(offline_cache):
    from transformers import CLIPModel, CLIPProcessor

    clip = B.load_clip(M.TINY_INIT_MODEL)
    assert (offline_cache / M.TINY_INIT_MODEL / "model.safetensors").exists()
    again = CLIPModel.from_pretrained(str(offline_cache / M.TINY_INIT_MODEL))
    proc = CLIPProcessor.from_pretrained(str(offline_cache / M.TINY_INIT_MODEL))
    assert proc.tokenizer.tokenize("knee valgus") == ["knee</w>", "valgus</w>"]
    for a, b in zip(clip.model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def test_a_base_another_process_is_building_is_waited_for_not_built_again(tmp_path, monkeypatch):
    """Runs started together would each pretrain formclip-tiny for minutes; the later ones wait instead."""
    import threading

    monkeypatch.setenv("FORMCLIP_CACHE", str(tmp_path))
    builds = []
    monkeypatch.setitem(B._BUILT_HERE, M.TINY_INIT_MODEL, lambda path: (builds.append(path), M.build_tiny(path)))
    target = tmp_path / M.TINY_INIT_MODEL
    assert B.needs_building(M.TINY_INIT_MODEL) and not B.needs_building("openai/clip-vit-base-patch32")
    resolved = []
    with B.building(M.TINY_INIT_MODEL):  # held as the other builder holds it
        waiter = threading.Thread(target=lambda: resolved.append(B.resolve_base(M.TINY_INIT_MODEL)))
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and not builds  # waiting, not building a second copy
        M.build_tiny(target)  # what the other builder leaves
    waiter.join(timeout=60)
    assert resolved == [str(target)] and not builds
    assert not B.needs_building(M.TINY_INIT_MODEL)
    assert B.resolve_base(M.TINY_INIT_MODEL) == str(target) and not builds


def test_the_base_model_is_the_same_file_in_every_process(tmp_path):
    """Token ids decide which embedding rows the seed gives each word, so the tokenizer must not vary."""
    import hashlib
    import os
    import subprocess
    import sys

    builds = []
    for hash_seed in ("1", "2"):
        out = tmp_path / hash_seed
        subprocess.run([sys.executable, "-c", f"from formclip_pipeline.core import model as M; M.build_tiny({str(out)!r})"],
                       check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed})
        builds.append({name: hashlib.sha256((out / name).read_bytes()).hexdigest()
                       for name in ("model.safetensors", "tokenizer.json")})
    assert builds[0] == builds[1]


def test_bpe_merges_the_most_frequent_pair_first_and_breaks_ties_alphabetically():
    vocab, merges = M.train_bpe(["ab ab ab cd cd xy"], 100, "abcdxy")
    assert merges[:2] == [("a", "b</w>"), ("c", "d</w>")]
    assert merges[2] == ("x", "y</w>") and len(merges) == 3  # then every word is one token
    assert {"ab</w>", "cd</w>", "xy</w>"} <= set(vocab) and vocab["<|startoftext|>"] == 0


def test_embeddings_are_unit_vectors():
    clip = B.load_clip(M.TINY_INIT_MODEL)
    emb = M.embed_images(clip, np.random.default_rng(0).integers(0, 255, (3, 224, 224, 3), dtype=np.uint8))
    assert emb.shape == (3, clip.model.config.projection_dim)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)


def test_unreachable_hub_model_says_what_to_do_instead(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(M.ModelError, match="formclip-tiny"):
        B.load_clip("openai/clip-vit-base-patch32")


def test_a_directory_that_is_not_clip_is_named(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(M.ModelError, match=str(tmp_path)):
        B.load_clip(str(tmp_path))


def test_vit_b32_architecture_trains_one_step_and_round_trips(tmp_path):
    """Users with OpenAI's weights get this architecture; build it from config, no download."""
    from transformers import CLIPModel

    torch.manual_seed(0)
    tok = M.build_tokenizer()
    config = M.vit_b32_config()
    config.text_config.vocab_size = len(tok)
    model = CLIPModel(config)
    assert model.config.vision_config.patch_size == 32 and model.config.vision_config.hidden_size == 768
    clip = M.LoadedClip(model, M.build_processor(tok, 224), "vit-b32", {})
    pixels = M.preprocess(np.random.default_rng(0).integers(0, 255, (2, 224, 224, 3), dtype=np.uint8), clip)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    img = M.image_features(model, pixels)
    txt = M.text_features(model, clip.processor, ["good squat", "shallow squat"])
    loss = torch.nn.functional.cross_entropy(model.logit_scale.exp() * img @ txt.T, torch.tensor([0, 1]))
    before = model.visual_projection.weight.detach().clone()
    loss.backward()
    opt.step()
    assert not torch.equal(before, model.visual_projection.weight)
    M.save_checkpoint(clip, tmp_path / "b32", {"kind": "test"})
    back = B.load_clip(str(tmp_path / "b32"))
    assert torch.equal(back.model.visual_projection.weight, model.visual_projection.weight)
    assert back.meta == {"kind": "test"}

"""Random-weight Marian checkpoints with real SentencePiece files, for tests and benchmarks.

Nothing is downloaded: the tokenizer is trained on text given by the caller
(or synthetic text), the weights are random, and the folder has the OPUS-MT
layout (config.json, model.safetensors, source.spm, target.spm, vocab.json,
tokenizer_config.json) so the exporter and transformers load it unchanged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from pocketmt.io.spm_vocab import marian_vocab, train_joint_spm, write_tokenizer

WORDS = [
    "a",
    "the",
    "dog",
    "cat",
    "man",
    "woman",
    "child",
    "children",
    "girl",
    "boy",
    "runs",
    "walks",
    "sits",
    "plays",
    "reads",
    "eats",
    "through",
    "on",
    "in",
    "at",
    "with",
    "snow",
    "beach",
    "park",
    "street",
    "water",
    "grass",
    "ball",
    "red",
    "blue",
    "green",
    "white",
    "black",
    "young",
    "old",
    "two",
    "three",
    "people",
    "group",
    "is",
    "are",
    "playing",
    "standing",
    "sitting",
    "holding",
    "wearing",
    "looking",
    "jacket",
    "hat",
    "shirt",
    "bike",
    "car",
    "house",
    "tree",
    "bench",
    "newspaper",
    "station",
    "field",
    "river",
    "mountain",
    "city",
    "small",
    "large",
    "happy",
]


@dataclass(frozen=True)
class RandomMarianSpec:
    d_model: int = 32
    encoder_layers: int = 2
    decoder_layers: int = 2
    heads: int = 4
    ffn_dim: int = 64
    vocab_size: int = 0  # 0: as many as the SentencePiece model has; more: padded with filler pieces
    spm_vocab_size: int = 120
    max_positions: int = 256
    init_std: float = 0.25
    eos_bias: float = 0.0  # logit bias on </s>
    copy_steps: int = 0  # Adam steps teaching the model to copy its input, so outputs depend on it
    seed: int = 0
    source_lang: str = "en"
    target_lang: str = "de"


# The exact shapes of Helsinki-NLP/opus-mt-en-de (random weights).
OPUS_MT_EN_DE = RandomMarianSpec(
    d_model=512,
    encoder_layers=6,
    decoder_layers=6,
    heads=8,
    ffn_dim=2048,
    vocab_size=58101,
    spm_vocab_size=400,
    max_positions=512,
    init_std=0.02,
)
# Small and quick, trained for a few seconds to copy, so greedy and beam outputs vary with the input.
TINY_COPY = RandomMarianSpec(init_std=0.05, copy_steps=250)


def synthetic_sentences(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 14))]
        out.append(" ".join(words).capitalize() + rng.choice([".", ".", "!", "?"]))
    return out


def make_random_marian(
    folder: str | Path, spec: RandomMarianSpec | None = None, lines: list[str] | None = None
) -> Path:
    import sentencepiece as spm
    import torch
    from transformers import MarianMTModel

    from pocketmt.export.arch.marian import marian_config

    spec = spec or RandomMarianSpec()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    text = lines or synthetic_sentences(2000, spec.seed)
    proto = train_joint_spm(text, spec.spm_vocab_size, byte_fallback=False)
    vocab = marian_vocab(proto, min_size=spec.vocab_size)
    write_tokenizer(out, proto, vocab, spec.source_lang, spec.target_lang, max_length=spec.max_positions)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    config = marian_config(
        len(vocab),
        spec.d_model,
        spec.encoder_layers,
        spec.decoder_layers,
        spec.heads,
        spec.ffn_dim,
        max_positions=spec.max_positions,
        init_std=spec.init_std,
    )
    torch.manual_seed(spec.seed)
    model = MarianMTModel(config).eval()
    with torch.no_grad():
        model.final_logits_bias[0, 0] = spec.eos_bias
    if spec.copy_steps:
        _teach_copy(model, [[vocab.get(p, 1) for p in sp.encode(t, out_type=str)] for t in text], spec)
    model.eval().save_pretrained(str(out))
    return out


def _teach_copy(model: object, sources: list[list[int]], spec: RandomMarianSpec) -> None:
    import torch

    rng = random.Random(spec.seed)
    pad = model.config.pad_token_id  # type: ignore[attr-defined]
    optim = torch.optim.Adam(model.parameters(), lr=3e-3)  # type: ignore[attr-defined]
    model.train()  # type: ignore[attr-defined]
    for _ in range(spec.copy_steps):
        batch = [s[:30] + [0] for s in rng.sample(sources, 32)]
        width = max(len(s) for s in batch)
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in batch])
        labels = torch.tensor([s + [-100] * (width - len(s)) for s in batch])
        loss = model(input_ids=ids, attention_mask=(ids != pad).long(), labels=labels).loss  # type: ignore[operator]
        optim.zero_grad()
        loss.backward()
        optim.step()

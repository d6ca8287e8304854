"""Random-weight Marian checkpoints with real SentencePiece files, for tests and benchmarks.

Nothing is downloaded: the tokenizer is trained on text given by the caller
(or synthetic text), the weights are random, and the folder has the OPUS-MT
layout (config.json, model.safetensors, source.spm, target.spm, vocab.json,
tokenizer_config.json) so the exporter and transformers load it unchanged.
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

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


def train_spm(lines: list[str], vocab_size: int) -> bytes:
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model.getvalue()


def make_random_marian(
    folder: str | Path, spec: RandomMarianSpec | None = None, lines: list[str] | None = None
) -> Path:
    import sentencepiece as spm
    import torch
    from transformers import MarianConfig, MarianMTModel

    spec = spec or RandomMarianSpec()
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    text = lines or synthetic_sentences(2000, spec.seed)
    proto = train_spm(text, spec.spm_vocab_size)
    (out / "source.spm").write_bytes(proto)
    (out / "target.spm").write_bytes(proto)
    sp = spm.SentencePieceProcessor(model_proto=proto)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    vocab: dict[str, int] = {"</s>": 0, "<unk>": 1}
    for piece in pieces:
        if piece not in vocab and piece not in ("<s>", "<pad>"):
            vocab[piece] = len(vocab)
    target = max(spec.vocab_size, len(vocab) + 1)
    while len(vocab) < target - 1:
        vocab[f"<extra_{len(vocab)}>"] = len(vocab)
    vocab["<pad>"] = len(vocab)  # OPUS-MT layout: <pad> is the last id and starts the decoder
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0))
    (out / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "source_lang": spec.source_lang,
                "target_lang": spec.target_lang,
                "model_max_length": spec.max_positions,
                "tokenizer_class": "MarianTokenizer",
                "separate_vocabs": False,
            }
        )
    )
    pad = vocab["<pad>"]
    config = MarianConfig(
        vocab_size=len(vocab),
        decoder_vocab_size=len(vocab),
        d_model=spec.d_model,
        encoder_layers=spec.encoder_layers,
        decoder_layers=spec.decoder_layers,
        encoder_attention_heads=spec.heads,
        decoder_attention_heads=spec.heads,
        encoder_ffn_dim=spec.ffn_dim,
        decoder_ffn_dim=spec.ffn_dim,
        max_position_embeddings=spec.max_positions,
        pad_token_id=pad,
        eos_token_id=0,
        decoder_start_token_id=pad,
        forced_eos_token_id=0,
        unk_token_id=1,
        init_std=spec.init_std,
        activation_function="swish",
        scale_embedding=True,
        share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True,
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

"""Named architectures (``--arch``). Students follow "Deep Encoder, Shallow Decoder" (Kasai et al.).

``arch_help()`` is the ``--arch`` help text: every preset with its shape and what it is for."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Arch:
    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    ffn_dim: int
    vocab_size: int  # SentencePiece pieces (the Marian vocabulary adds </s>/<unk>/<pad> bookkeeping)
    dropout: float = 0.1
    purpose: str = ""  # one phrase for --arch help; not part of the architecture

    def as_dict(self) -> dict[str, Any]:
        shape = asdict(self)
        del shape["purpose"]
        return shape

    def parameters(self, vocab: int | None = None, max_positions: int = 512) -> int:
        """Parameter count of the Marian model as the trainer reports it (tied embeddings, layer
        norms, the two sinusoidal position tables), for ``vocab`` ids (default: pieces + 3)."""
        v = (vocab or self.vocab_size + 3) * self.d_model
        d, f = self.d_model, self.ffn_dim
        attention = 4 * d * d + 4 * d
        ffn = 2 * d * f + f + d
        encoder = self.encoder_layers * (attention + ffn + 4 * d)
        decoder = self.decoder_layers * (2 * attention + ffn + 6 * d)
        return v + encoder + decoder + 2 * max_positions * d

    def describe(self) -> str:
        return (
            f"d{self.d_model} {self.encoder_layers}+{self.decoder_layers} layers, FFN {self.ffn_dim}, "
            f"{self.parameters() / 1e6:.1f}M parameters"
        )


PRESETS: dict[str, Arch] = {
    # for tests: trains in seconds
    "tiny": Arch(
        d_model=32,
        encoder_layers=2,
        decoder_layers=1,
        heads=4,
        ffn_dim=64,
        vocab_size=400,
        dropout=0.0,
        purpose="tests: trains in seconds",
    ),
    # deep encoder, shallow decoder, narrow: the shipped student
    "student": Arch(
        d_model=256,
        encoder_layers=6,
        decoder_layers=2,
        heads=4,
        ffn_dim=1024,
        vocab_size=8000,
        purpose="the shipped en-de student",
    ),
    # the same shape with a narrower feed-forward block (8.10M parameters against the "base"
    # teacher's 8.63M): the de->en student, sized so the committed checkpoints stay under 80 MB
    "student-small": Arch(
        d_model=256,
        encoder_layers=6,
        decoder_layers=2,
        heads=4,
        ffn_dim=768,
        vocab_size=8000,
        purpose="the de-en student",
    ),
    # the plain baseline the issue quotes (d=256, 4+3)
    "base": Arch(
        d_model=256,
        encoder_layers=4,
        decoder_layers=3,
        heads=4,
        ffn_dim=1024,
        vocab_size=8000,
        purpose="the built-in teachers' members",
    ),
    # teacher: wider and deeper than the student
    "teacher": Arch(
        d_model=384,
        encoder_layers=6,
        decoder_layers=3,
        heads=6,
        ffn_dim=1536,
        vocab_size=8000,
        dropout=0.2,
        purpose="a wider, deeper teacher",
    ),
}

DEFAULT_ARCH = "base"


def arch_help() -> str:
    """The ``--arch`` help: every preset, its shape and its use."""
    names = "; ".join(f"{name} ({a.describe()}: {a.purpose})" for name, a in PRESETS.items())
    return f"architecture preset: {names} (default {DEFAULT_ARCH})"

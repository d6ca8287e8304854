"""Named architectures (``--arch``). Students follow "Deep Encoder, Shallow Decoder" (Kasai et al.)."""

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, Arch] = {
    # for tests: trains in seconds
    "tiny": Arch(
        d_model=32, encoder_layers=2, decoder_layers=1, heads=4, ffn_dim=64, vocab_size=400, dropout=0.0
    ),
    # deep encoder, shallow decoder, narrow: the shipped student
    "student": Arch(d_model=256, encoder_layers=6, decoder_layers=2, heads=4, ffn_dim=1024, vocab_size=8000),
    # the same shape with a narrower feed-forward block (8.10M parameters against the "base"
    # teacher's 8.63M): the de->en student, sized so the committed checkpoints stay under 80 MB
    "student-small": Arch(
        d_model=256, encoder_layers=6, decoder_layers=2, heads=4, ffn_dim=768, vocab_size=8000
    ),
    # the plain baseline the issue quotes (d=256, 4+3)
    "base": Arch(d_model=256, encoder_layers=4, decoder_layers=3, heads=4, ffn_dim=1024, vocab_size=8000),
    # teacher: wider and deeper than the student
    "teacher": Arch(
        d_model=384, encoder_layers=6, decoder_layers=3, heads=6, ffn_dim=1536, vocab_size=8000, dropout=0.2
    ),
}

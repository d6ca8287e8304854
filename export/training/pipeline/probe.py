"""The timing probe behind the first plan: a few real training steps of each architecture on this
corpus, and a few beam searches, on this machine, before any stage runs.

Training: the corpus is encoded with the teachers' tokenizer (a sample of at most ``SAMPLE`` pairs,
scaled up), batched as the trainer will batch it (``scaled_schedule``), and ``steps`` optimizer steps
are timed on batches spread over the length range, after one untimed step. The fake-quantized student
of quantization-aware training is timed the same way. Translation: a freshly initialised model never
stops early, so the measured time of a beam search is scaled by the expected length over the length
it ran to. Export and evaluation are not probed: they are estimated from parameter counts and
sentence counts, and corrected by the measured load once earlier stages have run (``plan.replan``).
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pocketmt.export.arch.marian import marian_config
from pocketmt.export.training.batches import make_batches
from pocketmt.export.training.ensemble_search import ensemble_translate_lines
from pocketmt.export.training.presets import PRESETS
from pocketmt.export.training.trainer import auto_precision, scaled_schedule
from pocketmt.runtime.tokenizer import MarianTokenizer

SAMPLE = 20_000  # pairs encoded to count batches
TRANSLATE_SAMPLE = 32  # sentences translated (in one batch, after an untimed one) to time a search
EXPORT_SECONDS = 60.0  # export, besides this much per million parameters
EXPORT_SECONDS_PER_MPARAM = 30.0


@dataclass(frozen=True)
class Probe:
    """Measured speeds (seconds), for the corpus sizes given."""

    device: str
    precision: str
    pairs: int
    valid_sentences: int
    eval_sentences: int
    teacher_batch_tokens: int
    teacher_steps_per_epoch: int
    qat_steps_per_epoch: int
    step_seconds: dict[str, float]  # teacher, student, qat
    greedy_seconds_per_sentence: dict[str, float]  # teacher, student (validation)
    beam_seconds_per_sentence: float  # one teacher member, at the distillation beam
    student_parameters: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _model(arch_name: str, vocab: int, device: torch.device) -> Any:
    from transformers import MarianMTModel

    a = PRESETS[arch_name]
    config = marian_config(
        vocab, a.d_model, a.encoder_layers, a.decoder_layers, a.heads, a.ffn_dim, dropout=a.dropout
    )
    torch.manual_seed(0)
    return MarianMTModel(config).to(device)


def _step_seconds(
    model: Any,
    batches: list[list[tuple[list[int], list[int]]]],
    pad: int,
    device: torch.device,
    precision: str,
) -> float:
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for i, batch in enumerate(batches):
        began = time.perf_counter()
        ws, wt = max(len(s) for s, _ in batch), max(len(t) for _, t in batch)
        src = torch.tensor([s + [pad] * (ws - len(s)) for s, _ in batch], device=device)
        tgt = torch.tensor([t + [pad] * (wt - len(t)) for _, t in batch], device=device)
        dec = torch.cat([torch.full((len(batch), 1), pad, device=device), tgt[:, :-1]], dim=1)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            logits = model(input_ids=src, attention_mask=(src != pad).long(), decoder_input_ids=dec).logits
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), tgt.reshape(-1), ignore_index=pad
        )
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:  # the first step warms caches and allocators up
            times.append(time.perf_counter() - began)
    return sum(times) / len(times)


def _spread(batches: list[list[int]], count: int) -> list[list[int]]:
    """``count`` batches evenly over the length-sorted list (short, middle and long ones)."""
    if len(batches) <= count:
        return batches
    return (
        [batches[round(i * (len(batches) - 1) / (count - 1))] for i in range(count)]
        if count > 1
        else batches[:1]
    )


def _translate_seconds(models: list[Any], tok: Any, lines: list[str], refs: list[str], beam: int) -> float:
    """Seconds per sentence of the ensemble search over ``lines``, scaled to outputs as long as ``refs``
    (after one untimed search, which pays for first-call allocations)."""
    ensemble_translate_lines(models, tok, lines[:2], beam, 64, 256)
    began = time.perf_counter()
    ensemble_translate_lines(models, tok, lines, beam, 64, 256)
    seconds = time.perf_counter() - began
    # one batch: every row ran to the batch's length cap, where a trained model stops at its length
    ran = len(lines) * (int(max(len(tok.encode(s)) for s in lines) * 1.5) + 10)
    expected = sum(len(tok.encode(r)) for r in refs)
    return seconds * min(1.0, expected / max(ran, 1)) / len(lines)


def run_probe(
    tokenizer_dir: Path,
    sources: list[str],
    targets: list[str],
    valid_sources: int,
    eval_sentences: int,
    teacher_arch: str,
    student_arch: str,
    steps: int,
    qat_batch_tokens: int,
    beam: int,
    max_len: int = 128,
) -> Probe:
    from pocketmt.export.compression.quantize import add_fake_quant
    from pocketmt.export.compression.schemes import POLICIES

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = auto_precision(device)
    tok = MarianTokenizer(
        tokenizer_dir / "source.spm", tokenizer_dir / "target.spm", tokenizer_dir / "vocab.json"
    )
    vocab = len(tok.piece_to_id)
    rng = random.Random(0)
    picked = sorted(rng.sample(range(len(sources)), min(SAMPLE, len(sources))))
    pairs = [(tok.encode(sources[i]), tok.encode(targets[i])) for i in picked]
    pairs = [p for p in pairs if 1 < len(p[0]) <= max_len and len(p[1]) <= max_len] or pairs
    lengths = [(len(s), len(t)) for s, t in pairs]
    scale = len(sources) / len(pairs)

    def steps_at(tokens: int) -> int:
        return max(1, round(len(make_batches(lengths, tokens)) * scale))

    schedule = scaled_schedule(steps_at)
    timed: dict[str, float] = {}
    pad = tok.pad_id
    for name, arch, tokens, fake in (
        ("teacher", teacher_arch, schedule.batch_tokens, False),
        ("student", student_arch, schedule.batch_tokens, False),
        ("qat", student_arch, qat_batch_tokens, True),
    ):
        model = _model(arch, vocab, device)
        if fake:
            add_fake_quant(model, POLICIES["ternary"])
        chosen = _spread(make_batches(lengths, tokens), steps + 1)
        timed[name] = _step_seconds(model, [[pairs[i] for i in b] for b in chosen], pad, device, precision)
    sample = [rng.randrange(len(sources)) for _ in range(TRANSLATE_SAMPLE)]
    lines, refs = [sources[i] for i in sample], [targets[i] for i in sample]
    greedy: dict[str, float] = {}
    beam_seconds = 0.0
    with torch.no_grad():
        for name, arch in (("teacher", teacher_arch), ("student", student_arch)):
            model = _model(arch, vocab, device).cpu().eval()
            greedy[name] = _translate_seconds([model], tok, lines, refs, 1)
            if name == "teacher":
                beam_seconds = _translate_seconds([model], tok, lines, refs, beam)
    return Probe(
        device=device.type,
        precision=precision,
        pairs=len(sources),
        valid_sentences=valid_sources,
        eval_sentences=eval_sentences,
        teacher_batch_tokens=schedule.batch_tokens,
        teacher_steps_per_epoch=schedule.steps_per_epoch,
        qat_steps_per_epoch=steps_at(qat_batch_tokens),
        step_seconds=timed,
        greedy_seconds_per_sentence=greedy,
        beam_seconds_per_sentence=beam_seconds,
        student_parameters=PRESETS[student_arch].parameters(vocab),
    )

"""The trainer's defaults for a new pair: a schedule scaled to the corpus, precision from the hardware,
every preset in ``--arch``'s help, and "auto" settings resolved once so that a rerun resumes."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from pocketmt.export.errors import ModelDirError
from pocketmt.export.random_model import synthetic_sentences
from pocketmt.export.training import trainer as trainer_module
from pocketmt.export.training.batches import make_batches
from pocketmt.export.training.presets import PRESETS, arch_help
from pocketmt.export.training.trainer import (
    USUAL_WARMUP,
    TrainConfig,
    Trainer,
    auto_precision,
    cpu_flags,
    cpu_native_bf16,
    scaled_schedule,
)


def _corpus_steps(pairs: int, seed: int = 0):
    """Batches per epoch of ``pairs`` sentence pairs of 5-22 pieces a side, which batch like Multi30k
    (243 batches of 2048 tokens for 29,000 pairs; the built-in student had 247 an epoch)."""
    rng = random.Random(seed)
    lengths = [(rng.randint(5, 22), rng.randint(5, 22)) for _ in range(pairs)]
    return lambda tokens: len(make_batches(lengths, tokens))


def test_a_multi30k_sized_corpus_warms_up_within_its_first_epoch() -> None:
    steps = _corpus_steps(29_000)
    # the motivating fact: the old defaults (800 warm-up steps at 4096 tokens) spanned about six epochs
    assert 5 * steps(4096) < 800
    plan = scaled_schedule(steps)
    assert plan.batch_tokens == 2048  # the tuned recipe's batch (configs/base-en-de.json)
    assert plan.lr == 5e-4  # and its learning rate
    assert plan.steps_per_epoch == steps(2048) >= 200
    assert plan.warmup_steps <= plan.steps_per_epoch  # full learning rate within the first epoch


def test_a_million_pairs_get_the_usual_warmup_and_large_batches() -> None:
    tokens_per_epoch = 1_000_000 * 2 * 20  # padded source and target pieces, 20 a side
    plan = scaled_schedule(lambda batch: tokens_per_epoch // batch)
    assert (plan.batch_tokens, plan.lr, plan.warmup_steps) == (4096, 7e-4, USUAL_WARMUP)
    assert plan.warmup_steps < plan.steps_per_epoch


@pytest.mark.parametrize("epoch_tokens", [3_000, 60_000, 300_000, 900_000, 3_000_000, 20_000_000, 10**9])
def test_warmup_never_outlasts_the_first_epoch(epoch_tokens: int) -> None:
    plan = scaled_schedule(lambda batch: max(1, epoch_tokens // batch))
    assert 1 <= plan.warmup_steps <= min(plan.steps_per_epoch, USUAL_WARMUP)
    assert plan.batch_tokens in (1024, 2048, 4096)
    # larger corpora never get smaller batches
    bigger = scaled_schedule(lambda batch: max(1, 4 * epoch_tokens // batch))
    assert bigger.batch_tokens >= plan.batch_tokens


CPUINFO = (
    "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 avx512f {extra}\n\nprocessor\t: 1\n"
)


def test_native_bf16_is_read_from_the_cpu_flags() -> None:
    assert cpu_native_bf16(cpu_flags(CPUINFO.format(extra="avx512_bf16")))
    assert cpu_native_bf16(cpu_flags(CPUINFO.format(extra="amx_bf16 amx_tile")))
    assert not cpu_native_bf16(cpu_flags(CPUINFO.format(extra="avx512bw avx512vl")))
    assert cpu_flags("") == set()


def test_auto_precision_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    native, emulated = {"avx512_bf16"}, {"avx2"}
    monkeypatch.setattr(trainer_module, "_mkldnn_bf16", lambda: True)
    assert auto_precision(cpu, native) == "bf16"
    assert auto_precision(cpu, emulated) == "fp32"
    monkeypatch.setattr(trainer_module, "_mkldnn_bf16", lambda: False)  # a torch build without it
    assert auto_precision(cpu, native) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert auto_precision(torch.device("cuda", 0)) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert auto_precision(torch.device("cuda", 0)) == "fp32"


def test_arch_help_lists_every_preset_with_its_size() -> None:
    text = arch_help()
    for name, arch in PRESETS.items():
        assert f"{name} (d{arch.d_model} {arch.encoder_layers}+{arch.decoder_layers} layers" in text
    assert "student (d256 6+2 layers, FFN 1024, 9.2M parameters" in text  # the measured 9.16M


def test_preset_parameter_counts_match_the_models() -> None:
    from transformers import MarianMTModel

    from pocketmt.export.arch.marian import marian_config

    for name in ("tiny", "student"):
        a = PRESETS[name]
        model = MarianMTModel(
            marian_config(a.vocab_size + 3, a.d_model, a.encoder_layers, a.decoder_layers, a.heads, a.ffn_dim)
        )
        assert a.parameters() == sum(p.numel() for p in model.parameters()), name


# ---------------------------------------------------------------- resolved once, stored, resumed
@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("defaults")
    train, valid = synthetic_sentences(120, seed=11), synthetic_sentences(4, seed=12)
    files = {"src": train, "tgt": [s.upper() for s in train], "valid_src": valid, "valid_tgt": valid}
    out = {}
    for key, lines in files.items():
        path = root / f"{key}.{'de' if 'tgt' in key else 'en'}"
        path.write_text("\n".join(lines) + "\n")
        out[key] = str(path)
    return out


def _cfg(corpus: dict[str, str], out: Path, **kw: object) -> TrainConfig:
    settings = {"arch": "tiny", "max_steps": 2, "average_last": 0, **kw}
    return TrainConfig(out=str(out), **corpus, **settings)  # type: ignore[arg-type]


def _stored(out: Path) -> dict[str, object]:
    return json.loads((out / ".train" / "settings.json").read_text())["train"]


def test_auto_settings_are_resolved_once_and_a_rerun_resumes_with_them(
    corpus: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "auto"
    said: list[str] = []
    Trainer(_cfg(corpus, out), said.append).run()
    stored = _stored(out)
    assert sorted(stored["resolved_automatically"]) == ["batch_tokens", "lr", "precision", "warmup_steps"]
    assert stored["batch_tokens"] == 1024 and stored["lr"] == 3.5e-4  # a tiny corpus: the smallest batch
    assert stored["precision"] in ("fp32", "bf16")
    batches = int(next(m for m in said if " batches, " in m).split(" pairs in ")[1].split()[0])
    assert 1 <= stored["warmup_steps"] <= batches  # one epoch at most
    assert any("settings scaled to the corpus" in m for m in said)
    # the run keeps what it resolved, even where the rule would now say otherwise
    path = out / ".train" / "settings.json"
    data = json.loads(path.read_text())
    data["train"]["warmup_steps"] = 3
    path.write_text(json.dumps(data))
    said.clear()
    Trainer(_cfg(corpus, out, max_steps=3), said.append).run()
    assert any("training on" in m or "resuming at" in m for m in said), said
    assert _stored(out)["warmup_steps"] == 3
    assert not any("settings scaled" in m for m in said)
    # a setting given explicitly that differs from the stored one is another run
    with pytest.raises(ModelDirError, match=r"other settings \(warmup_steps\)"):
        Trainer(_cfg(corpus, out, max_steps=4, warmup_steps=5), said.append).run()


def test_explicit_settings_win_and_an_old_run_without_new_settings_resumes(
    corpus: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "explicit"
    cfg = _cfg(corpus, out, batch_tokens=600, lr=1e-3, warmup_steps=9, precision="fp32")
    Trainer(cfg, lambda _m: None).run()
    stored = _stored(out)
    assert (stored["batch_tokens"], stored["lr"], stored["warmup_steps"], stored["precision"]) == (
        600,
        1e-3,
        9,
        "fp32",
    )
    assert stored["resolved_automatically"] == []
    # settings.json of a run made before tokenizer_from existed, with concrete numbers everywhere
    path = out / ".train" / "settings.json"
    data = json.loads(path.read_text())
    del data["train"]["tokenizer_from"], data["train"]["resolved_automatically"]
    path.write_text(json.dumps(data))
    said: list[str] = []
    Trainer(replace(_cfg(corpus, out), max_steps=3), said.append).run()  # everything left to auto
    assert any("training on" in m or "resuming at" in m for m in said), said
    assert _stored(out)["batch_tokens"] == 600

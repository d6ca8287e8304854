"""``pocketmt train``: tokenizer, model, loop with validation, early stopping and resumable checkpoints.

Layout of ``out`` while and after training::

    out/config.json, model.safetensors, source.spm, ...   the best model so far (HF Marian checkpoint)
    out/.train/settings.json                               what this run was asked to do, with every "auto"
                                                           setting resolved (resume refuses a change)
    out/.train/state.pt                                    model, optimizer, schedule, RNG, position in the data
    out/.train/log.jsonl                                   one line per validation
"""

from __future__ import annotations

import json
import math
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from pocketmt.export.arch.marian import marian_config
from pocketmt.export.errors import ModelDirError
from pocketmt.export.training.batch_translate import translate_lines
from pocketmt.export.training.batches import epoch_order, make_batches
from pocketmt.export.training.checkpointing import load, replace_folder_atomic, save_atomic
from pocketmt.export.training.distributed import Dist, init_distributed
from pocketmt.export.training.presets import PRESETS, Arch
from pocketmt.io.corpus import read_parallel
from pocketmt.io.spm_vocab import marian_vocab, train_joint_spm, write_tokenizer
from pocketmt.io.tokenizer_files import copy_tokenizer
from pocketmt.runtime.errors import InputError
from pocketmt.runtime.tokenizer import MarianTokenizer

# settings that define a run: resuming with any of them changed would mix two different runs
RUN_IDENTITY = (
    "src",
    "tgt",
    "arch",
    "source_lang",
    "target_lang",
    "batch_tokens",
    "lr",
    "warmup_steps",
    "label_smoothing",
    "seed",
    "max_len",
    "init_from",
    "tokenizer_from",
)

# Settings that may be left to the corpus and the hardware (``None``, or "auto" for precision). They are
# resolved once, when a run starts, and stored in settings.json; a rerun adopts the stored values.
AUTO_SETTINGS = ("batch_tokens", "lr", "warmup_steps", "precision")


# A progress display that owns the screen (``pocketmt pipeline``) receives (step, planned steps) from
# every trainer started while it is set, including those inside other commands' APIs (quantization-aware
# training); the per-epoch progress bars are then off.
STEP_HOOK: ContextVar[Callable[[int, int], None] | None] = ContextVar("pocketmt_step_hook", default=None)


@contextmanager
def reporting_steps(hook: Callable[[int, int], None]) -> Iterator[None]:
    token = STEP_HOOK.set(hook)
    try:
        yield
    finally:
        STEP_HOOK.reset(token)


@dataclass(frozen=True)
class TrainConfig:
    src: str
    tgt: str
    valid_src: str
    valid_tgt: str
    out: str
    arch: str = "base"
    source_lang: str = ""
    target_lang: str = ""
    max_epochs: int = 40
    max_steps: int = 0  # 0: no limit (epochs and early stopping decide)
    # None: scaled to the corpus (``scaled_schedule``); a number given here always wins
    batch_tokens: int | None = None
    lr: float | None = None
    warmup_steps: int | None = None
    label_smoothing: float = 0.1
    patience: int = 4
    seed: int = 1
    max_len: int = 128
    checkpoint_every: int = 200
    valid_limit: int = 0  # 0: the whole validation set
    # at the end, average the last N epoch weights and keep them if they validate better
    average_last: int = 5
    # "bf16" autocasts matmuls (about 1.3x faster on CPUs with AVX512-BF16); "fp32" is exact; "auto":
    # bf16 where the hardware has native bf16 (``auto_precision``), else fp32
    precision: str = "auto"
    # start from this checkpoint folder (its weights, architecture and tokenizer) instead of scratch
    init_from: str = ""
    # train from scratch but with this checkpoint folder's tokenizer (ensemble members share one)
    tokenizer_from: str = ""


@dataclass(frozen=True)
class FineTuneOptions:
    """Continue training a checkpoint (quantization-aware training, recovery after pruning):
    the data and the schedule; everything else comes from the checkpoint."""

    src: str
    tgt: str
    valid_src: str
    valid_tgt: str
    max_epochs: int = 4
    lr: float = 3e-4
    warmup_steps: int = 200
    batch_tokens: int = 2048
    precision: str = "auto"
    seed: int = 1
    patience: int = 3
    checkpoint_every: int = 100
    average_last: int = 5

    def train_config(self, out: Path, init_from: Path) -> TrainConfig:
        return TrainConfig(out=str(out), init_from=str(init_from), **asdict(self))


def lang_of(path: str) -> str:
    match = re.search(r"\.([a-z]{2,3})(\.gz)?$", path)
    return match.group(1) if match else "und"


# The corpus-scaled schedule (``scaled_schedule``).
BATCH_CHOICES = (4096, 2048, 1024)  # tokens per batch, largest first
MIN_EPOCH_STEPS = 200  # the largest batch that still gives an epoch this many steps is chosen
USUAL_WARMUP = 4000  # the usual transformer warm-up (Vaswani et al. 2017), reached on large corpora
# peak learning rate by batch size: about 1/sqrt(2) per halving (square-root scaling); 2048 -> 5e-4 is
# the tuned Multi30k recipe (configs/base-en-de.json), 4096 -> 7e-4 the trainer's earlier default
PEAK_LR = {4096: 7e-4, 2048: 5e-4, 1024: 3.5e-4}


@dataclass(frozen=True)
class Schedule:
    batch_tokens: int
    lr: float
    warmup_steps: int
    steps_per_epoch: int


def scaled_schedule(steps_per_epoch: Callable[[int], int]) -> Schedule:
    """Batch size, peak learning rate and warm-up for a corpus, so that the first epoch already learns.

    ``steps_per_epoch(batch_tokens)`` counts the optimizer steps one epoch of the corpus takes at that
    batch size (the trainer passes its real batching). The rule:

    - batch tokens: the largest of 4096, 2048, 1024 that still gives an epoch at least 200 steps
      (1024 when none does). A large corpus keeps 4096-token batches; Multi30k's 29,000 pairs get 2048
      (about 250 steps an epoch), the batch of the tuned recipe in configs/base-en-de.json.
    - peak learning rate: 7e-4 at 4096 tokens, 5e-4 at 2048, 3.5e-4 at 1024 (square-root scaling).
    - warm-up: one epoch, at most the usual 4000 steps. A corpus of 29,000 pairs warms up over its
      first epoch (about 250 steps) instead of six; from about 16M tokens (some 500,000 pairs of
      short sentences) on, warm-up is the usual 4000 steps, well inside the first epoch.

    Settings given explicitly are not passed through this rule; see ``Trainer``.
    """
    chosen, steps = BATCH_CHOICES[-1], 0
    for batch in BATCH_CHOICES:
        chosen, steps = batch, steps_per_epoch(batch)
        if steps >= MIN_EPOCH_STEPS:
            break
    return Schedule(chosen, PEAK_LR[chosen], max(1, min(USUAL_WARMUP, steps)), steps)


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where there is none)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def cpu_native_bf16(flags: set[str] | None = None) -> bool:
    """Whether the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16); without either, bf16 matmuls
    are emulated and slower than fp32."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def auto_precision(device: torch.device, flags: set[str] | None = None) -> str:
    """``precision="auto"``: bf16 where the hardware computes it natively (a CUDA GPU that supports
    bf16; a CPU with AVX512-BF16 or AMX whose oneDNN build uses it), fp32 everywhere else."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if cpu_native_bf16(flags) and _mkldnn_bf16() else "fp32"
    return "fp32"


def _lr_factor(step: int, warmup: int) -> float:
    """Linear warm-up, then inverse square root decay."""
    step = max(step, 1)
    return min(step / warmup, math.sqrt(warmup / step))


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        progress: Callable[[str], None] | None = None,
        prepare: Callable[[Any], None] | None = None,
        materialize: Callable[[Any, Path], Any] | None = None,
    ) -> None:
        """``prepare(model)`` changes the fresh model before training (e.g. fake quantization);
        ``materialize(model, folder)`` returns the plain model to save as the best checkpoint and may
        write extra files into ``folder`` next to it."""
        if cfg.precision not in ("fp32", "bf16", "auto"):
            raise InputError(f"precision must be fp32, bf16 or auto, not {cfg.precision!r}")
        for name in ("batch_tokens", "warmup_steps"):
            value = getattr(cfg, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InputError(
                    f"{name.replace('_', '-')} must be a whole number of at least 1, not {value!r}"
                )
        if cfg.lr is not None and not cfg.lr > 0:
            raise InputError(f"lr must be positive, not {cfg.lr!r}")
        if cfg.init_from and not (Path(cfg.init_from) / "config.json").is_file():
            raise InputError(f"--init-from is not a model checkpoint folder: {cfg.init_from}")
        if cfg.tokenizer_from and not (Path(cfg.tokenizer_from) / "source.spm").is_file():
            raise InputError(f"tokenizer folder has no source.spm: {cfg.tokenizer_from}")
        if not cfg.init_from and cfg.arch not in PRESETS:
            raise InputError(f"unknown --arch {cfg.arch!r}; choose from {', '.join(PRESETS)}")
        self.cfg = cfg
        self.arch: Arch | None = None if cfg.init_from else PRESETS[cfg.arch]
        self.prepare = prepare
        self.materialize = materialize
        self.out = Path(cfg.out)
        self.work = self.out / ".train"
        self.say = progress or (lambda msg: print(msg, file=sys.stderr))
        # called after every step with (step, planned steps); replaces the per-epoch progress bars
        self.on_step: Callable[[int, int], None] | None = STEP_HOOK.get()
        self.src_lang = cfg.source_lang or lang_of(cfg.src)
        self.tgt_lang = cfg.target_lang or lang_of(cfg.tgt)

    # ------------------------------------------------------------ setup
    def _settings(self) -> dict[str, Any]:
        arch = self.arch.as_dict() if self.arch else {"init_from": self.cfg.init_from}
        return {"train": asdict(self.cfg), "arch": arch}

    def _check_resume(self) -> None:
        """A rerun resumes only the same run: same data, architecture and optimisation. Stopping rules
        (epochs, steps, patience, checkpoint spacing, averaging) may change, e.g. to train longer.
        Settings left to "auto" take the values the run resolved and stored when it began."""
        self.work.mkdir(parents=True, exist_ok=True)
        path = self.work / "settings.json"
        if path.is_file():
            before = json.loads(path.read_text())
            self._adopt(before["train"])
            settings = json.loads(json.dumps(self._settings()))
            defaults = {k: f.default for k, f in TrainConfig.__dataclass_fields__.items()}
            changed = sorted(  # a setting added since the run began counts as its default
                k for k in RUN_IDENTITY if before["train"].get(k, defaults[k]) != settings["train"].get(k)
            ) + (["arch"] if before["arch"] != settings["arch"] else [])
            if changed:
                raise ModelDirError(
                    f"{self.out}: holds a run with other settings ({', '.join(changed)}); "
                    f"use another -o or delete {self.work}"
                )
        self._write_settings()

    def _adopt(self, stored: dict[str, Any]) -> None:
        """Take the stored value of every setting this run leaves to "auto" (a run resolves them once)."""
        adopted = {
            k: stored[k]
            for k in AUTO_SETTINGS
            if _is_auto(k, getattr(self.cfg, k)) and not _is_auto(k, stored.get(k))
        }
        if adopted:
            self.cfg = replace(self.cfg, **adopted)
        self.resolved = sorted(set(self.resolved) | set(stored.get("resolved_automatically", [])))

    def _write_settings(self) -> None:
        settings = self._settings()
        settings["train"]["resolved_automatically"] = self.resolved
        path = self.work / "settings.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(settings, indent=1))
        tmp.replace(path)

    def _resolve(self, steps_per_epoch: Callable[[int], int], device: torch.device) -> None:
        """Fill in the settings still left to "auto": the schedule from the corpus, the precision from
        the hardware."""
        auto = [k for k in AUTO_SETTINGS if _is_auto(k, getattr(self.cfg, k))]
        if not auto:
            return
        values: dict[str, Any] = {}
        if {"batch_tokens", "lr", "warmup_steps"} & set(auto):
            given = self.cfg.batch_tokens
            if given is None:
                plan = scaled_schedule(steps_per_epoch)
            else:  # a given batch size: the rule's learning rate and warm-up for it
                steps = steps_per_epoch(given)
                nearest = min(PEAK_LR, key=lambda b: abs(math.log(b / given)))
                plan = Schedule(given, PEAK_LR[nearest], max(1, min(USUAL_WARMUP, steps)), steps)
            values.update(batch_tokens=plan.batch_tokens, lr=plan.lr, warmup_steps=plan.warmup_steps)
        values["precision"] = auto_precision(device)
        values = {k: v for k, v in values.items() if k in auto}
        self.cfg = replace(self.cfg, **values)
        self.resolved = sorted(set(self.resolved) | set(values))
        self.say(
            "settings scaled to the corpus and hardware: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in values.items())
        )

    def _tokenizer(self, sources: list[str], targets: list[str]) -> tuple[bytes, dict[str, int]]:
        spm_path = self.work / "joint.spm"
        if self.arch is None or self.cfg.tokenizer_from:  # that checkpoint's own tokenizer
            source = Path(self.cfg.tokenizer_from or self.cfg.init_from)
            proto = (source / "source.spm").read_bytes()
            return proto, json.loads((source / "vocab.json").read_text(encoding="utf-8"))
        if not spm_path.is_file():
            self.say(f"training the SentencePiece model ({self.arch.vocab_size} pieces, byte fallback)")
            proto = train_joint_spm(sources + targets, self.arch.vocab_size)
            tmp = spm_path.with_suffix(".tmp")
            tmp.write_bytes(proto)
            tmp.replace(spm_path)
        proto = spm_path.read_bytes()
        return proto, marian_vocab(proto)

    def _model(self, vocab: dict[str, int]) -> Any:
        from transformers import MarianMTModel

        if self.arch is None:
            model = MarianMTModel.from_pretrained(self.cfg.init_from, dtype=torch.float32)
            torch.manual_seed(self.cfg.seed)
            return model
        a = self.arch
        config = marian_config(
            len(vocab), a.d_model, a.encoder_layers, a.decoder_layers, a.heads, a.ffn_dim, dropout=a.dropout
        )
        torch.manual_seed(self.cfg.seed)
        return MarianMTModel(config)

    # ------------------------------------------------------------ run
    def run(self) -> dict[str, Any]:
        ddp = init_distributed()
        try:
            return self._run(ddp)
        finally:
            ddp.close()

    def _run(self, ddp: Dist) -> dict[str, Any]:
        cfg = self.cfg
        if not ddp.main:
            self.say = lambda _msg: None
        sources, targets = read_parallel(cfg.src, cfg.tgt)
        valid_src, valid_tgt = read_parallel(cfg.valid_src, cfg.valid_tgt)
        if cfg.valid_limit:
            valid_src, valid_tgt = valid_src[: cfg.valid_limit], valid_tgt[: cfg.valid_limit]
        tok_dir = self.work / "tokenizer"
        self.resolved: list[str] = []
        if ddp.main:  # one process writes; the others wait and read
            self._check_resume()
            proto, vocab = self._tokenizer(sources, targets)
            tok_dir.mkdir(exist_ok=True)
            write_tokenizer(tok_dir, proto, vocab, self.src_lang, self.tgt_lang)
        ddp.barrier()
        if not ddp.main:
            self._adopt(json.loads((self.work / "settings.json").read_text())["train"])
        tokenizer = MarianTokenizer(tok_dir / "source.spm", tok_dir / "target.spm", tok_dir / "vocab.json")
        vocab = tokenizer.piece_to_id

        pairs = [(tokenizer.encode(s), tokenizer.encode(t)) for s, t in zip(sources, targets, strict=True)]
        kept = [p for p in pairs if len(p[0]) <= cfg.max_len and len(p[1]) <= cfg.max_len and len(p[0]) > 1]
        if len(kept) < len(pairs):
            self.say(f"skipping {len(pairs) - len(kept)} pairs longer than {cfg.max_len} tokens or empty")
        if not kept:
            raise InputError("no training pairs left")
        lengths = [(len(s), len(t)) for s, t in kept]
        batchings: dict[int, list[list[int]]] = {}

        def batching(tokens: int) -> list[list[int]]:
            if tokens not in batchings:
                batchings[tokens] = make_batches(lengths, tokens)
            return batchings[tokens]

        self._resolve(lambda tokens: len(batching(tokens)) // ddp.world, ddp.device)
        if ddp.main:
            self._write_settings()
        cfg = self.cfg
        assert cfg.batch_tokens is not None and cfg.warmup_steps is not None and cfg.lr is not None
        batches = batching(cfg.batch_tokens)
        warmup = cfg.warmup_steps
        steps_per_epoch = len(batches) // ddp.world  # each step takes one batch per process
        if steps_per_epoch == 0:
            raise InputError(
                f"{len(batches)} batches cannot feed {ddp.world} processes; lower --batch-tokens"
            )

        model = self._model(vocab).to(ddp.device)
        if self.prepare is not None:
            self.prepare(model)
        optim = torch.optim.AdamW(
            model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9, weight_decay=0.0
        )
        sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: _lr_factor(s, warmup))
        state_path = self.work / "state.pt"
        progress: dict[str, Any] = {
            "epoch": 0,
            "batch": 0,
            "step": 0,
            "best_bleu": -1.0,
            "best_epoch": -1,
            "bad_epochs": 0,
            "done": False,
            "seconds": 0.0,
        }
        saved = load(state_path)
        if saved is not None:
            model.load_state_dict(saved["model"])
            optim.load_state_dict(saved["optim"])
            sched.load_state_dict(saved["sched"])
            torch.set_rng_state(saved["rng"])
            progress = saved["progress"]
            self.say(
                f"resuming at epoch {progress['epoch'] + 1}, batch {progress['batch']}, step {progress['step']}"
            )
        if (  # finished at the old epoch limit, asked for more: train on (early stopping stays final)
            progress["done"]
            and progress["epoch"] < cfg.max_epochs
            and progress["bad_epochs"] < cfg.patience
            and not (cfg.max_steps and progress["step"] >= cfg.max_steps)
        ):
            self.say(f"training on from epoch {progress['epoch'] + 1} to {cfg.max_epochs}")
            progress["done"] = False
        if progress["done"]:
            self.say("training already finished; the best model is in place")
            return progress
        trained = ddp.wrap(model)

        def checkpoint() -> None:
            if ddp.main:
                state = {
                    "model": model.state_dict(),
                    "optim": optim.state_dict(),
                    "sched": sched.state_dict(),
                    "rng": torch.get_rng_state(),
                    "progress": progress,
                }
                save_atomic(state, state_path)

        pad = vocab["<pad>"]
        params = sum(p.numel() for p in model.parameters())
        self.say(
            f"{cfg.arch if self.arch else cfg.init_from}: {params / 1e6:.2f}M parameters, {len(kept)} pairs in {len(batches)} batches, "
            f"{ddp.world} process(es) on {ddp.device.type}"
        )
        if cfg.precision == "bf16" and ddp.device.type == "cpu" and auto_precision(ddp.device) != "bf16":
            self.say(
                "warning: this CPU has no native bf16 (no AVX512-BF16 or AMX), so bf16 training runs "
                "about 100x slower than fp32 here; use --precision fp32"
            )
        from tqdm import tqdm

        if self.on_step is not None and ddp.main:
            self.on_step(progress["step"], self.planned_steps(steps_per_epoch))
        while progress["epoch"] < cfg.max_epochs and not progress["done"]:
            epoch = progress["epoch"]
            order = epoch_order(batches, cfg.seed, epoch)
            trained.train()
            began = time.perf_counter()
            tokens = 0
            bar = tqdm(
                total=steps_per_epoch,
                initial=progress["batch"],
                desc=f"epoch {epoch + 1}",
                unit="step",
                file=sys.stderr,
                mininterval=2.0,
                dynamic_ncols=True,
                disable=not ddp.main or self.on_step is not None,
            )
            for index in range(progress["batch"], steps_per_epoch):
                batch = [kept[i] for i in order[index * ddp.world + ddp.rank]]
                loss, n_tok = self._train_step(trained, batch, pad, ddp.device)
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optim.step()
                sched.step()
                tokens += n_tok * ddp.world
                progress["batch"] = index + 1
                progress["step"] += 1
                elapsed = time.perf_counter() - began
                bar.set_postfix(
                    loss=f"{loss.item():.3f}", tok_s=f"{tokens / max(elapsed, 1e-9):.0f}", refresh=False
                )
                bar.update(1)
                if self.on_step is not None and ddp.main:
                    self.on_step(progress["step"], self.planned_steps(steps_per_epoch))
                if progress["step"] % cfg.checkpoint_every == 0:
                    progress["seconds"] += time.perf_counter() - began
                    began, tokens = time.perf_counter(), 0
                    checkpoint()
                if cfg.max_steps and progress["step"] >= cfg.max_steps:
                    break
            bar.close()
            progress["seconds"] += time.perf_counter() - began
            stopping = bool(cfg.max_steps and progress["step"] >= cfg.max_steps)
            if progress["batch"] >= steps_per_epoch or stopping:
                if ddp.main:
                    self._end_epoch(
                        model, tokenizer, valid_src, valid_tgt, tok_dir, progress, epoch, stopping
                    )
                progress = ddp.broadcast(progress)
            checkpoint()
        progress["done"] = True
        checkpoint()
        ddp.barrier()
        return progress

    def planned_steps(self, steps_per_epoch: int) -> int:
        """The steps this run takes if early stopping does not end it sooner."""
        planned = self.cfg.max_epochs * steps_per_epoch
        return min(planned, self.cfg.max_steps) if self.cfg.max_steps else planned

    def _end_epoch(
        self,
        model: Any,
        tokenizer: Any,
        valid_src: list[str],
        valid_tgt: list[str],
        tok_dir: Path,
        progress: dict[str, Any],
        epoch: int,
        stopping: bool,
    ) -> None:
        """Validate, keep the best model, and decide on early stopping (main process only)."""
        bleu, chrf = self._validate(model, tokenizer, valid_src, valid_tgt)
        line = {
            "epoch": epoch + 1,
            "step": progress["step"],
            "valid_bleu": bleu,
            "valid_chrf": chrf,
            "train_seconds": round(progress["seconds"], 1),
        }
        self._log(line)
        if bleu > progress["best_bleu"]:
            progress.update(best_bleu=bleu, best_epoch=epoch + 1, bad_epochs=0)
            self._save_model(model, tok_dir)
        else:
            progress["bad_epochs"] += 1
        self.say(
            f"epoch {epoch + 1}: valid BLEU {bleu:.2f} chrF {chrf:.2f} "
            f"(best {progress['best_bleu']:.2f} at epoch {progress['best_epoch']})"
        )
        progress["epoch"] += 1
        progress["batch"] = 0
        self._snapshot(model, epoch)
        if (
            progress["bad_epochs"] >= self.cfg.patience
            or stopping
            or progress["epoch"] >= self.cfg.max_epochs
        ):
            progress["done"] = True
            self._try_average(model, tokenizer, valid_src, valid_tgt, tok_dir, progress)

    def _log(self, line: dict[str, Any]) -> None:
        with (self.work / "log.jsonl").open("a") as log:
            log.write(json.dumps(line) + "\n")

    def _snapshot(self, model: Any, epoch: int) -> None:
        """Keep the weights of the last ``average_last`` epochs for checkpoint averaging."""
        if self.cfg.average_last < 2:
            return
        folder = self.work / "epochs"
        folder.mkdir(exist_ok=True)
        save_atomic(
            {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            folder / f"{epoch + 1:04d}.pt",
        )
        for old in sorted(folder.glob("*.pt"))[: -self.cfg.average_last]:
            old.unlink()

    def _try_average(
        self,
        model: Any,
        tokenizer: Any,
        valid_src: list[str],
        valid_tgt: list[str],
        tok_dir: Path,
        progress: dict[str, Any],
    ) -> None:
        snaps = sorted((self.work / "epochs").glob("*.pt")) if self.cfg.average_last >= 2 else []
        if len(snaps) < 2:
            return
        states = [load(p) for p in snaps]
        current = {k: v.detach().clone() for k, v in model.state_dict().items()}
        averaged = {
            k: (sum(s[k].float() for s in states if s) / len(states)).to(current[k].dtype) for k in current
        }
        model.load_state_dict(averaged)
        bleu, chrf = self._validate(model, tokenizer, valid_src, valid_tgt)
        line = {
            "step": progress["step"],
            "averaged_epochs": [p.stem for p in snaps],
            "valid_bleu": bleu,
            "valid_chrf": chrf,
        }
        self._log(line)
        self.say(f"average of the last {len(snaps)} epochs: valid BLEU {bleu:.2f} chrF {chrf:.2f}")
        if bleu > progress["best_bleu"]:
            progress.update(best_bleu=bleu, best_epoch=f"average of {len(snaps)}")
            self._save_model(model, tok_dir)
        else:
            model.load_state_dict(current)

    def _train_step(
        self, model: Any, batch: list[tuple[list[int], list[int]]], pad: int, device: torch.device
    ) -> tuple[Any, int]:
        width_s = max(len(s) for s, _ in batch)
        width_t = max(len(t) for _, t in batch)
        src = torch.tensor([s + [pad] * (width_s - len(s)) for s, _ in batch], device=device)
        tgt = torch.tensor([t + [pad] * (width_t - len(t)) for _, t in batch], device=device)
        dec_in = torch.cat([torch.full((len(batch), 1), pad, device=device), tgt[:, :-1]], dim=1)
        labels = tgt.masked_fill(tgt == pad, -100)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.cfg.precision == "bf16"):
            logits = model(input_ids=src, attention_mask=(src != pad).long(), decoder_input_ids=dec_in).logits
        logits = logits.float()
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            ignore_index=-100,
            label_smoothing=self.cfg.label_smoothing,
        )
        return loss, int((labels != -100).sum())

    @torch.no_grad()
    def _validate(
        self, model: Any, tokenizer: Any, sources: list[str], refs: list[str]
    ) -> tuple[float, float]:
        import sacrebleu

        hyps = translate_lines(model, tokenizer, sources, beam=1, batch=64, max_len=self.cfg.max_len)
        bleu = sacrebleu.metrics.BLEU().corpus_score(hyps, [refs]).score
        chrf = sacrebleu.metrics.CHRF().corpus_score(hyps, [refs]).score
        return round(bleu, 2), round(chrf, 2)

    def _save_model(self, model: Any, tok_dir: Path) -> None:
        """Write the best model into ``out`` (HF checkpoint + tokenizer), swapping files in atomically."""
        staging = Path(tempfile.mkdtemp(prefix=".best-", dir=self.work))
        plain = self.materialize(model, staging) if self.materialize else model
        plain.save_pretrained(str(staging))
        copy_tokenizer(tok_dir, staging)
        target = self.work / "best"
        replace_folder_atomic(staging, target)
        for path in target.iterdir():
            (self.out / path.name).write_bytes(path.read_bytes())


def train_model(cfg: TrainConfig, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    return Trainer(cfg, progress).run()


def _is_auto(name: str, value: Any) -> bool:
    return value is None or (name == "precision" and value == "auto")


def _mkldnn_bf16() -> bool:
    """Whether this torch build's oneDNN runs bf16 kernels on this CPU."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False

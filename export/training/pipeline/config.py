"""What ``pocketmt pipeline`` is asked to do, and the choices it makes from that (student size)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pocketmt.export.compression.schemes import POLICIES
from pocketmt.export.training.presets import PRESETS, Arch
from pocketmt.export.training.trainer import lang_of
from pocketmt.runtime.errors import InputError

# What a phone downloads, by scheme and format, calibrated on the en-de student (d=256, 6+2 layers,
# 9.16M parameters; docs/bundle.md and models/COMPRESSION.md): bits per linear weight and per
# embedding weight, how many copies of the embedding the format stores (ExecuTorch keeps the lookup and
# the tied output projection apart), and the rest (biases, norms, position table) for that shape.
LINEAR_BITS = {
    ("ternary", "pte"): 4.47,
    ("int4", "pte"): 4.47,
    ("ternary", "onnx"): 2.05,
    ("int4", "onnx"): 4.5,
}
EMBEDDING_BITS = {"ternary": 4.5, "int4": 8.1}  # int4 in groups of 32; int8 per row
EMBEDDING_COPIES = {"pte": 2, "onnx": 1}
REST_BYTES = {"pte": 490_000, "onnx": 350_000}  # at d=256 with 8 layers; scales with d * layers
TOKENIZER_BYTES = 530_000  # one joint SentencePiece model of 8,000 pieces and the vocabulary
SCHEMES = ("ternary", "int4")
STUDENTS = ("student", "student-small")  # largest first
DEFAULT_STUDENT = "student"


def bundle_bytes(arch: Arch, scheme: str, fmt: str = "pte") -> int:
    """About what a phone downloads for one format of ``arch`` quantized with ``scheme``. For the
    en-de student this gives 7.13 MB (.pte, ternary; measured 6.54 + 0.53 of tokenizer), 9.0 MB (.pte,
    int4; 8.48 + 0.53), 3.78 MB (ONNX, ternary; measured 3.78) and 6.79 MB (ONNX, int4; 6.79)."""
    d, f = arch.d_model, arch.ffn_dim
    linear = arch.encoder_layers * (4 * d * d + 2 * d * f) + arch.decoder_layers * (8 * d * d + 2 * d * f)
    embedding = (arch.vocab_size + 3) * d
    rest = REST_BYTES[fmt] * d * (arch.encoder_layers + arch.decoder_layers) / (256 * 8)
    return int(
        linear * LINEAR_BITS[scheme, fmt] / 8
        + EMBEDDING_COPIES[fmt] * embedding * EMBEDDING_BITS[scheme] / 8
        + rest
        + TOKENIZER_BYTES
    )


def student_for_size(target_mb: float | None, scheme: str, fmt: str = "pte") -> str:
    """The largest student preset whose ``fmt`` download fits ``target_mb`` (the default student
    without a target)."""
    if target_mb is None:
        return DEFAULT_STUDENT
    for name in STUDENTS:
        if bundle_bytes(PRESETS[name], scheme, fmt) <= target_mb * 1e6:
            return name
    smallest = STUDENTS[-1]
    raise InputError(
        f"no student fits {target_mb:g} MB with {scheme} weights: the smallest, {smallest}, makes a "
        f"{fmt} download of about {bundle_bytes(PRESETS[smallest], scheme, fmt) / 1e6:.1f} MB"
        + ("; try --scheme ternary" if scheme != "ternary" else "")
    )


@dataclass(frozen=True)
class Recipe:
    """Epochs and optimisation of each stage when time is no limit (the built-in models' recipe,
    configs/ and models/*/README.md); ``--budget`` lowers the epochs to fit."""

    teacher_epochs: int = 24  # the built-in teacher members had 20 and 23 (early stopping may end sooner)
    student_epochs: int = 16
    qat_epochs: int = 12  # the built-in en-de ternary bundle: 12 epochs at lr 5e-4
    min_epochs: int = 1
    teacher_patience: int = 5
    student_patience: int = 5
    qat_patience: int = 4
    qat_lr: float = 5e-4
    qat_batch_tokens: int = 2048
    qat_warmup_steps: int = 200
    beam: int = 4  # the teachers' beam for the distillation outputs, and the evaluation's
    batch_sentences: int = 64
    checkpoint_every: int = 100
    average_last: int = 5


STOPPING_RULES = (
    "teacher_epochs",
    "student_epochs",
    "qat_epochs",
    "min_epochs",
    "teacher_patience",
    "student_patience",
    "qat_patience",
)


@dataclass(frozen=True)
class PipelineConfig:
    src: str
    tgt: str
    valid_src: str
    valid_tgt: str
    out: str
    test_src: str = ""
    test_ref: str = ""
    budget_hours: float | None = None  # None: plan.DEFAULT_BUDGET_HOURS
    target_size_mb: float | None = None
    teachers: int = 2
    teacher_arch: str = "base"
    student_arch: str = ""  # "": the largest student that fits target_size_mb
    scheme: str = "ternary"
    formats: tuple[str, ...] = ("pte", "onnx")
    source_lang: str = ""
    target_lang: str = ""
    seed: int = 1
    eval_limit: int = 0  # 0: the whole evaluation set
    probe_steps: int = 4  # timed training steps per architecture in the timing probe
    recipe: Recipe = field(default_factory=Recipe)

    def check(self) -> None:
        for name in ("src", "tgt", "valid_src", "valid_tgt") + (
            ("test_src", "test_ref") if self.test_src or self.test_ref else ()
        ):
            path = getattr(self, name)
            if not path or not Path(path).is_file():
                raise InputError(f"--{name.replace('_', '-')}: no such file: {path or '(not given)'}")
        if bool(self.test_src) != bool(self.test_ref):
            raise InputError("--test-src and --test-ref go together")
        if self.teachers not in (1, 2):
            raise InputError(f"--teachers must be 1 or 2, not {self.teachers}")
        if self.scheme not in SCHEMES or self.scheme not in POLICIES:
            raise InputError(f"--scheme must be one of {', '.join(SCHEMES)}, not {self.scheme!r}")
        for name in (self.teacher_arch, self.student_arch):
            if name and name not in PRESETS:
                raise InputError(f"unknown architecture {name!r}; choose from {', '.join(PRESETS)}")
        if self.budget_hours is not None and not self.budget_hours > 0:
            raise InputError(f"--budget must be a positive number of hours, not {self.budget_hours}")
        if self.target_size_mb is not None and not self.target_size_mb > 0:
            raise InputError(f"--target-size must be a positive number of MB, not {self.target_size_mb}")
        unknown = [f for f in self.formats if f not in ("pte", "onnx")]
        if unknown or not self.formats:
            raise InputError(f"--format takes pte and/or onnx, not {','.join(self.formats) or '(none)'}")

    @property
    def phone_format(self) -> str:
        """The format --target-size is measured on: the .pte when it is made, else ONNX."""
        return "pte" if "pte" in self.formats else "onnx"

    @property
    def student(self) -> str:
        return self.student_arch or student_for_size(self.target_size_mb, self.scheme, self.phone_format)

    @property
    def langs(self) -> tuple[str, str]:
        return self.source_lang or lang_of(self.src), self.target_lang or lang_of(self.tgt)

    def identity(self) -> dict[str, Any]:
        """The settings that define the run: a rerun must repeat them to resume. The budget, the
        stages' most epochs and patience, the test set and the evaluation limit may change between
        runs (a stage that has started keeps the epochs it was planned with)."""
        source, target = self.langs
        return {
            "src": str(Path(self.src).resolve()),
            "tgt": str(Path(self.tgt).resolve()),
            "valid_src": str(Path(self.valid_src).resolve()),
            "valid_tgt": str(Path(self.valid_tgt).resolve()),
            "teachers": self.teachers,
            "teacher_arch": self.teacher_arch,
            "student_arch": self.student,
            "scheme": self.scheme,
            "formats": list(self.formats),
            "source_lang": source,
            "target_lang": target,
            "seed": self.seed,
            # how each stage trains; its epochs and patience are stopping rules and may change
            "recipe": {k: v for k, v in asdict(self.recipe).items() if k not in STOPPING_RULES},
        }


def stage_names(cfg: PipelineConfig) -> list[str]:
    teachers = [f"teacher-{i}" for i in range(1, cfg.teachers + 1)]
    return ["prepare", *teachers, "distill", "student", "quantize", "export", "evaluate", "card"]


def training_stages(cfg: PipelineConfig) -> list[str]:
    names = [f"teacher-{i}" for i in range(1, cfg.teachers + 1)] + ["student"]
    return names + (["quantize"] if cfg.scheme == "ternary" else [])

"""Load: a local Hugging Face Marian checkpoint directory (or a hub id where a hub is reachable)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocketmt.export.arch import ADAPTERS
from pocketmt.export.compression.quantize import QTensor, load_quantization
from pocketmt.export.errors import ModelDirError
from pocketmt.io.tokenizer_files import TOKENIZER_FILES
from pocketmt.runtime.errors import InputError

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass
class Checkpoint:
    path: Path
    config: dict[str, Any]
    model: Any  # transformers.MarianMTModel
    source_lang: str
    target_lang: str
    vocab: dict[str, int]
    quantization: QuantInfo | None = None
    # ``export --weights int8``: the codes and scales the weights were rounded to (the ONNX graphs
    # compute with them; ``quantization`` stays None, the checkpoint on disk is unchanged)
    rounded: dict[str, QTensor] = field(default_factory=dict)


@dataclass
class QuantInfo:
    """What ``pocketmt quantize`` recorded: the policy and each tensor's codes and scales."""

    meta: dict[str, Any]
    tensors: dict[str, QTensor]  # module name -> codes and scales

    @property
    def policy_name(self) -> str:
        return str(self.meta.get("policy", {}).get("name", "custom"))


def require_checkpoint(path: str | Path, why: str = "not a model checkpoint folder") -> None:
    """The quick check the commands make before any work: a folder with a readable Marian
    ``config.json``, the tokenizer files, and weights whose header reads (the weights themselves load
    later, after the minutes a command may spend before it needs them)."""
    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise InputError(f"{why}: {path}")
    read_config(folder)
    validate_files(folder)
    weights = folder / WEIGHT_FILES[0]
    if weights.is_file():
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(weights), framework="pt"):
                pass
        except (SafetensorError, OSError) as exc:
            raise ModelDirError(f"{weights}: unreadable weights ({exc})") from exc


def resolve_model_dir(name: str | Path) -> Path:
    path = Path(name)
    if path.exists():
        return path
    if isinstance(name, str) and _HUB_ID.match(name):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(name))
        except Exception as exc:  # offline, unknown repo, auth: all end the same way for the user
            raise ModelDirError(
                f"{name}: not a local folder, and fetching it from the hub failed ({exc})"
            ) from exc
    raise ModelDirError(f"model folder not found: {name}")


def read_config(path: Path) -> dict[str, Any]:
    if not path.is_dir():
        raise ModelDirError(f"{path}: not a folder")
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise ModelDirError(f"{path}: not a Hugging Face checkpoint (no config.json)")
    config = _read_json(cfg_path)
    if not isinstance(config, dict):
        raise ModelDirError(f"{cfg_path}: not a JSON object")
    if config.get("model_type") not in ADAPTERS:
        supported = ", ".join(repr(k) for k in ADAPTERS)
        raise ModelDirError(
            f"{path}: not a Marian checkpoint (model_type is {config.get('model_type')!r}; supported: {supported})"
        )
    return config


def _read_json(path: Path) -> Any:
    """A JSON file of a checkpoint, with each way of failing as a one-line ``ModelDirError``."""
    try:
        return json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{path}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise ModelDirError(f"{path}: JSON nested too deeply to read") from exc
    except ValueError as exc:  # an integer of more than 4300 digits
        raise ModelDirError(f"{path}: not usable JSON ({str(exc).split(':')[0]})") from exc
    except OSError as exc:
        raise ModelDirError(f"{path}: cannot read ({exc.strerror})") from exc


def validate_files(path: Path) -> None:
    missing = [name for name in TOKENIZER_FILES if not (path / name).is_file()]
    if missing:
        raise ModelDirError(f"{path}: Marian checkpoint lacks {', '.join(missing)}")
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise ModelDirError(f"{path}: no weights ({' or '.join(WEIGHT_FILES)})")


def read_languages(path: Path) -> tuple[str, str]:
    tok_cfg = path / "tokenizer_config.json"
    if tok_cfg.is_file():
        data = _read_json(tok_cfg)
        if not isinstance(data, dict):
            raise ModelDirError(f"{tok_cfg}: not a JSON object")
        src, tgt = data.get("source_lang"), data.get("target_lang")
        if src and tgt:
            return str(src), str(tgt)
    match = re.search(r"opus-mt-([a-z]{2,3})-([a-z]{2,3})", path.resolve().as_posix())
    if match:
        return match.group(1), match.group(2)
    return "und", "und"


def load_checkpoint(name: str | Path) -> Checkpoint:
    path = resolve_model_dir(name)
    config = read_config(path)
    validate_files(path)
    raw_vocab = _read_json(path / "vocab.json")
    try:
        vocab = {str(k): int(v) for k, v in raw_vocab.items()}
    except (AttributeError, ValueError, TypeError) as exc:
        raise ModelDirError(f"{path / 'vocab.json'}: not a piece-to-id mapping ({exc})") from exc
    for piece in ("<unk>", "</s>", "<pad>"):
        if piece not in vocab:
            raise ModelDirError(f"{path / 'vocab.json'}: lacks {piece}")
    try:
        model = ADAPTERS[config["model_type"]].load_model(path)
    except ModelDirError:
        raise
    except Exception as exc:  # corrupt weights, shape mismatch: one line for the user
        raise ModelDirError(f"{path}: cannot load the weights ({exc})") from exc
    source_lang, target_lang = read_languages(path)
    try:
        found = load_quantization(path)
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{path}: unreadable quantization files ({exc})") from exc
    quant = QuantInfo(*found) if found else None
    return Checkpoint(path, config, model, source_lang, target_lang, vocab, quant)

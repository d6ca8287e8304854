"""Record eager log-probabilities in the reference of a bundle exported before they were recorded.

    python scripts/reference_log_probs.py sdk/models/de-en runs/recovered/student-de-en-ternary -o OUT

They come from the checkpoint the bundle was exported from, run eagerly, never from the bundle's own
graphs (which are what ``pocketmt verify`` checks against them): the checkpoint must reproduce the
eager greedy and beam tokens the bundle recorded, or nothing is written. The bundle is copied to a new
folder with the new ``reference.json`` and the manifest's entry for it; a signature is dropped (the
manifest changed), to be made again with ``pocketmt sign``. A low-bit bundle's per-backend records get
the eager model's log-probabilities of each backend's tokens (``eager_log_probs``); their own
export-time ones (``log_probs``) only an export can record.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pocketmt.export.eager import EagerGraphs
from pocketmt.export.errors import ExportError
from pocketmt.export.manifest_writer import file_entry
from pocketmt.export.pipeline import ExportOptions, load_step_graphs
from pocketmt.export.reference import rounded, write_reference
from pocketmt.runtime.beam_search import beam_search
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.manifest import MANIFEST_NAME
from pocketmt.runtime.step import CachedStepModel
from pocketmt.runtime.translator import TranslateOptions, search_config
from pocketmt.runtime.verify import KEYS, read_reference, token_log_probs

SIGNATURE_NAME = "manifest.sig"  # runtime/signing.py's; a changed manifest invalidates it


def add_log_probs(bundle_dir: str | Path, checkpoint: str | Path, out_dir: str | Path) -> list[str]:
    """Copy the bundle to ``out_dir`` with the eager log-probabilities of its recorded tokens added to
    its reference (and the manifest's entry for the reference updated). The checkpoint must reproduce
    the eager tokens the bundle recorded, or nothing is written. Returns what it did, line by line."""
    bundle = Bundle.open(bundle_dir)
    bundle.check_files()
    out = Path(out_dir)
    if out.exists():
        raise ExportError(f"{out}: already exists; give a new folder")
    manifest = bundle.manifest
    samples = read_reference(bundle)
    if all(
        set(KEYS) <= set(sample.get("log_probs", {}))
        and all(set(KEYS) <= set(r.get("eager_log_probs", {})) for r in sample.get("backends", {}).values())
        for sample in samples
    ):
        raise ExportError(f"{bundle.path}: its reference already records the eager log-probabilities")
    lim = manifest.limits
    fmt = str(manifest.raw.get("tensor_formats", {}).get("linear", "fp32"))
    weights = fmt if "quantization" not in manifest.raw and fmt in ("fp32", "fp16", "int8") else "fp32"
    options = ExportOptions(
        max_source_len=lim.max_source_len,
        max_target_len=lim.max_target_len,
        beam_size=lim.max_batch,
        weights=weights,
    )
    _, graphs = load_step_graphs(checkpoint, options)
    for name in ("d_model", "decoder_layers", "attention_heads", "head_dim", "vocab_size"):
        if int(manifest.model[name]) != int(getattr(graphs.dims, name)):
            raise ExportError(
                f"{checkpoint}: {name} is {getattr(graphs.dims, name)}, the bundle's is {manifest.model[name]}"
            )
    eager = CachedStepModel(EagerGraphs(graphs), manifest)
    done = []
    for i, sample in enumerate(samples):
        cfgs = {
            "greedy": search_config(
                manifest, TranslateOptions(beam_size=1, max_new_tokens=sample["max_new_tokens"])
            ),
            "beam": search_config(
                manifest,
                TranslateOptions(beam_size=sample["beam_size"], max_new_tokens=sample["max_new_tokens"]),
            ),
        }
        ids = sample["source_ids"]
        for key in KEYS:
            found = beam_search(eager, ids, cfgs[key]).tokens
            if found != sample[key]:
                raise ExportError(
                    f"{checkpoint}: its {key} tokens for reference sample {i} are not the ones the bundle "
                    "recorded for eager; not the checkpoint the bundle was exported from"
                )
        sample["log_probs"] = {
            key: rounded(token_log_probs(eager, ids, sample[key], cfgs[key])) for key in KEYS
        }
        for record in sample.get("backends", {}).values():
            record["eager_log_probs"] = {
                key: rounded(token_log_probs(eager, ids, record[key], cfgs[key])) for key in KEYS
            }
        done.append(
            f"sample {i}: eager log-probs recorded for {len(sample.get('backends', {})) + 1} token sets"
        )
    name = str(manifest.raw["reference"])
    shutil.copytree(bundle.path, out, symlinks=False)
    signature = out / SIGNATURE_NAME
    if signature.exists():
        signature.unlink()
        done.append("manifest.sig removed: the manifest changed, sign the new bundle again")
    write_reference(out / name, samples, made_with=f"eager ({Path(checkpoint).name}), log-probs added later")
    raw = json.loads((bundle.path / MANIFEST_NAME).read_text("utf-8"))
    raw["files"][name] = file_entry(out / name)
    (out / MANIFEST_NAME).write_text(json.dumps(raw, indent=2) + "\n")
    return done

"""The ``pocketmt`` command line.

Every user-facing failure is one line on stderr and exit code 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pocketmt.runtime.errors import InputError, PocketMTError

PROG = "pocketmt"


def _err(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr)


def _warn(msg: str) -> None:
    print(f"{PROG}: warning: {msg}", file=sys.stderr)


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


# ---------------------------------------------------------------- export
def cmd_export(args: argparse.Namespace) -> int:
    from pocketmt.export.pipeline import ExportOptions, export_bundle

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    options = ExportOptions(
        formats=formats,
        max_source_len=args.max_source_len,
        max_target_len=args.max_target_len,
        beam_size=args.beam_size,
        overwrite=args.overwrite,
        weights=args.weights,
        parity_src=args.parity_src,
        lowbit_compute=args.lowbit_compute,
    )
    progress = (lambda msg: print(f"{PROG}: {msg}", file=sys.stderr)) if not args.quiet else None
    report = export_bundle(args.model, args.output, options, progress=progress)
    print(f"bundle written: {report.bundle}")
    for name, size in report.files.items():
        print(f"  {name:<20} {_human_bytes(size):>10}")
    for backend, check in report.checks.items():
        print(
            f"  check {backend}: max |d log p| {check['max_abs_log_prob_diff']:.1e}, "
            f"reference tokens identical to eager"
        )
    secs = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    print(f"  time: {secs}")
    return 0


# ---------------------------------------------------------------- translate
def read_stdin_lines(stream: Any) -> list[str]:
    """All lines of a binary stream as text; invalid UTF-8 is an error naming the line."""
    lines = []
    for number, raw in enumerate(stream, start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(
                f"stdin line {number}: invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
            ) from exc
        lines.append(text.removesuffix("\n").removesuffix("\r"))
    return lines


def cmd_translate(args: argparse.Namespace) -> int:
    from pocketmt.models import default_bundle
    from pocketmt.runtime.translator import TranslateOptions, Translator

    bundle = args.bundle if args.bundle is not None else default_bundle(args.pair)
    texts = args.text if args.text else read_stdin_lines(sys.stdin.buffer)
    translator = Translator(bundle, backend=args.backend)
    options = TranslateOptions(beam_size=args.beam, max_new_tokens=args.max_new_tokens)
    translator.search_config(options)  # reject bad options before any work
    glossary = None
    if args.glossary:
        from pocketmt.runtime.glossary import load_glossary

        model = translator.manifest.model
        glossary = load_glossary(args.glossary, model["source_lang"], model["target_lang"], args.on_conflict)
        for warning in glossary.warnings:
            _warn(warning)
    for number, text in enumerate(texts, start=1):
        result = translator.translate_one(text, options, glossary)
        for warning in result.warnings:
            _warn(f"input {number}: {warning}")
        if result.constraints_dropped:
            _warn(f"input {number}: the glossary terms could not all be produced; translated without them")
        if args.json:
            print(
                json.dumps(
                    {
                        "source": result.source,
                        "text": result.text,
                        "token_ids": result.token_ids,
                        "score": result.score,
                        "finished": result.finished,
                        "segments": result.segments,
                        "timings_ms": {
                            "tokenize": result.timings.tokenize_ms,
                            "encode": result.timings.encode_ms,
                            "decode": result.timings.decode_ms,
                            "total": result.timings.total_ms,
                        },
                        "steps": result.timings.steps,
                        "terms": [
                            {"source": t.source, "required": list(t.required), "produced": t.produced}
                            for t in result.terms
                        ],
                        "constraints_dropped": result.constraints_dropped,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            print(result.text)
        sys.stdout.flush()
    return 0


# ---------------------------------------------------------------- train
def _train_config(args: argparse.Namespace) -> Any:
    """Settings from ``--config`` (JSON), overridden by the flags given."""
    from pocketmt.export.training.trainer import TrainConfig

    overrides = {}
    if args.config:
        try:
            overrides = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{args.config}: not a readable JSON config ({exc})") from exc
    fields = set(TrainConfig.__dataclass_fields__)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise InputError(f"{args.config}: unknown settings {', '.join(unknown)}")
    given = {k: v for k, v in vars(args).items() if k in fields and v is not None}
    return TrainConfig(**{**overrides, **given})


def _report_training(out: str, progress: dict[str, Any]) -> None:
    print(
        f"model written: {out} (best valid BLEU {progress['best_bleu']:.2f} at epoch {progress['best_epoch']}, "
        f"{progress['step']} steps, {progress['seconds'] / 60:.1f} min of training)"
    )


def cmd_train(args: argparse.Namespace) -> int:
    from pocketmt.export.training.trainer import train_model

    cfg = _train_config(args)
    _report_training(cfg.out, train_model(cfg))
    return 0


def cmd_distill(args: argparse.Namespace) -> int:
    from pocketmt.export.training.distill import DistillConfig, distill

    for teacher in args.teacher:
        if not (Path(teacher) / "config.json").is_file():
            raise InputError(f"teacher folder is not a model checkpoint: {teacher}")
    cfg = DistillConfig(
        teachers=tuple(args.teacher),
        train=_train_config(args),
        beam=args.beam,
        mix_original=args.mix_original,
    )
    _report_training(cfg.train.out, distill(cfg))
    return 0


# ---------------------------------------------------------------- compression
def _policy(args: argparse.Namespace) -> Any:
    from pocketmt.export.compression.schemes import POLICIES, QuantPolicy

    if args.policy:
        try:
            return QuantPolicy.from_json(json.loads(Path(args.policy).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError, ValueError) as exc:
            raise InputError(f"--policy {args.policy}: {exc}") from exc
    return POLICIES[args.scheme]


def _require_finetune_data(args: argparse.Namespace, why: str) -> None:
    missing = [f for f in ("src", "tgt", "valid_src", "valid_tgt") if not getattr(args, f)]
    if missing:
        raise InputError(
            f"{why}: pass --src, --tgt, --valid-src and --valid-tgt "
            f"(missing {', '.join('--' + m.replace('_', '-') for m in missing)})"
        )


def cmd_quantize(args: argparse.Namespace) -> int:
    from pocketmt.export.training.quantize_checkpoint import needs_training, quantize_checkpoint
    from pocketmt.export.training.trainer import FineTuneOptions

    if not (Path(args.model) / "config.json").is_file():
        raise InputError(f"not a model checkpoint folder: {args.model}")
    out = Path(args.output)
    if out.exists() and (out / "quantization.json").is_file() and not args.overwrite:
        raise InputError(f"{out}: already holds a quantized model (pass --overwrite to replace it)")
    policy = _policy(args)
    qat = None
    if needs_training(policy):
        _require_finetune_data(args, "ternary weights are trained")
        qat = FineTuneOptions(
            src=args.src,
            tgt=args.tgt,
            valid_src=args.valid_src,
            valid_tgt=args.valid_tgt,
            max_epochs=args.epochs,
            lr=args.lr,
            batch_tokens=args.batch_tokens,
            precision=args.precision,
        )
    result = quantize_checkpoint(
        args.model, out, policy, qat, say=lambda m: print(f"{PROG}: {m}", file=sys.stderr)
    )
    print(f"quantized model written: {out} ({policy.name}, {result['tensors']} tensors, {result['method']})")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    from pocketmt.export.training.prune import PruneTarget, prune_checkpoint, recovery_options
    from pocketmt.io.corpus import read_parallel

    if not (Path(args.model) / "config.json").is_file():
        raise InputError(f"not a model checkpoint folder: {args.model}")
    try:
        target = PruneTarget.parse(args.target)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    src, tgt = read_parallel(args.calib_src, args.calib_tgt)
    calib = list(zip(src, tgt, strict=True))[: args.calib_size]
    recovery = None
    if args.src:
        _require_finetune_data(args, "a recovery fine-tune needs its data")
        recovery = recovery_options(
            args.src, args.tgt, args.valid_src, args.valid_tgt, max_epochs=args.epochs
        )
    try:
        report = prune_checkpoint(
            args.model,
            args.output,
            target,
            calib,
            recovery,
            say=lambda m: print(f"{PROG}: {m}", file=sys.stderr),
        )
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    print(
        f"pruned model written: {args.output} ({report['parameters_before'] / 1e6:.2f}M -> "
        f"{report['parameters_after'] / 1e6:.2f}M parameters)"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from pocketmt.io.corpus import read_lines
    from pocketmt.report import markdown, run_report

    src, ref = read_lines(args.src), read_lines(args.ref)
    if args.limit:
        src, ref = src[: args.limit], ref[: args.limit]
    rows = run_report(args.bundle, args.backend, src, ref, args.beam, Path(args.output))
    print(markdown(rows, args.beam, "see report.json"), end="")
    print(f"written: {Path(args.output) / 'report.md'}, report.json, report.png")
    return 0


# ---------------------------------------------------------------- eval
def cmd_eval(args: argparse.Namespace) -> int:
    from pocketmt.evaluate import evaluate, open_ensemble, open_translator
    from pocketmt.io.corpus import read_lines
    from pocketmt.runtime.translator import TranslateOptions

    sources, references = read_lines(args.src), read_lines(args.ref)
    if len(args.bundle) > 1:
        translator = open_ensemble(args.bundle)
    else:
        translator = open_translator(args.bundle[0], args.backend)
    terms = None
    if args.terms:
        from pocketmt.evaluate import read_terms

        model = translator.manifest.model
        terms = read_terms(args.terms, len(sources), model["source_lang"], model["target_lang"])
    result = evaluate(
        translator,
        sources,
        references,
        TranslateOptions(beam_size=args.beam),
        terms,
        enforce=not args.no_constraints,
    )
    if args.output:
        Path(args.output).write_text("\n".join(result.hypotheses) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps({"backend": translator.backend, **result.as_json()}))
    else:
        print(
            f"BLEU {result.bleu:.2f}  chrF {result.chrf:.2f}  {result.sentences} sentences in "
            f"{result.seconds:.1f} s ({result.sentences_per_second:.1f}/s, {translator.backend})"
        )
        if result.term_success is not None:
            print(
                f"  term success {result.term_success:.4f} ({'not ' if args.no_constraints else ''}enforced)"
            )
        print(f"  {result.signature_bleu}")
        print(f"  {result.signature_chrf}")
    return 0


# ---------------------------------------------------------------- info
def describe(manifest: Any, path: str) -> list[str]:
    raw = manifest.raw
    m = raw["model"]
    lines = [
        f"Bundle {path} (schema {raw['schema_version']})",
        f"  Model: {m['architecture']} {m['source_lang']}->{m['target_lang']}, "
        f"{m['encoder_layers']} encoder + {m['decoder_layers']} decoder layers, d_model {m['d_model']}, "
        f"{m['attention_heads']} heads, FFN {m['ffn_dim']}, vocabulary {m['vocab_size']}, "
        f"{m['parameters'] / 1e6:.2f}M parameters",
        "  Tensor formats: " + ", ".join(f"{k} {v}" for k, v in raw["tensor_formats"].items()),
        f"  Limits: source up to {manifest.limits.max_source_len} tokens, target up to "
        f"{manifest.limits.max_target_len} tokens, batch (beams) up to {manifest.limits.max_batch}",
        f"  Decoding: default beam {manifest.decoding.default_beam}, length penalty "
        f"{manifest.decoding.length_penalty}, forced EOS at the length limit "
        f"{'yes' if manifest.decoding.forced_eos else 'no'}, never generates ids {list(manifest.decoding.banned_ids)}",
        f"  Special ids: pad {manifest.tokens.pad_id}, eos {manifest.tokens.eos_id}, unk {manifest.tokens.unk_id}, "
        f"decoder start {manifest.tokens.decoder_start_id}",
    ]
    for backend, graph in raw["graphs"].items():
        if backend == "executorch":
            lines.append(
                f"  Backend executorch: {graph['file']} ({graph.get('delegate', 'portable')}), "
                f"methods {graph['encode']} and {graph['decode_step']}"
            )
            if "weights" in graph:
                spec, stored = graph["weights"], graph.get("weight_bytes", {})
                lines.append(
                    f"    weights packed in {spec['file']}: "
                    + ", ".join(f"{k} {_human_bytes(v)}" for k, v in stored.items() if v)
                    + f"; decoded once at load to {_human_bytes(spec['ptd_bytes'])} of fp32 (cached)"
                )
        else:
            lines.append(
                f"  Backend onnx: {graph['encode']} and {graph['decode_step']} "
                f"(opset {graph.get('opset', '?')})"
            )
            stored = graph.get("weight_bytes")
            if stored:
                lines.append(
                    "    weights stored: "
                    + ", ".join(f"{k} {_human_bytes(v)}" for k, v in stored.items() if v)
                )
    lines.extend(_components(manifest))
    lines.append("  Files:")
    total = 0
    for name, entry in raw["files"].items():
        total += entry["bytes"]
        lines.append(f"    {name:<20} {_human_bytes(entry['bytes']):>10}  sha256 {entry['sha256'][:16]}")
    lines.append(f"    {'(total)':<20} {_human_bytes(total):>10}")
    for backend, check in raw.get("export_check", {}).get("backends", {}).items():
        lines.append(
            f"  Export check {backend}: max |d log p| vs eager {check['max_abs_log_prob_diff']:.1e}, "
            f"{check['reference_token_mismatches']} reference mismatches"
        )
    prod = raw["producer"]
    lines.append(
        "  Made by: "
        + ", ".join(f"{k} {v}" for k, v in prod.items() if k != "created")
        + f"; created {prod.get('created', '?')}"
    )
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    from pocketmt.runtime.bundle import Bundle

    bundle = Bundle.open(args.bundle)
    if args.json:
        print(json.dumps(bundle.manifest.raw, indent=2))
    else:
        print("\n".join(describe(bundle.manifest, args.bundle)))
    return 0


def _components(manifest: Any) -> list[str]:
    """Bytes a phone downloads per backend, split into model, tokenizer and manifest, and the bits
    stored per linear weight."""
    from pocketmt.report import linear_bits

    raw = manifest.raw
    tokenizer = set(manifest.tokenizer_files())
    lines = []
    for backend in manifest.backends:
        names = manifest.files_for_backend(backend)
        model = sum(raw["files"][n]["bytes"] for n in names if n not in tokenizer)
        tok = sum(raw["files"][n]["bytes"] for n in tokenizer)
        lines.append(
            f"  Download for {backend}: model {_human_bytes(model)} + tokenizer {_human_bytes(tok)} "
            f"= {_human_bytes(model + tok)} (plus manifest.json); linear layers stored at "
            f"{linear_bits(raw, backend):.2f} bits per weight"
        )
    quant = raw.get("quantization")
    if quant:
        kinds: dict[str, int] = {}
        for t in quant["tensors"].values():
            kinds[t["kind"]] = kinds.get(t["kind"], 0) + 1
        lines.append(
            f"  Quantization: policy {quant['policy']['name']} ("
            + ", ".join(f"{n} {k} tensors" for k, n in sorted(kinds.items()))
            + f"), made by {quant.get('made_by', {}).get('method', '?')}"
        )
    return lines


# ---------------------------------------------------------------- verify
def cmd_verify(args: argparse.Namespace) -> int:
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.translator import Translator
    from pocketmt.runtime.verify import read_reference, replay

    bundle = Bundle.open(args.bundle)
    bundle.check_files()
    print(f"integrity: {len(bundle.manifest.files)} files match their sha256")
    samples = read_reference(bundle)
    backends = [args.backend] if args.backend else bundle.manifest.backends
    failed = False
    for backend in backends:
        translator = Translator(bundle, bundle.resolve_backend(backend), check_integrity=False)
        result = replay(translator, samples)
        if result.ok:
            ties = (
                f" except {len(result.ties)} near-tie(s) this CPU breaks the other way: {result.ties[0]}"
                if result.ties
                else ""
            )
            print(f"{backend}: {result.samples} reference samples replayed, tokens identical{ties}")
        else:
            failed = True
            print(f"{backend}: FAILED, {len(result.mismatches)} mismatches: {result.mismatches[0]}")
    return 1 if failed else 0


# ---------------------------------------------------------------- main
def _add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--src", required=True, help="training source text (plain or gzip)")
    p.add_argument("--tgt", required=True, help="training target text, aligned")
    p.add_argument("--valid-src", dest="valid_src", required=True)
    p.add_argument("--valid-tgt", dest="valid_tgt", required=True)
    p.add_argument(
        "-o", "--output", dest="out", required=True, help="model folder (rerun the command to resume)"
    )
    p.add_argument("--arch", default=None, help="tiny, student, base or teacher (default base)")
    p.add_argument("--config", default=None, help="JSON file of training settings; flags override it")
    p.add_argument("--max-epochs", dest="max_epochs", type=int, default=None)
    p.add_argument("--max-steps", dest="max_steps", type=int, default=None)
    p.add_argument("--batch-tokens", dest="batch_tokens", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument(
        "--precision", choices=["fp32", "bf16"], default=None, help="training arithmetic (default fp32)"
    )
    p.add_argument("--source-lang", dest="source_lang", default=None)
    p.add_argument("--target-lang", dest="target_lang", default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Export translation models to phone bundles and run them as the phone will."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("export", help="export a Marian checkpoint folder to a bundle")
    p.add_argument("model", help="Hugging Face Marian checkpoint folder (or hub id where a hub is reachable)")
    p.add_argument("-o", "--output", required=True, help="bundle folder to write")
    p.add_argument("--format", default="pte,onnx", help="comma-separated: pte, onnx (default: both)")
    p.add_argument("--max-source-len", type=int, default=128, help="source tokens per input (default 128)")
    p.add_argument(
        "--max-target-len", type=int, default=128, help="target tokens, the KV-cache size (default 128)"
    )
    p.add_argument("--beam-size", type=int, default=4, help="default beam and largest batch (default 4)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing bundle folder")
    p.add_argument(
        "--weights",
        choices=["fp32", "fp16", "int8"],
        default="fp32",
        help="stored weights: fp32, fp16, or int8 per channel (weight-only, computed in fp32; default fp32)",
    )
    p.add_argument(
        "--parity-src",
        dest="parity_src",
        help="quantized checkpoints: sentences (first 200) whose greedy tokens must match eager on 95%%",
    )
    p.add_argument(
        "--lowbit-compute",
        dest="lowbit_compute",
        choices=["int8", "fp32"],
        default="int8",
        help="int4/ternary linears: int8 activations (fast kernels, default) or fp32 (closest to eager)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress messages")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("translate", help="translate TEXT arguments, or stdin line by line")
    p.add_argument("text", nargs="*", metavar="TEXT")
    p.add_argument("--bundle", help="bundle folder (default: the built-in model of --pair)")
    p.add_argument(
        "--pair", default="en-de", help="built-in language pair used without --bundle (default en-de)"
    )
    p.add_argument("--beam", type=int, default=None, help="beam size (1 = greedy; default: the bundle's)")
    p.add_argument("--backend", choices=["executorch", "onnx"], default=None)
    p.add_argument("--max-new-tokens", type=int, default=None)
    p.add_argument("--json", action="store_true", help="one JSON object per input with ids, score, timings")
    p.add_argument("--glossary", help="terms the translation must use: .tsv, .csv, .tbx or WMT .json/.jsonl")
    p.add_argument(
        "--on-conflict",
        dest="on_conflict",
        choices=["error", "first", "last"],
        default="error",
        help="one source term with different targets: fail (default) or keep the first or last",
    )
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("train", help="train a Marian-architecture model (and its tokenizer) on parallel text")
    _add_train_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "distill", help="sequence-level distillation: train a student on a teacher's translations"
    )
    p.add_argument(
        "--teacher",
        required=True,
        action="append",
        help="teacher model folder (Hugging Face Marian checkpoint); repeat it for an ensemble",
    )
    p.add_argument("--beam", type=int, default=4, help="teacher beam size (default 4)")
    p.add_argument("--mix-original", action="store_true", help="train on the original pairs as well")
    _add_train_args(p)
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser(
        "quantize", help="quantize a checkpoint: int8, int4 (post-training) or ternary (trained)"
    )
    p.add_argument("model", help="Marian checkpoint folder")
    p.add_argument("-o", "--output", required=True, help="quantized checkpoint folder to write")
    p.add_argument("--scheme", choices=["int8", "int4", "ternary"], default="int8")
    p.add_argument("--policy", help="JSON policy: per-layer schemes by name pattern (overrides --scheme)")
    p.add_argument("--src", help="fine-tuning source text (ternary)")
    p.add_argument("--tgt", help="fine-tuning target text (ternary)")
    p.add_argument("--valid-src", dest="valid_src")
    p.add_argument("--valid-tgt", dest="valid_tgt")
    p.add_argument("--epochs", type=int, default=4, help="quantization-aware epochs (ternary; default 4)")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--batch-tokens", dest="batch_tokens", type=int, default=2048)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser(
        "prune", help="structured pruning (FFN neurons, whole layers) with a recovery fine-tune"
    )
    p.add_argument("model", help="Marian checkpoint folder")
    p.add_argument("-o", "--output", required=True, help="pruned checkpoint folder")
    p.add_argument(
        "--target", required=True, help="e.g. ffn=0.75,decoder_layers=1 (FFN fraction kept, layers dropped)"
    )
    p.add_argument("--calib-src", dest="calib_src", required=True, help="calibration source text")
    p.add_argument("--calib-tgt", dest="calib_tgt", required=True, help="calibration target text")
    p.add_argument("--calib-size", dest="calib_size", type=int, default=256)
    p.add_argument("--src", help="recovery fine-tune source text (omit to skip the fine-tune)")
    p.add_argument("--tgt")
    p.add_argument("--valid-src", dest="valid_src")
    p.add_argument("--valid-tgt", dest="valid_tgt")
    p.add_argument("--epochs", type=int, default=2, help="recovery epochs (default 2)")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("report", help="compare bundles: BLEU, chrF, size, bits per weight, latency, memory")
    p.add_argument("--bundle", action="append", required=True, help="bundle folder (repeat)")
    p.add_argument("--src", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--backend", choices=["executorch", "onnx"], default=None)
    p.add_argument("--limit", type=int, default=0, help="only the first N sentences")
    p.add_argument("-o", "--output", required=True, help="folder for report.md, report.json, report.png")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("eval", help="sacreBLEU and chrF of a bundle or checkpoint folder on a test set")
    p.add_argument(
        "--bundle",
        required=True,
        action="append",
        help="bundle folder, or a Hugging Face model folder (run eagerly); "
        "repeat it with model folders to score their ensemble",
    )
    p.add_argument("--src", required=True, help="source text, one sentence per line (plain or gzip)")
    p.add_argument("--ref", required=True, help="reference translations, aligned with --src")
    p.add_argument("--beam", type=int, default=None, help="beam size (default: the bundle's)")
    p.add_argument("--backend", choices=["executorch", "onnx"], default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--output", help="also write the translations to this file")
    p.add_argument(
        "--terms", help="JSONL, one list of WMT-style term pairs per --src line; adds term_success"
    )
    p.add_argument(
        "--no-constraints",
        dest="no_constraints",
        action="store_true",
        help="measure term_success without enforcing the terms (the baseline)",
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("info", help="describe a bundle")
    p.add_argument("bundle")
    p.add_argument("--json", action="store_true", help="print the manifest itself")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("verify", help="check a bundle's files and replay its reference translations")
    p.add_argument("bundle")
    p.add_argument("--backend", choices=["executorch", "onnx"], default=None)
    p.set_defaults(func=cmd_verify)
    return parser


# Libraries that narrate on import (torchao's optional CUDA kernels, torch's pytree notices); the CLI's
# stderr is kept for pocketmt's own one-line messages.
_NOISY_LOGGERS = ("torchao", "torch.utils._pytree", "torch.onnx", "torch._export", "executorch")


def main(argv: Sequence[str] | None = None) -> int:
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # libraries' deprecation notices about their own internals (torch's pytree during export)
    warnings.filterwarnings("ignore", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except PocketMTError as exc:
        if args.debug:
            traceback.print_exc()
        _err(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if args.debug:
            raise
        _err(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())

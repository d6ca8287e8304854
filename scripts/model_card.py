"""Write a model card (README.md) for a released checkpoint from what its training run recorded.

    python scripts/model_card.py RUN_DIR models/NAME --title "..." --commands FILE \
        [--table benchmarks/results/models-en-de.json] [--note "..."]

Everything in the card comes from files: the run's settings and validation log, the checkpoint's
config, the commands file (the exact commands that produced the model) and the measured table of
``benchmarks/model_table.py``. Nothing is typed in by hand except the title and notes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pocketmt.export.training.pipeline.card import cpu_name

DATA_TERMS = (
    "Trained on Multi30k (29,000 English image descriptions with German, French and Czech "
    "translations; Elliott et al. 2016), read from `../shared/data/multi30k/`; the text is not in "
    "this repository. Multi30k is distributed for non-commercial research and education, and so is "
    "this model. Early stopping and checkpoint choice used `val` only; `test_2016_flickr` was used "
    "for the scores below and nothing else."
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("model_dir")
    parser.add_argument("--title", required=True)
    parser.add_argument("--commands", required=True, help="text file with the exact commands")
    parser.add_argument("--table", action="append", default=[], help="model_table.py JSON (repeatable)")
    parser.add_argument("--note", action="append", default=[])
    args = parser.parse_args()

    run, model = Path(args.run_dir), Path(args.model_dir)
    settings = json.loads((run / ".train" / "settings.json").read_text())
    log = [json.loads(line) for line in (run / ".train" / "log.jsonl").read_text().splitlines() if line]
    config = json.loads((model / "config.json").read_text())
    tok = json.loads((model / "tokenizer_config.json").read_text())
    train, arch = settings["train"], settings["arch"]
    # settings the trainer scaled to the corpus or chose for the hardware ("auto"), marked as such
    auto = set(train.get("resolved_automatically", []))
    shown = {k: f"{v} (auto)" if k in auto else v for k, v in train.items()}
    epochs = [r for r in log if isinstance(r.get("epoch"), int)]
    best = max(epochs, key=lambda r: r["valid_bleu"])
    minutes = max(r.get("train_seconds", 0.0) for r in log) / 60

    lines = [
        f"# {args.title}",
        "",
        f"{tok.get('source_lang')} → {tok.get('target_lang')}, a demo model for one domain: short "
        "descriptions of everyday scenes. It is not a general-purpose translator; for real use, "
        "export an OPUS-MT checkpoint instead (see the top-level README).",
        "",
        "## Data and terms",
        "",
        DATA_TERMS,
        "",
        "## Model",
        "",
        f"- Marian architecture (Hugging Face `MarianMTModel`), d_model {config['d_model']}, "
        f"{config['encoder_layers']} encoder + {config['decoder_layers']} decoder layers, "
        f"{config['encoder_attention_heads']} heads, FFN {config['encoder_ffn_dim']}, "
        f"joint SentencePiece vocabulary of {config['vocab_size']} ids (byte fallback), tied embeddings.",
        "- Stored as fp16 safetensors; `MarianMTModel.from_pretrained` and `MarianTokenizer` load the "
        "folder unchanged, and CTranslate2's transformers converter accepts it.",
        "",
        "## Training",
        "",
        f"- Preset `{train['arch']}` ({json.dumps(arch)}), {shown['batch_tokens']}-token batches, lr "
        f"{shown['lr']} with {shown['warmup_steps']} warm-up steps, label smoothing {train['label_smoothing']}, "
        f"{shown['precision']} arithmetic, seed {train['seed']}, early stopping patience {train['patience']}, "
        f"average of the last {train['average_last']} epochs kept when it validates better.",
        f"- {len(epochs)} epochs ({epochs[-1]['step']} steps), {minutes:.0f} min of training on "
        f"{cpu_name()} (2 cores; some epochs shared the cores with other runs).",
        f"- Validation (greedy, sacreBLEU): best epoch {best['epoch']} at {best['valid_bleu']} BLEU; "
        + ", ".join(f"ep{r['epoch']} {r['valid_bleu']}" for r in epochs),
    ]
    final = [r for r in log if not isinstance(r.get("epoch"), int)]
    if final:
        lines.append(f"- Final: {json.dumps(final[-1])}")
    lines += ["", "## Commands", "", "```bash", Path(args.commands).read_text().strip(), "```", ""]
    for table_path in args.table:
        table = json.loads(Path(table_path).read_text())
        lines += [
            f"## Scores ({Path(table_path).name}: test_2016_flickr, beam {table['beam']}, "
            f"{table['backend']} bundles, {table.get('machine', '')})",
            "",
            "| model | weights | BLEU | chrF | parameters | bundle | median ms/sentence |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in table["rows"]:
            lines.append(
                f"| {r['model']} | {r.get('weights', 'fp32')} | {r['bleu']} | {r['chrf']} | "
                f"{r['parameters'] / 1e6:.2f}M | {r['bundle_bytes'] / 1e6:.1f} MB | {r['median_ms']} |"
            )
        lines.append("")
    if args.note:
        lines += ["## Notes", ""] + [f"- {n}" for n in args.note] + [""]
    (model / "README.md").write_text("\n".join(lines))
    print(f"wrote {model / 'README.md'}")


if __name__ == "__main__":
    main()

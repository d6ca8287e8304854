"""The batched (ensemble) beam search behind ``pocketmt distill``, against the runtime's search."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pocketmt.export.pipeline import eager_translator
from pocketmt.export.training.ensemble_search import EnsembleStepModel, search_batch
from pocketmt.runtime.beam_search import SearchConfig, beam_search


@pytest.fixture(scope="module")
def second_member(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with perturbed weights: same vocabulary, different predictions."""
    from transformers import MarianMTModel

    out = tmp_path_factory.mktemp("member") / "b"
    shutil.copytree(tiny_model_dir, out)
    model = MarianMTModel.from_pretrained(str(tiny_model_dir))
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05 * (p.std() if p.numel() > 1 else 1.0))
    model.save_pretrained(str(out))
    return out


def _config(tok, beam: int) -> SearchConfig:  # type: ignore[no-untyped-def]
    return SearchConfig(
        beam_size=beam, max_new_tokens=20, eos_id=tok.eos_id, start_id=tok.pad_id, banned_ids=(tok.pad_id,)
    )


@pytest.mark.parametrize("beam", [1, 3, 4])
def test_one_member_batched_search_is_the_runtime_search(
    tiny_model_dir: Path, sentences: list[str], beam: int
) -> None:
    from transformers import MarianMTModel

    tr = eager_translator(tiny_model_dir)
    tok = tr.tokenizer
    sources = [tok.encode(s) for s in sentences[:30]]
    cfg = _config(tok, beam)
    want = [beam_search(tr.model, ids, cfg) for ids in sources]
    got = search_batch([MarianMTModel.from_pretrained(str(tiny_model_dir)).eval()], sources, tok.pad_id, cfg)
    assert [h.tokens for h in got] == [h.tokens for h in want]
    assert [h.finished for h in got] == [h.finished for h in want]
    assert max(abs(a.score - b.score) for a, b in zip(got, want, strict=True)) < 1e-4


def test_ensemble_batched_search_is_the_runtime_search_over_the_ensemble_step(
    tiny_model_dir: Path, second_member: Path, sentences: list[str]
) -> None:
    from transformers import MarianMTModel

    a, b = eager_translator(tiny_model_dir), eager_translator(second_member)
    tok = a.tokenizer
    sources = [tok.encode(s) for s in sentences[:30]]
    cfg = _config(tok, 4)
    alone = [beam_search(b.model, ids, cfg).tokens for ids in sources]
    step = EnsembleStepModel([a.model, b.model])
    want = [beam_search(step, ids, cfg) for ids in sources]
    models = [MarianMTModel.from_pretrained(str(p)).eval() for p in (tiny_model_dir, second_member)]
    got = search_batch(models, sources, tok.pad_id, cfg)
    assert [h.tokens for h in got] == [h.tokens for h in want]
    # the second member does change the outcome: this is not one model searched twice
    assert [h.tokens for h in want] != alone


def test_eval_scores_an_ensemble_and_refuses_a_bundle_in_one(
    tiny_model_dir: Path, second_member: Path, tiny_bundle: Path, sentences: list[str], tmp_path: Path
) -> None:
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("\n".join(sentences[:8]) + "\n")
    ref.write_text("\n".join(sentences[:8]) + "\n")
    base = [sys.executable, "-m", "pocketmt", "eval", "--src", str(src), "--ref", str(ref), "--json"]
    ok = subprocess.run(
        [*base, "--bundle", str(tiny_model_dir), "--bundle", str(second_member)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert '"bleu"' in ok.stdout
    bad = subprocess.run(
        [*base, "--bundle", str(tiny_model_dir), "--bundle", str(tiny_bundle)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0
    assert "an ensemble takes Hugging Face checkpoint folders" in bad.stderr
    assert "Traceback" not in bad.stderr

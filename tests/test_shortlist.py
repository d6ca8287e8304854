"""The vocabulary shortlist (docs/decoding.md, section 12): built from parallel text at export, stored
in the bundle, checked when it loads, applied by every backend and by the constrained search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pocketmt.export.shortlist import build_shortlist
from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.shortlist import (
    SHORTLIST_FILE,
    Shortlist,
    ShortlistedBatchModel,
    ShortlistedModel,
    load_shortlist,
    write_shortlist,
)
from tests.conftest import BEAM, MAX_SOURCE_LEN, MAX_TARGET_LEN

NEG = -np.inf


def test_lists_rank_targets_by_co_occurrence_outside_the_frequent_set() -> None:
    # token 5 always comes with 7, half the time with 8; 9 is in every target (the frequent set)
    pairs = [([5, 1], [7, 9]), ([5], [7, 8, 9]), ([5, 2], [7, 9, 8]), ([5], [7, 9]), ([2], [8, 9])]
    top, offsets, targets, n = build_shortlist(pairs, vocab=12, frequent=1, per_token=2, never=[11])
    assert n == 5 and top.tolist() == [9]
    lists = {s: targets[offsets[s] : offsets[s + 1]].tolist() for s in range(12)}
    assert lists[5] == [7, 8]  # p(7|5) = 1, p(8|5) = 0.5; 9 is frequent, so never listed
    assert lists[2] == [7, 8]  # p(8|2) = 1, p(7|2) = 0.5
    assert lists[1] == [7]
    assert lists[3] == [] and lists[11] == []
    # per_token 1 keeps the best only
    _, offsets, targets, _ = build_shortlist(pairs, vocab=12, frequent=1, per_token=1)
    assert targets[offsets[5] : offsets[6]].tolist() == [7]
    assert targets[offsets[2] : offsets[3]].tolist() == [8]


def test_candidates_are_frequent_lists_source_and_always() -> None:
    # token 1 lists [2], token 2 lists [0, 3], the others nothing
    sl = Shortlist(
        np.asarray([9]), np.asarray([0, 0, 1, 3, 3, 3, 3, 3, 3, 3, 3]), np.asarray([2, 0, 3]), vocab=10
    )
    assert sl.candidates([1, 2], always=[0]).tolist() == [0, 1, 2, 3, 9]
    # a source token is a candidate itself (names and numbers are copied); ids outside the vocabulary are not
    assert sl.candidates([3, 12], always=[5]).tolist() == [3, 5, 9]


def _write(path: Path, **tensors: np.ndarray) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(path))


@pytest.mark.parametrize(
    "tensors, match",
    [
        ({"frequent": np.asarray([1], np.uint16), "offsets": np.zeros(5, np.int32)}, "exactly"),
        (
            {
                "frequent": np.asarray([1], np.uint16),
                "offsets": np.asarray([0, 2, 1, 2, 2], np.int32),
                "targets": np.asarray([1, 2], np.uint16),
            },
            "without decreasing",
        ),
        (
            {
                "frequent": np.asarray([1], np.uint16),
                "offsets": np.asarray([0, 1, 1, 1, 1], np.int32),
                "targets": np.asarray([4], np.uint16),
            },
            "outside the vocabulary",
        ),
        (
            {
                "frequent": np.asarray([1], np.uint16),
                "offsets": np.asarray([0, 1, 1], np.int32),
                "targets": np.asarray([2], np.uint16),
            },
            "over 5 entries",
        ),
        (
            {
                "frequent": np.asarray([0.5], np.float32),
                "offsets": np.asarray([0, 0, 0, 0, 0], np.int32),
                "targets": np.asarray([], np.uint16),
            },
            "integer",
        ),
    ],
)
def test_malformed_shortlists_are_refused(tmp_path: Path, tensors: dict[str, np.ndarray], match: str) -> None:
    path = tmp_path / SHORTLIST_FILE
    _write(path, **tensors)
    with pytest.raises(BundleError, match=match):
        load_shortlist(path, vocab=4)


def test_a_truncated_shortlist_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / SHORTLIST_FILE
    write_shortlist(path, np.asarray([1]), np.asarray([0, 1, 1, 1, 1]), np.asarray([2]))
    assert load_shortlist(path, vocab=4).targets.tolist() == [2]
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(BundleError, match="not a readable shortlist"):
        load_shortlist(path, vocab=4)


class _Fixed:
    """A step model whose log-probs depend only on the row's position in its sentence."""

    def __init__(self, vocab: int) -> None:
        rng = np.random.default_rng(0)
        self.table = np.log(rng.dirichlet(np.ones(vocab), size=8)).astype(np.float32)
        self.rows_per = 1

    def start(self, source_ids: list[int], rows: int) -> None:
        self.rows_per = rows

    def start_batch(self, sources: list[list[int]], rows: int, pad_id: int) -> None:
        self.rows_per = rows

    def select_sentences(self, sentences: list[int]) -> None:
        pass

    def step(self, tokens: list[int]) -> np.ndarray:
        return self.table[[i % self.rows_per for i in range(len(tokens))]]

    def reorder(self, parents: list[int]) -> None:
        pass


def test_steps_are_renormalized_over_each_sentences_own_candidates() -> None:
    vocab = 30
    sl = Shortlist(np.asarray([3, 4]), np.zeros(vocab + 1, np.int64), np.zeros(0, np.int64), vocab)
    single = ShortlistedModel(_Fixed(vocab), sl, eos_id=0)
    single.start([10, 11], rows=2)
    one = single.step([1, 1])
    allowed = [0, 3, 4, 10, 11]
    assert np.all(np.isneginf(np.delete(one, allowed, axis=1)))
    assert np.allclose(np.logaddexp.reduce(one[:, allowed], axis=1), 0.0, atol=1e-6)
    # in a batch with another sentence, its rows are the same: normalized over its own candidates
    batch = ShortlistedBatchModel(_Fixed(vocab), sl, eos_id=0)
    batch.start_batch([[20], [10, 11]], rows=2, pad_id=29)
    both = batch.step([1, 1, 1, 1])
    assert np.allclose(both[2:], one, atol=1e-6)
    assert np.all(np.isneginf(both[:2, 10])) and np.isfinite(both[:2, 20]).all()
    batch.select_sentences([1])
    assert np.allclose(batch.step([1, 1]), one, atol=1e-6)
    # the sentences left keep the union of their own candidates, no column of the one that went
    assert batch._union.tolist() == allowed and batch._member.tolist() == [[True] * len(allowed)]
    three = ShortlistedBatchModel(_Fixed(vocab), sl, eos_id=0)
    three.start_batch([[20], [10, 11], [20, 21]], rows=1, pad_id=29)
    three.select_sentences([0, 2])
    rebuilt = ShortlistedBatchModel(_Fixed(vocab), sl, eos_id=0)
    rebuilt.start_batch([[20], [20, 21]], rows=1, pad_id=29)
    assert np.array_equal(three._union, rebuilt._union) and np.array_equal(three._member, rebuilt._member)
    # ids a glossary requires are candidates of the next sentence started alone
    single.require([25])
    single.start([10], rows=1)
    assert np.isfinite(single.step([1])[0, 25])


@pytest.fixture(scope="module")
def shortlist_bundle(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory, sentences: list[str]
) -> Path:
    from pocketmt.export.pipeline import ExportOptions, export_bundle
    from pocketmt.export.random_model import synthetic_sentences

    root = tmp_path_factory.mktemp("shortlist")
    corpus = root / "train.txt"  # the copy task: each sentence is its own translation
    corpus.write_text("\n".join(synthetic_sentences(400, seed=5)) + "\n", "utf-8")
    out = root / "bundle"
    export_bundle(
        tiny_model_dir,
        out,
        ExportOptions(
            formats=("onnx",),
            max_source_len=MAX_SOURCE_LEN,
            max_target_len=MAX_TARGET_LEN,
            beam_size=BEAM,
            shortlist_src=str(corpus),
            shortlist_tgt=str(corpus),
            shortlist_frequent=8,
            shortlist_per_token=4,
        ),
    )
    return out


def test_export_writes_the_shortlist_and_its_step_graph(shortlist_bundle: Path) -> None:
    manifest = json.loads((shortlist_bundle / "manifest.json").read_text())
    assert manifest["shortlist"]["file"] == SHORTLIST_FILE and manifest["shortlist"]["sentences"] == 400
    assert SHORTLIST_FILE in manifest["files"]
    onnx = manifest["graphs"]["onnx"]
    assert onnx["decode_shortlist"] in manifest["files"]
    check = manifest["export_check"]["backends"]["onnx"]["shortlist_step"]
    assert check["graph"] and check["max_abs_log_prob_diff"] < 1e-3


def test_translations_use_only_candidates_and_the_graph_matches_the_host(
    shortlist_bundle: Path, sentences: list[str]
) -> None:
    from pocketmt.runtime.translator import TranslateOptions, Translator

    tr = Translator(shortlist_bundle, "onnx")
    assert tr.shortlist is not None and tr.graphs.has_shortlist_step  # type: ignore[attr-defined]
    out = tr.translate(sentences[:40], TranslateOptions(beam_size=BEAM), batch_size=1)
    for text, result in zip(sentences[:40], out, strict=True):
        allowed = set(
            tr.shortlist.candidates(tr.tokenizer.encode(text), (tr.manifest.tokens.eos_id,)).tolist()
        )
        assert set(result.token_ids) <= allowed
    # the host-side restriction (any backend without the subset graph) gives the same tokens
    host = Translator(shortlist_bundle, "onnx")
    host.graphs._shortlist = None  # type: ignore[attr-defined]
    for beam in (1, BEAM):
        opts = TranslateOptions(beam_size=beam)
        a = tr.translate(sentences[:40], opts, batch_size=1)
        b = host.translate(sentences[:40], opts, batch_size=1)
        assert [r.token_ids for r in a] == [r.token_ids for r in b]
        # and a batch gives what one sentence at a time gives
        c = tr.translate(sentences[:40], opts, batch_size=16)
        assert [r.token_ids for r in c] == [r.token_ids for r in a]


def test_shortlist_off_is_the_full_vocabulary(
    shortlist_bundle: Path, tiny_bundle: Path, sentences: list[str]
) -> None:
    from pocketmt.runtime.translator import TranslateOptions, Translator

    off = Translator(shortlist_bundle, "onnx", shortlist=False)
    assert off.shortlist is None
    full = Translator(tiny_bundle, "onnx")
    opts = TranslateOptions(beam_size=BEAM)
    assert [r.token_ids for r in off.translate(sentences[:20], opts)] == [
        r.token_ids for r in full.translate(sentences[:20], opts)
    ]


def test_a_glossary_target_outside_the_shortlist_is_still_placed(shortlist_bundle: Path) -> None:
    from pocketmt.runtime.glossary import Term
    from pocketmt.runtime.translator import TranslateOptions, Translator

    tr = Translator(shortlist_bundle, "onnx")
    assert tr.shortlist is not None
    text = "the house is red"
    allowed = set(tr.shortlist.candidates(tr.tokenizer.encode(text), (0,)).tolist())
    tok = tr.tokenizer
    # a word the vocabulary spells as one piece that the shortlist alone would hide
    target = next(
        p[1:]
        for p, i in sorted(tok.piece_to_id.items(), key=lambda item: item[1])
        if p.startswith("\u2581")
        and p[1:].isalpha()
        and len(p) > 3
        and i not in allowed
        and [tok.piece_to_id.get(q) for q in tok.target_pieces(p[1:])] == [i]
    )
    out = tr.translate_one(text, TranslateOptions(beam_size=BEAM), terms=[Term("house", (target,))])
    assert target in out.text and not out.constraints_dropped


def test_an_altered_shortlist_file_is_refused(shortlist_bundle: Path, tmp_path: Path) -> None:
    from pocketmt.runtime.translator import Translator

    bundle = tmp_path / "b"
    shutil.copytree(shortlist_bundle, bundle)
    data = bytearray((bundle / SHORTLIST_FILE).read_bytes())
    data[-1] ^= 1
    (bundle / SHORTLIST_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match=SHORTLIST_FILE):
        Translator(bundle, "onnx")


def test_the_search_on_the_candidates_columns_equals_it_on_the_whole_vocabulary(
    shortlist_bundle: Path, sentences: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``candidate_ids``: beam search reads only a sentence's candidate columns; every other id is
    ``-inf``, so the hypotheses and their scores are those of the search over all ids."""
    import importlib

    from pocketmt.runtime.translator import TranslateOptions, Translator

    modules = [importlib.import_module(f"pocketmt.runtime.{m}") for m in ("beam_search", "batch_search")]
    tr = Translator(shortlist_bundle, "onnx")
    opts = TranslateOptions(beam_size=BEAM)
    texts = sentences[:30]
    runs = []
    for whole in (False, True):
        if whole:
            for module in modules:
                monkeypatch.setattr(module, "candidate_columns", lambda model: lambda position: None)
        one = [(r.token_ids, r.score) for r in tr.translate(texts, opts, batch_size=1)]
        many = [(r.token_ids, r.score) for r in tr.translate(texts, opts, batch_size=8)]
        runs.append((one, many))
    assert runs[0] == runs[1]

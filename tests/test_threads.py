"""One ``Translator`` shared by several threads gives exactly the sequential results, on both backends.

Each call decodes on its own KV cache over the shared graphs (runtime/translator.py); ExecuTorch runs its
methods under a lock, ONNX Runtime sessions are run concurrently. Before that, threads shared one cache:
ONNX gave wrong translations without an error, ExecuTorch raised ``decoder cache is full``.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pocketmt.runtime import TranslateOptions, Translator

THREADS = 4
ROUNDS = 2  # each thread translates every sentence this many times, in its own order
SENTENCES = 16
BEAM4 = TranslateOptions(beam_size=4)


def _run(translator: Translator, texts: list[str], seed: int) -> list[tuple[int, tuple[list[int], str, int]]]:
    order = [i for _ in range(ROUNDS) for i in range(len(texts))]
    random.Random(seed).shuffle(order)
    out = []
    for i in order:
        r = translator.translate_one(texts[i], BEAM4)
        out.append((i, (r.token_ids, r.text, r.timings.steps)))
    return out


@pytest.mark.parametrize("backend", ["onnx", "executorch"])
def test_threads_sharing_a_translator_get_the_sequential_results(
    tiny_bundle: Path, sentences: list[str], backend: str
) -> None:
    translator = Translator(tiny_bundle, backend)
    texts = sentences[:SENTENCES]
    want = [translator.translate_one(t, BEAM4) for t in texts]
    expected = [(r.token_ids, r.text, r.timings.steps) for r in want]
    assert all(r.timings.steps > 0 for r in want)
    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(_run, translator, texts, seed) for seed in range(THREADS)]
        errors = [f.exception() for f in futures]
        assert errors == [None] * THREADS, errors
        got = [item for f in futures for item in f.result()]
    assert len(got) == THREADS * ROUNDS * SENTENCES
    wrong = [(texts[i], result[1], expected[i][1]) for i, result in got if result != expected[i]]
    print(f"\n{backend}: {len(got) - len(wrong)} of {len(got)} threaded beam-4 calls identical")
    # token ids, text and each call's own step count (timings are per call, not shared)
    assert not wrong, f"{len(wrong)} of {len(got)} threaded calls differ, e.g. {wrong[:2]}"


def test_search_ids_from_threads(tiny_bundle: Path, sentences: list[str]) -> None:
    translator = Translator(tiny_bundle, "onnx")
    ids = [translator.tokenizer.encode(s) for s in sentences[:SENTENCES]]
    want = [translator.search_ids(i, BEAM4).tokens for i in ids]
    with ThreadPoolExecutor(THREADS) as pool:
        got = list(pool.map(lambda i: translator.search_ids(i, BEAM4).tokens, ids * THREADS))
    assert got == want * THREADS


def test_executorch_runs_one_method_at_a_time() -> None:
    """ExecuTorch's loaded methods are not safe to run at once: the graphs serialise them (and the copy of
    their outputs, which live in the method's buffers until its next run)."""
    torch = pytest.importorskip("torch")
    import threading
    import time

    from pocketmt.runtime.backends.executorch_backend import ExecuTorchGraphs

    active, most = [0], [0]
    count = threading.Lock()

    def method(inputs: list[object]) -> list[object]:
        with count:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.002)  # releases the GIL: without the lock another thread's run would start here
        with count:
            active[0] -= 1
        return [torch.zeros(1), torch.zeros(1)]

    graphs = ExecuTorchGraphs.__new__(ExecuTorchGraphs)  # no program: the two methods are the fake
    graphs._torch, graphs._lock, graphs._encode, graphs._step = torch, threading.Lock(), method, method
    ids = np.zeros((1, 3), np.int64)
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(lambda _: graphs.encode(ids, ids), range(THREADS * 10)))
    assert most[0] == 1

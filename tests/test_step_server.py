"""The step server: the wire format, bit-identical log-probs, and one-line errors that keep it serving."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pocketmt.runtime.step_server import MAGIC, StepServer
from pocketmt.runtime.translator import Translator

BUNDLE = Path(__file__).resolve().parents[1] / "sdk" / "models" / "en-de"


def start(rows: int, ids: list[int]) -> bytes:
    return b"S" + struct.pack(f"<2i{len(ids)}i", rows, len(ids), *ids)


def step(tokens: list[int]) -> bytes:
    return b"D" + struct.pack(f"<{len(tokens) + 1}i", len(tokens), *tokens)


def reorder(parents: list[int]) -> bytes:
    return b"R" + struct.pack(f"<{len(parents) + 1}i", len(parents), *parents)


class Replies:
    """Reads the server's replies back from the bytes it wrote."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)

    def status(self) -> str:
        status = self.stream.read(1)[0]
        if status == 0:
            return "ok"
        (n,) = struct.unpack("<I", self.stream.read(4))
        return self.stream.read(n).decode("utf-8")

    def log_probs(self) -> np.ndarray:
        assert self.status() == "ok"
        rows, width = struct.unpack("<2i", self.stream.read(8))
        return np.frombuffer(self.stream.read(4 * rows * width), "<f4").reshape(rows, width)

    def rest(self) -> bytes:
        return self.stream.read()


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator(BUNDLE, "onnx")


def serve(translator: Translator, requests: bytes) -> Replies:
    m = translator.manifest
    server = StepServer(
        translator.model,
        int(m.model["vocab_size"]),
        (m.limits.max_source_len, m.limits.max_target_len, m.limits.max_batch),
    )
    out = io.BytesIO()
    server.serve(io.BytesIO(requests), out)
    return Replies(out.getvalue())


def test_log_probs_are_the_models_own_bit_for_bit(translator: Translator) -> None:
    src = translator.tokenizer.encode("A dog runs through the snow.")
    start_id = translator.manifest.tokens.decoder_start_id
    replies = serve(
        translator,
        start(2, src) + step([start_id, start_id]) + reorder([1, 0]) + step([5, 9]) + b"Q" + step([1, 1]),
    )
    assert replies.status() == "ok"
    first = replies.log_probs()
    assert replies.status() == "ok"
    second = replies.log_probs()
    assert replies.rest() == b""  # nothing after quit is read

    model = translator.model
    model.start(src, 2)
    np.testing.assert_array_equal(first, model.step([start_id, start_id]))
    model.reorder([1, 0])
    np.testing.assert_array_equal(second, model.step([5, 9]))


def test_bad_requests_get_one_line_errors_and_the_server_goes_on(translator: Translator) -> None:
    lim = translator.manifest.limits
    vocab = int(translator.manifest.model["vocab_size"])
    replies = serve(
        translator,
        step([1])  # before any start
        + start(lim.max_batch + 1, [5, 0])
        + start(1, [0] * (lim.max_source_len + 1))
        + start(1, [vocab, 0])
        + start(1, [5, 0])
        + step([1, 2])
        + reorder([3])
        + step([translator.manifest.tokens.decoder_start_id]),
    )
    errors = [replies.status() for _ in range(4)]
    assert errors == [
        "ValueError: step before start",
        f"ValueError: rows must be in 1..{lim.max_batch}, got {lim.max_batch + 1}",
        f"ValueError: source must have 1..{lim.max_source_len} ids, got {lim.max_source_len + 1}",
        f"ValueError: ids outside 0..{vocab - 1}: [{vocab}]",
    ]
    assert replies.status() == "ok"
    assert replies.status() == "ValueError: step with 2 rows after a start with 1"
    assert replies.status() == "ValueError: reorder parents must be in 0..0: [3]"
    assert replies.log_probs().shape == (1, vocab)


def run_server(bundle: Path, requests: bytes) -> tuple[int, bytes, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pocketmt.runtime.step_server", str(bundle), "--backend", "onnx"],
        input=requests,
        capture_output=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def test_the_process_shakes_hands_serves_and_quits() -> None:
    src = [5, 6, 0]
    code, out, _ = run_server(BUNDLE, start(1, src) + step([7999]) + b"Q")
    assert code == 0
    assert out[:5] == b"\0" + MAGIC
    version, vocab, max_src, max_tgt, batch = struct.unpack("<5i", out[5:25])
    assert (version, vocab, max_src, max_tgt, batch) == (1, 8000, 128, 128, 4)
    replies = Replies(out[25:])
    assert replies.status() == "ok"
    assert replies.log_probs().shape == (1, 8000)
    assert replies.rest() == b""


def test_an_unknown_request_ends_the_server_with_exit_2() -> None:
    code, out, _ = run_server(BUNDLE, b"X")
    assert code == 2
    assert Replies(out[25:]).status() == "unknown request b'X'"


def test_a_bundle_that_cannot_open_is_an_error_handshake(tmp_path: Path) -> None:
    code, out, _ = run_server(tmp_path / "missing", b"")
    assert code == 2
    message = Replies(out).status()
    assert message.startswith("bundle folder not found:") and "\n" not in message

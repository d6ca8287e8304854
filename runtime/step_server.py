"""Serve a bundle's ``StepModel`` (start / step / reorder) over stdin and stdout.

The Java engine (``android-demo/engine``) runs its own search, segmentation and tokenizer, and needs
log-probabilities that are bit-identical to the Python runtime's. On a phone it calls ExecuTorch; on
a desktop JVM it spawns this server, which opens ``Translator(bundle, backend)`` and answers the
engine's step calls with ``translator.model``, so both sides run the very same graphs.

    python -m pocketmt.runtime.step_server BUNDLE [--backend onnx|executorch]

Wire format (also in docs/bundle.md, "The step server"). Integers are int32 and floats float32,
little-endian. Every server message starts with one status byte: 0 = ok, 1 = error, followed for an
error by ``u32 n`` and ``n`` bytes of a one-line UTF-8 message (the server keeps serving after an
error; the caller should ``start`` again).

Handshake, sent once by the server before any request: status, then the magic ``b"PMTS"``, the
protocol version (1), ``vocab_size``, ``max_source_len``, ``max_target_len``, ``max_batch``. If the
bundle cannot be opened the handshake is an error message and the server exits with code 2.

Requests (one opcode byte, then its arguments) and their replies:

- ``S`` start: ``rows, n, ids[n]`` -> status.
- ``D`` step: ``rows, tokens[rows]`` -> status, ``rows, V, log_probs[rows * V]`` (row-major).
- ``R`` reorder: ``n, parents[n]`` -> status.
- ``Q`` quit (or end of input): the server exits with code 0 and writes nothing.

Stray prints of the libraries go to stderr: the protocol stream is a private copy of stdout.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np

from pocketmt.runtime.errors import PocketMTError
from pocketmt.runtime.step import StepModel

MAGIC = b"PMTS"
PROTOCOL_VERSION = 1
OK, ERROR = 0, 1
START, STEP, REORDER, QUIT = b"S", b"D", b"R", b"Q"
MAX_COUNT = 1 << 16  # far above any limit: a larger count means the stream is out of step


class ProtocolError(Exception):
    """The client sent something this protocol does not have; the stream cannot be trusted any more."""


def read_exact(stream: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError(f"stream ended after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_int(stream: BinaryIO) -> int:
    value: int = struct.unpack("<i", read_exact(stream, 4))[0]
    return value


def read_ints(stream: BinaryIO, n: int) -> list[int]:
    if not 0 <= n <= MAX_COUNT:
        raise ProtocolError(f"count {n} outside 0..{MAX_COUNT}")
    return [int(x) for x in np.frombuffer(read_exact(stream, 4 * n), dtype="<i4")]


def write_error(out: BinaryIO, message: str) -> None:
    data = " ".join(message.split()).encode("utf-8")  # one line, whatever the exception said
    out.write(struct.pack("<BI", ERROR, len(data)) + data)
    out.flush()


class StepServer:
    """Answers requests from ``inp`` on ``out`` with ``model``, checking each request against the limits."""

    def __init__(self, model: StepModel, vocab_size: int, limits: tuple[int, int, int]) -> None:
        self.model = model
        self.vocab_size = vocab_size
        self.max_source_len, self.max_target_len, self.max_batch = limits
        self.rows = 0  # rows of the current start; 0 before the first

    def handshake(self, out: BinaryIO) -> None:
        out.write(bytes([OK]) + MAGIC)
        out.write(
            struct.pack(
                "<5i",
                PROTOCOL_VERSION,
                self.vocab_size,
                self.max_source_len,
                self.max_target_len,
                self.max_batch,
            )
        )
        out.flush()

    def serve(self, inp: BinaryIO, out: BinaryIO) -> None:
        while True:
            op = inp.read(1)
            if not op or op == QUIT:
                return
            try:
                reply = self.handle(op, inp)
            except (ProtocolError, EOFError):
                raise
            except Exception as exc:  # a model failure answers this request, the server goes on
                write_error(out, f"{type(exc).__name__}: {exc}")
                continue
            out.write(bytes([OK]) + reply)
            out.flush()

    def handle(self, op: bytes, inp: BinaryIO) -> bytes:
        if op == START:
            rows, n = read_int(inp), read_int(inp)
            ids = read_ints(inp, n)
            self._check_rows(rows)
            if not 1 <= n <= self.max_source_len:
                raise ValueError(f"source must have 1..{self.max_source_len} ids, got {n}")
            self._check_ids(ids)
            self.rows = 0
            self.model.start(ids, rows)
            self.rows = rows
            return b""
        if op == STEP:
            rows = read_int(inp)
            tokens = read_ints(inp, rows)
            if self.rows == 0:
                raise ValueError("step before start")
            if rows != self.rows:
                raise ValueError(f"step with {rows} rows after a start with {self.rows}")
            self._check_ids(tokens)
            log_probs = np.ascontiguousarray(self.model.step(tokens), dtype="<f4")
            if log_probs.shape != (rows, self.vocab_size):
                raise ValueError(
                    f"model returned shape {log_probs.shape}, expected ({rows}, {self.vocab_size})"
                )
            return struct.pack("<2i", rows, self.vocab_size) + log_probs.tobytes()
        if op == REORDER:
            n = read_int(inp)
            parents = read_ints(inp, n)
            if n != self.rows:
                raise ValueError(f"reorder of {n} rows after a start with {self.rows}")
            if any(not 0 <= p < n for p in parents):
                raise ValueError(f"reorder parents must be in 0..{n - 1}: {parents}")
            self.model.reorder(parents)
            return b""
        raise ProtocolError(f"unknown request {op!r}")

    def _check_rows(self, rows: int) -> None:
        if not 1 <= rows <= self.max_batch:
            raise ValueError(f"rows must be in 1..{self.max_batch}, got {rows}")

    def _check_ids(self, ids: Sequence[int]) -> None:
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"ids outside 0..{self.vocab_size - 1}: {bad[:5]}")


def protocol_streams() -> tuple[BinaryIO, BinaryIO]:
    """stdin, and a private copy of stdout; fd 1 then points at stderr so library prints stay off the wire."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return sys.stdin.buffer, out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pocketmt.runtime.step_server", description=__doc__)
    parser.add_argument("bundle")
    parser.add_argument("--backend", choices=["onnx", "executorch"], default=None)
    args = parser.parse_args(argv)
    inp, out = protocol_streams()
    try:
        from pocketmt.runtime.translator import Translator

        translator = Translator(args.bundle, args.backend)
    except PocketMTError as exc:
        write_error(out, str(exc))
        return int(exc.exit_code)
    except Exception as exc:  # a broken install, an unloadable graph: still one line for the engine
        write_error(out, f"cannot open {args.bundle}: {type(exc).__name__}: {exc}")
        return 2
    m = translator.manifest
    server = StepServer(
        translator.model,
        int(m.model["vocab_size"]),
        (m.limits.max_source_len, m.limits.max_target_len, m.limits.max_batch),
    )
    server.handshake(out)
    try:
        server.serve(inp, out)
    except ProtocolError as exc:
        write_error(out, str(exc))
        return 2
    except EOFError:
        return 0  # the engine went away mid-request: nothing left to answer
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Serve a bundle's two raw graphs (encode, decode_step) over stdin/stdout, for app/src/test only.

The app's ModuleStep keeps the KV cache on the host and calls a program's methods with whole
tensors, as ExecuTorch's Module does on the phone. No ExecuTorch runtime runs on this JVM, so the
test drives the same contract through this server: the Python runtime's own graphs
(``pocketmt.runtime.translator.load_graphs``, ONNX here), with no cache and no search of its own.

    python graph_server.py BUNDLE [--backend onnx|executorch]

Little-endian. The server first writes b"PMTG". A request is ``u8 op`` ('X' run, 'Q' quit), then for
'X': ``u16 n, name[n]`` (encode or decode_step), ``u8 count`` and that many tensors. A tensor is
``u8 dtype`` (0 float32, 1 int64), ``u8 rank``, ``i64 shape[rank]``, then its data. The reply is
``u8 status`` (0 ok: ``u8 count`` and the output tensors; 1 error: ``u32 n``, a UTF-8 message).
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from typing import BinaryIO

import numpy as np

DTYPES = {0: np.dtype("<f4"), 1: np.dtype("<i8")}


def read_exact(stream: BinaryIO, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def read_tensor(stream: BinaryIO) -> np.ndarray:
    code, rank = struct.unpack("<BB", read_exact(stream, 2))
    shape = struct.unpack(f"<{rank}q", read_exact(stream, 8 * rank))
    dtype = DTYPES[code]
    count = int(np.prod(shape)) if rank else 1
    return np.frombuffer(read_exact(stream, count * dtype.itemsize), dtype=dtype).reshape(shape)


def write_tensor(out: BinaryIO, array: np.ndarray) -> None:
    if array.dtype == np.float32:
        code, data = 0, np.ascontiguousarray(array, dtype="<f4")
    else:
        code, data = 1, np.ascontiguousarray(array, dtype="<i8")
    out.write(struct.pack("<BB", code, data.ndim) + struct.pack(f"<{data.ndim}q", *data.shape))
    out.write(data.tobytes())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle")
    parser.add_argument("--backend", default="onnx")
    args = parser.parse_args()
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # library prints must not enter the stream
    from pocketmt.runtime.bundle import Bundle
    from pocketmt.runtime.translator import load_graphs

    bundle = Bundle.open(args.bundle)
    graphs = load_graphs(bundle, args.backend)
    out.write(b"PMTG")
    out.flush()
    stdin = sys.stdin.buffer
    while True:
        try:
            op = read_exact(stdin, 1)
        except EOFError:
            return 0
        if op == b"Q":
            return 0
        (n,) = struct.unpack("<H", read_exact(stdin, 2))
        name = read_exact(stdin, n).decode()
        (count,) = struct.unpack("<B", read_exact(stdin, 1))
        inputs = [read_tensor(stdin) for _ in range(count)]
        try:
            if name == "encode":
                outputs = graphs.encode(*inputs)
            elif name == "decode_step":
                outputs = graphs.decode_step(*inputs)
            else:
                raise ValueError(f"no method {name!r}")
        except Exception as e:  # the test reads the message; the server keeps serving
            message = f"{type(e).__name__}: {e}".encode()
            out.write(struct.pack("<BI", 1, len(message)) + message)
            out.flush()
            continue
        out.write(struct.pack("<BB", 0, len(outputs)))
        for array in outputs:
            write_tensor(out, np.asarray(array))
        out.flush()


if __name__ == "__main__":
    sys.exit(main())

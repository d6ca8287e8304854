"""ONNX Runtime backend: runs ``encoder.onnx`` and ``decoder_step.onnx`` on the CPU provider."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pocketmt.runtime.backends.onnx_signed_int8 import (
    has_integer_products,
    signed_graph,
    signed_weights_exact,
)
from pocketmt.runtime.errors import BundleError
from pocketmt.runtime.manifest import Manifest, OnnxSection, check_graph_shapes, onnx_shapes
from pocketmt.runtime.step import F32, I64

if TYPE_CHECKING:
    from pocketmt.runtime.bundle import Bundle

ENCODE_INPUTS = ("input_ids", "attention_mask")
STEP_INPUTS = ("input_ids", "position", "self_k", "self_v", "cross_k", "cross_v", "attention_mask")
GROWING_INPUTS = (
    "input_ids",
    "position",
    "past_k",
    "past_v",
    "parents",
    "cross_k",
    "cross_v",
    "attention_mask",
)
SHORTLIST_INPUTS = (*GROWING_INPUTS, "vocab_ids")


class OnnxGraphs:
    """The encoder and the decoder step in two ONNX Runtime sessions. ``InferenceSession.run`` may be
    called from several threads at once (ONNX Runtime guarantees it: each run has its own intermediate
    buffers, and the Python binding releases the GIL while it runs), so no lock is taken here; all
    per-sentence state (the KV cache) lives in the caller's step model. ``step_contract`` says which
    of ``decode_step`` (1) and ``decode_grow`` (2) the step graph answers (``docs/bundle.md``)."""

    def __init__(
        self,
        encoder_path: Path,
        step_path: Path,
        threads: int = 0,
        dequantize_at_load: bool = False,
        step_contract: int = 1,
        shortlist_path: Path | None = None,
        encode_one_sentence: bool = False,
        signed_int8: bool | None = None,
    ) -> None:
        """``signed_int8``: run the integer products on signed weights (``onnx_signed_int8``; the same
        outputs); None: where this CPU computes them exactly (a graph without integer products loads
        as stored, without the ``onnx`` package)."""
        import onnxruntime as ort

        self.step_contract = step_contract
        # how many integer products run on signed weights, per graph file (for reports and tests)
        self.signed_products: dict[str, int] = {}
        self.encode_one_sentence = encode_one_sentence
        # a failed run is reported as a BundleError; keep ONNX Runtime's own log line off stderr
        self._quiet = ort.RunOptions()
        self._quiet.log_severity_level = 4

        def options(folder: Path | None = None) -> Any:
            made = ort.SessionOptions()
            made.log_severity_level = 3
            if dequantize_at_load:
                # without QDQ fusion, ONNX Runtime constant-folds DequantizeLinear of stored weights once
                made.add_session_config_entry("session.disable_quant_qdq", "1")
            if threads:
                made.intra_op_num_threads = threads
            if folder is not None:  # a graph given as bytes: its external weights are in ``folder``
                made.add_session_config_entry(
                    "session.model_external_initializers_file_folder_path", str(folder)
                )
            return made

        def session(path: Path) -> Any:
            wanted = signed_int8 is not False and has_integer_products(path)
            rewritten = signed_graph(path) if wanted and (signed_int8 or signed_weights_exact()) else None
            if rewritten is None:
                return ort.InferenceSession(str(path), options(), providers=["CPUExecutionProvider"])
            model, self.signed_products[path.name] = rewritten
            return ort.InferenceSession(model, options(path.parent), providers=["CPUExecutionProvider"])

        try:
            self._encode: Any = session(encoder_path)
            self._step: Any = session(step_path)
            # contract 2 over a vocabulary subset, for bundles with a shortlist
            self._shortlist: Any = None if shortlist_path is None else session(shortlist_path)
        except Exception as exc:  # onnxruntime and onnx raise their own exception types
            raise BundleError(f"not a loadable ONNX model ({exc})") from exc
        self._grow_run = _direct_run(self._step)
        self._shortlist_run = None if self._shortlist is None else _direct_run(self._shortlist)

    def encode(self, input_ids: I64, attention_mask: I64) -> tuple[F32, F32]:
        if self.encode_one_sentence and len(input_ids) > 1:
            return self._encode_each(input_ids, attention_mask)
        k, v = self._encode.run(None, dict(zip(ENCODE_INPUTS, (input_ids, attention_mask), strict=True)))
        return k, v

    def _encode_each(self, input_ids: I64, attention_mask: I64) -> tuple[F32, F32]:
        """A batch encoded one sentence per call, without its padding, for an encoder whose activations
        are quantized with one scale per call (``encode_one_sentence``, docs/bundle.md): so a sentence's
        encoding does not depend on the others in its batch. Padded positions of the result are zero
        (masked in every step). Padding is on the right, as ``start_batch`` makes it."""
        ks: list[F32] = []
        vs: list[F32] = []
        width = input_ids.shape[1]
        for row, mask in zip(input_ids, attention_mask, strict=True):
            n = int(mask.sum())
            k, v = self._encode.run(
                None, dict(zip(ENCODE_INPUTS, (row[None, :n], mask[None, :n]), strict=True))
            )
            ks.append(k)
            vs.append(v)
        out_k = np.zeros((*ks[0].shape[:1], len(ks), *ks[0].shape[2:3], width, ks[0].shape[4]), np.float32)
        out_v = np.zeros_like(out_k)
        for j, (k, v) in enumerate(zip(ks, vs, strict=True)):
            out_k[:, j, :, : k.shape[3]] = k[:, 0]
            out_v[:, j, :, : v.shape[3]] = v[:, 0]
        return out_k, out_v

    def decode_step(
        self,
        input_ids: I64,
        position: I64,
        self_k: F32,
        self_v: F32,
        cross_k: F32,
        cross_v: F32,
        attention_mask: I64,
    ) -> tuple[F32, F32, F32]:
        feeds = dict(
            zip(
                STEP_INPUTS,
                (input_ids, position, self_k, self_v, cross_k, cross_v, attention_mask),
                strict=True,
            )
        )
        lp, nk, nv = self._step.run(None, feeds)
        return lp, nk, nv

    def decode_grow(
        self,
        input_ids: I64,
        position: I64,
        past_k: F32,
        past_v: F32,
        parents: I64,
        cross_k: F32,
        cross_v: F32,
        attention_mask: I64,
    ) -> tuple[F32, F32, F32]:
        args = (input_ids, position, past_k, past_v, parents, cross_k, cross_v, attention_mask)
        return self._run_step(self._grow_run, GROWING_INPUTS, args)

    @property
    def has_shortlist_step(self) -> bool:
        return self._shortlist is not None

    def decode_shortlist(
        self,
        input_ids: I64,
        position: I64,
        past_k: F32,
        past_v: F32,
        parents: I64,
        cross_k: F32,
        cross_v: F32,
        attention_mask: I64,
        vocab_ids: I64,
    ) -> tuple[F32, F32, F32]:
        """``decode_grow`` with the output projection over ``vocab_ids`` only: (logits [R,K], present)."""
        args = (input_ids, position, past_k, past_v, parents, cross_k, cross_v, attention_mask, vocab_ids)
        assert self._shortlist_run is not None
        return self._run_step(self._shortlist_run, SHORTLIST_INPUTS, args)

    def _run_step(
        self, run: Callable[..., list[Any]], names: tuple[str, ...], args: tuple[np.ndarray, ...]
    ) -> tuple[F32, F32, F32]:
        """One contract-2 step through ``run`` (``_direct_run``); a failure is one ``BundleError``
        naming the position."""
        try:
            out, pk, pv = run(dict(zip(names, args, strict=True)), self._quiet)
        except Exception as exc:  # onnxruntime raises its own exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BundleError(f"the ONNX decoder failed at position {int(args[1][0])}: {first}") from exc
        return out, pk, pv


def _direct_run(session: Any) -> Callable[..., list[Any]]:
    """``session.run`` for all outputs, without the Python wrapper's per-call checks where this
    onnxruntime has its native session at ``_sess``. Those checks are for feeds this backend never
    passes (missing inputs, which the native run refuses too; OrtValues of another device; WebGPU
    graph capture) and cost about 3% of a greedy sentence of the int8 student (``/tmp`` script,
    alternating per sentence). Elsewhere the public ``run``."""
    names = [o.name for o in session.get_outputs()]
    native = getattr(session, "_sess", None)
    if native is not None and callable(getattr(native, "run", None)):
        return lambda feeds, options: native.run(names, feeds, options)
    return lambda feeds, options: session.run(names, feeds, options)


def check_last_position(graphs: OnnxGraphs, manifest: Manifest, where: str) -> None:
    """A contract-2 graph has no cache of fixed size to hold the manifest's ``max_target_len`` against:
    its limit is the decoder's position table. One step at the last position the manifest allows (on an
    all-zero cache, one row) tells whether the table reaches it."""
    model, limits = manifest.model, manifest.limits
    last = limits.max_target_len - 1
    past = np.zeros((model.decoder_layers, 1, model.attention_heads, last, model.head_dim), np.float32)
    cross = np.zeros((model.decoder_layers, 1, model.attention_heads, 1, model.head_dim), np.float32)
    one = np.ones((1, 1), np.int64)
    try:
        graphs.decode_grow(
            np.zeros((1, 1), np.int64),
            np.asarray([last], np.int64),
            past,
            past,
            np.zeros(1, np.int64),
            cross,
            cross,
            one,
        )
    except BundleError as exc:
        raise BundleError(
            f"{where}: the manifest's limits.max_target_len is {limits.max_target_len}, but the decoder "
            f"cannot step at position {last} ({exc})"
        ) from exc


def shortlist_step_path(bundle: Bundle, section: OnnxSection) -> Path | None:
    """The bundle's contract-2 step over a vocabulary subset, where it has one."""
    if section.decode_shortlist is None or section.step_contract != 2:
        return None
    path: Path = bundle.file(section.decode_shortlist)
    return path


def open_graphs(
    bundle: Bundle, threads: int = 0, shortlist: bool = True, signed_int8: bool | None = None
) -> OnnxGraphs:
    """The bundle's ONNX graphs (``manifest.graphs["onnx"]``) in ONNX Runtime sessions (``threads``
    intra-op threads, 0: ONNX Runtime's default; ``shortlist=False`` leaves out the shortlist step;
    ``signed_int8`` as ``OnnxGraphs`` takes it)."""
    section = bundle.manifest.graphs["onnx"]
    assert isinstance(section, OnnxSection)
    graphs = OnnxGraphs(
        bundle.file(section.encode),
        bundle.file(section.decode_step),
        threads=threads,
        dequantize_at_load=section.dequantize_at_load,
        step_contract=section.step_contract,
        shortlist_path=shortlist_step_path(bundle, section) if shortlist else None,
        encode_one_sentence=section.encode_one_sentence,
        signed_int8=signed_int8,
    )
    # a manifest whose sizes or limits these graphs contradict is refused before anything runs
    check_graph_shapes(
        bundle.manifest,
        str(bundle.path),
        encode=onnx_shapes(graphs._encode),
        step=onnx_shapes(graphs._step),
        step_contract=section.step_contract,
        shortlist=None if graphs._shortlist is None else onnx_shapes(graphs._shortlist),
    )
    if section.step_contract == 2:
        check_last_position(graphs, bundle.manifest, str(bundle.path))
    return graphs

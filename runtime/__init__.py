"""The pocketmt runtime: what the phone does, in Python.

Importing it pulls in no exporter, no transformers and no training code;
ExecuTorch and ONNX Runtime are imported only when a bundle is opened on them.
"""

from pocketmt.runtime.backends.registry import BACKEND_NAMES as BACKENDS
from pocketmt.runtime.beam_search import Hypothesis, SearchConfig, beam_search, greedy_search
from pocketmt.runtime.bundle import Bundle
from pocketmt.runtime.errors import BundleError, InputError, PocketMTError
from pocketmt.runtime.glossary import Glossary, Term, load_glossary
from pocketmt.runtime.manifest import SCHEMA_VERSION, Manifest
from pocketmt.runtime.step import CachedStepModel, StepGraphs, StepModel
from pocketmt.runtime.tokenizer import MarianTokenizer
from pocketmt.runtime.translator import TermResult, TranslateOptions, Translation, Translator

__all__ = [
    "BACKENDS",
    "SCHEMA_VERSION",
    "Bundle",
    "BundleError",
    "CachedStepModel",
    "Glossary",
    "Hypothesis",
    "InputError",
    "Manifest",
    "MarianTokenizer",
    "PocketMTError",
    "SearchConfig",
    "StepGraphs",
    "StepModel",
    "Term",
    "TermResult",
    "TranslateOptions",
    "Translation",
    "Translator",
    "beam_search",
    "greedy_search",
    "load_glossary",
]

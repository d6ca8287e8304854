"""``pocketmt pipeline``: from parallel text to a phone bundle in one resumable command.

(Not to be confused with ``pocketmt.export.pipeline``, the export of one checkpoint, which the
``export`` stage calls.) Stages, in order (``stages.py``): prepare (tokenizer and timing probe),
teacher-1 [and teacher-2] (an ensemble like the built-in teachers), distill (the teachers' beam
outputs for the training sources), student, quantize (ternary quantization-aware training, or int4),
export (.pte and ONNX), evaluate, card. ``plan.py`` fits the epochs to a time budget, ``state.py``
keeps what is done so that the same command resumes, ``progress.py`` is the one display, ``card.py``
writes the model card from what ran. Evaluation is above this layer: the command line passes it in
(``stages.Evaluator``).
"""

from pocketmt.export.training.pipeline.config import PipelineConfig, Recipe
from pocketmt.export.training.pipeline.run import RunSummary, run_pipeline
from pocketmt.export.training.pipeline.stages import EvalRequest, Evaluator

__all__ = ["EvalRequest", "Evaluator", "PipelineConfig", "Recipe", "RunSummary", "run_pipeline"]

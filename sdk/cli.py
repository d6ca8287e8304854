"""The ``pocketmt`` command line: the argument tree, built from one module per command group
(``pocketmt.commands``), and the error handling they share.

Every user-facing failure is one line on stderr and exit code 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import warnings
from collections.abc import Sequence

from pocketmt.commands import bundle, compression, evaluation, export, training, translate
from pocketmt.commands.console import PROG, error
from pocketmt.runtime.errors import PocketMTError

# in the order ``pocketmt --help`` lists them
COMMAND_GROUPS = (export, translate, training, compression, evaluation, bundle)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Export translation models to phone bundles and run them as the phone will."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.add_parsers(sub)
    return parser


# Libraries that narrate on import (torchao's optional CUDA kernels, torch's pytree notices); the CLI's
# stderr is kept for pocketmt's own one-line messages.
_NOISY_LOGGERS = ("torchao", "torch.utils._pytree", "torch.onnx", "torch._export", "executorch")


def main(argv: Sequence[str] | None = None) -> int:
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # libraries' deprecation notices about their own internals (torch's pytree during export)
    warnings.filterwarnings("ignore", category=FutureWarning)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except PocketMTError as exc:
        if args.debug:
            traceback.print_exc()
        error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:
        if args.debug:
            raise
        error(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The ``pocketmt`` command line: the argument tree, built from one module per command group
(``pocketmt.commands``), and the error handling they share.

Every user-facing failure is one line on stderr and exit code 2; ``--debug``
shows the traceback instead. A command that needs an optional extra (``pip install 'pocketmt[export]'``)
says so the same way when the extra is not installed.
"""

from __future__ import annotations

import argparse
import errno
import logging
import sys
import traceback
import warnings
from collections.abc import Sequence

from pocketmt.commands import bench, bundle, compression, evaluation, export, pipeline, training, translate
from pocketmt.commands.console import PROG, error, missing_extra
from pocketmt.runtime.backends.registry import is_installed
from pocketmt.runtime.errors import PocketMTError

# in the order ``pocketmt --help`` lists them
COMMAND_GROUPS = (export, translate, training, pipeline, compression, evaluation, bundle, bench)


# The import names each extra of pyproject.toml installs (tests/test_lean_install.py checks they agree),
# and the commands that need one before they can start. ``pip install pocketmt`` alone runs translate,
# verify, info and eval on bundles with ONNX graphs.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "export": (
        "torch",
        "executorch",
        "onnxscript",
        "transformers",
        "matplotlib",
        "tqdm",
    ),
}
COMMAND_EXTRAS: dict[str, str] = {
    "export": "export",
    "train": "export",
    "distill": "export",
    "quantize": "export",
    "prune": "export",
    "report": "export",
    "pipeline": "export",
}


def extra_providing(module: str | None) -> str | None:
    """The extra that installs top-level package of ``module``, if one does."""
    top = (module or "").split(".")[0]
    return next((extra for extra, names in EXTRA_MODULES.items() if top in names), None)


def missing_for(command: str) -> tuple[str, list[str]] | None:
    """The extra ``command`` needs and its packages missing here, or None when it can run."""
    extra = COMMAND_EXTRAS.get(command)
    if extra is None:
        return None
    missing = [name for name in EXTRA_MODULES[extra] if not is_installed(name)]
    return (extra, missing) if missing else None


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
    if needed := missing_for(args.command):
        error(missing_extra(f"{PROG} {args.command}", *needed))
        return 2
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a full disk or a closed pipe shows here, inside the error handling
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
    except OSError as exc:
        if args.debug or exc.errno not in _OUTPUT_ERRNOS:
            return _unexpected(exc, args.debug)
        error(f"cannot write the output: {exc.strerror}")
        return 2
    except ModuleNotFoundError as exc:  # a library of an extra, needed further in than the check above
        extra = extra_providing(exc.name)
        if extra is None or args.debug:
            return _unexpected(exc, args.debug)
        error(missing_extra(f"{PROG} {args.command}", extra, [str(exc.name).split(".")[0]]))
        return 2
    except Exception as exc:
        return _unexpected(exc, args.debug)


# where writing the output fails for a reason of the user's machine, not of pocketmt
_OUTPUT_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS)


def _unexpected(exc: Exception, debug: bool) -> int:
    if debug:
        raise exc
    error(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")
    return 1


if __name__ == "__main__":
    sys.exit(main())

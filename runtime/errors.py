"""Errors the user can act on. The CLI prints them as one line and exits 2."""

from __future__ import annotations


class PocketMTError(Exception):
    """A problem with the user's input: a bundle, a file, a model directory or text."""

    exit_code = 2


class BundleError(PocketMTError):
    """The bundle is missing, incomplete, tampered with, or too new for this runtime."""


class InputError(PocketMTError):
    """Text or options the runtime cannot translate as given."""

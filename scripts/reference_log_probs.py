"""Add the eager log-probabilities of its recorded tokens to an old bundle's reference.json.

    python scripts/reference_log_probs.py sdk/models/de-en runs/recovered/student-de-en-ternary -o OUT

The bundle is copied to OUT (a new folder) with the new reference and the manifest's entry for it; the
numbers come from the checkpoint, run eagerly, never from the bundle's own graphs, and a checkpoint that
does not reproduce the bundle's recorded eager tokens is refused (export/reference_backfill.py,
docs/decoding.md section 7). Then run ``pocketmt verify OUT``.
"""

from __future__ import annotations

import argparse
import sys

from pocketmt.export.reference_backfill import add_log_probs
from pocketmt.runtime.errors import PocketMTError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", help="the bundle folder whose reference lacks log-probabilities")
    parser.add_argument("checkpoint", help="the checkpoint folder the bundle was exported from")
    parser.add_argument("-o", "--output", required=True, help="a new folder for the updated bundle")
    args = parser.parse_args()
    try:
        for line in add_log_probs(args.bundle, args.checkpoint, args.output):
            print(line)
    except PocketMTError as exc:
        print(f"reference_log_probs: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}; check it with: pocketmt verify {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

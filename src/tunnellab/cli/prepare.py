"""``tunnellab-prepare``: lay out datasets that need a one-off step before tunnellab can read them.

    tunnellab-prepare imagenet100 --imagenet /data/ILSVRC2012 --out /data/imagenet100 [--copy]

links (or copies) the 100 CMC classes of an ImageNet-1K copy into ``out/{train,val}/<wnid>``,
then verifies the paper's 126,689 / 5,000 images and names any missing class. Exit status: 0 when
complete, 1 when the image counts differ from the paper's, 2 when classes or the source are missing
(or another explained problem: a folder that cannot be written, a full disk), 130 after Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys

from tunnellab.cli import failures
from tunnellab.data.imagenet100 import prepare_imagenet100

PROG = "tunnellab-prepare"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tunnellab-prepare", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="dataset", required=True)
    imagenet = sub.add_parser(
        "imagenet100", help="ImageNet-100 (CMC classes) from an ImageNet-1K train/val copy"
    )
    imagenet.add_argument(
        "--imagenet", required=True, help="ImageNet-1K dir with train/ and val/ (class folders)"
    )
    imagenet.add_argument("--out", required=True, help="where to make train/ and val/")
    imagenet.add_argument(
        "--copy", action="store_true", help="copy the images instead of symlinking the folders"
    )
    imagenet.add_argument(
        "--val-labels",
        help="labels of a flat val/ folder: Kaggle's LOC_val_solution.csv or '<file> <wnid>' lines",
    )
    imagenet.add_argument("--class-list", help="another class list (default: the CMC list)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        report = prepare_imagenet100(
            args.imagenet, args.out, args.copy, args.val_labels, args.class_list
        )
    except KeyboardInterrupt:
        message = "interrupted; rerun the same command to finish (what is in place is kept)"
        return failures.say(PROG, message, failures.INTERRUPTED)
    except Exception as err:
        return failures.report(PROG, err, args.out)
    print("\n".join(report.lines()))
    if not report.complete:
        print("tunnellab-prepare: error: classes are missing (listed above)", file=sys.stderr)
        return 2
    if not report.counts_match:
        print(
            "tunnellab-prepare: warning: the image counts differ from the paper's "
            "126,689 / 5,000; results will not be comparable",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

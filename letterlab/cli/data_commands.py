"""`letterlab data ...`: look at, convert and download letter-image data. Heavy imports happen in the handlers.

Each sub-command has an `_add_<name>(commands)` that defines its arguments and a `_run_<name>(args)` handler
returning the exit code; user errors are raised as LetterlabError (main prints them as one line, exit 2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FORMAT_HELP = ("course folder or .data/.pkl file, folder of class subfolders of PNGs, .tar.gz/.tgz, "
               "idx file (...-images-idx3-ubyte[.gz]), .npz, or a known data set's name")


CLASSES_HELP = "names for the data's classes, in label order: comma-separated or a file with one name a line"


def register(subparsers) -> None:
    """Add the `data` command group to the top-level `subparsers`."""
    parser = subparsers.add_parser("data", help="inspect, convert and download letter-image data",
                                   description="Inspect, convert and download letter-image data.")
    commands = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))
    _add_info(commands)
    _add_convert(commands)
    _add_download(commands)
    _add_check(commands)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _add_info(commands) -> None:
    parser = commands.add_parser("info", help="counts per letter, shape, pixel range, duplicates, skipped files")
    parser.add_argument("path", nargs="?", metavar="PATH", help=f"data to describe ({FORMAT_HELP}); "
                                                                 "default: the embedded set")
    parser.add_argument("--classes", metavar="NAMES", help=CLASSES_HELP)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=_run_info)


def _run_info(args) -> int:
    import letterlab
    from letterlab.cli.format import data_info_text

    summary = letterlab.data_info(args.path, classes=args.classes)
    print(json.dumps(summary, indent=2) if args.json else data_info_text(summary))
    return 0


def _add_convert(commands) -> None:
    from letterlab.data.convert import FORMATS

    parser = commands.add_parser("convert", help="write data in another format",
                                 description="Write the train part (and test part, if any) of SRC in another "
                                             "format. Existing files are never overwritten without --force.")
    parser.add_argument("source", metavar="SRC", help=f"data to convert ({FORMAT_HELP})")
    parser.add_argument("--to", required=True, choices=FORMATS, help="output format")
    parser.add_argument("--out", required=True, metavar="DST",
                        help="output: a folder for course, idx and folder; a file for npz")
    parser.add_argument("--classes", metavar="NAMES", help=CLASSES_HELP + " (idx files hold no names)")
    parser.add_argument("--force", action="store_true", help="overwrite existing output")
    parser.set_defaults(func=_run_convert)


def _run_convert(args) -> int:
    import letterlab

    for path in letterlab.convert_data(args.source, args.to, args.out, force=args.force, classes=args.classes):
        print(f"wrote {path}")
    return 0


def _add_download(commands) -> None:
    from letterlab.data.known_datasets import KNOWN_DATASETS

    choices = "; ".join(f"{d.name}: {d.description}" for d in KNOWN_DATASETS.values())
    parser = commands.add_parser("download", help="download a known data set (resumable, checked)",
                                 description=f"Download a data set letterlab knows by name ({choices}). "
                                             "Afterwards --data NAME reads it (from the default --out).")
    parser.add_argument("name", choices=list(KNOWN_DATASETS), help="data set to download")
    parser.add_argument("--url", help="a mirror: the file's URL, or for a data set of several files the folder URL")
    parser.add_argument("--out", metavar="DIR", help="folder to save into (default: the data folder, "
                                                     "$LETTERLAB_CACHE/datasets, where --data NAME looks)")
    parser.add_argument("--sha256", metavar="HEX", help="expected sha256 of the file (data sets of one file)")
    parser.add_argument("--extract", action="store_true", help="also extract the archive beside it")
    parser.set_defaults(func=_run_download)


def _run_download(args) -> int:
    import letterlab

    path, count = letterlab.download_data(args.name, url=args.url, out=args.out, sha256=args.sha256, extract=args.extract)
    what = "PNG images in class folders" if path.name.endswith((".tar.gz", ".tgz")) else "images"
    print(f"{path}: {count} {what}{' (extracted)' if args.extract else ''}")
    return 0


def _add_check(commands) -> None:
    check = commands.add_parser("check", help="exact and near duplicates, conflicting labels, train/test leaks",
                                description="Find exact duplicates inside each part of PATH (train, test) and between "
                                            "parts and --against, copies with conflicting labels, and with --near "
                                            "near-duplicates. --drop-duplicates writes PATH without them (first copy "
                                            "kept; conflicting-label images and copies of --against images dropped).")
    check.add_argument("path", metavar="PATH")
    check.add_argument("--against", metavar="PATH2", help="a second data set to look for leaks into")
    check.add_argument("--near", action="store_true", help="also find near-duplicates (perceptual hash, then pixel check)")
    check.add_argument("--drop-duplicates", action="store_true", help="write a clean .npz to --out")
    check.add_argument("--out", metavar="FILE", help="the clean .npz (with --drop-duplicates)")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=_run_check)


def _run_check(args) -> int:
    import letterlab
    from letterlab.cli.format import data_check_text
    from letterlab.errors import LetterlabError

    if args.drop_duplicates and not args.out:
        raise LetterlabError("data check: --drop-duplicates needs --out FILE.npz")
    if args.out and Path(args.out).exists():
        raise LetterlabError(f"{args.out}: already exists; choose another --out")
    report = letterlab.check_data(args.path, against=args.against, near=args.near,
                                  drop_duplicates_to=args.out if args.drop_duplicates else None)
    print(json.dumps(report, indent=2) if args.json else data_check_text(report))
    if "written" in report and not args.json:
        written = report["written"]
        kept = ", ".join(f"{name} {count} of {report['parts'][name]['images']}" for name, count in written.items() if name != "path")
        print(f"wrote {written['path']}: {kept} images kept")
    return 0

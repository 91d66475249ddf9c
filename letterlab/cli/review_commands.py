"""`letterlab errors` and `letterlab review`: a run's mistakes, and a person's verdict on them."""

from __future__ import annotations

import json

from letterlab.cli.train_commands import add_device_argument


def register(subparsers) -> None:
    errors = subparsers.add_parser("errors", help="misclassified images, confused pairs and error grids of a run",
                                   description="Find a run's mistakes on PATH (the test part of a course folder) or on its "
                                               "own test split; print the most confused pairs (and how the mistakes spread over "
                                               "fonts, where the data names them); write errors.json and "
                                               "grids of the misclassified images (most confident first, and per pair).")
    errors.add_argument("run", metavar="RUN", help="run folder")
    errors.add_argument("--data", metavar="PATH", help="data to judge the run on (default: the run's test split)")
    errors.add_argument("--out", metavar="DIR", help="folder for the grids and errors.json (default RUN/errors)")
    errors.add_argument("--json", action="store_true", help="print the whole report as JSON")
    add_device_argument(errors)
    errors.set_defaults(func=run_errors)

    review = subparsers.add_parser("review", help="judge a run's misclassified images yourself",
                                   description="Show misclassified images one at a time and ask which class you see "
                                               "(the run's class names: a key each when they are single characters "
                                               "such as A-J, typed otherwise; ? = unreadable). Answers are saved in RUN/review.json as you go; "
                                               "running again resumes. Ends with how often you agreed with the label "
                                               "and with the model, and the likely label errors.")
    review.add_argument("run", metavar="RUN", help="run folder")
    review.add_argument("--data", metavar="PATH", help="data to judge the run on (default: the run's test split)")
    review.add_argument("--web", action="store_true", help="a keyboard-driven page on 127.0.0.1 instead of the terminal")
    review.add_argument("--port", type=int, default=0, help="port for --web (default 0: any free port)")
    review.add_argument("--limit", type=int, metavar="N", help="review only the N most confident mistakes")
    add_device_argument(review)
    review.set_defaults(func=run_review)


def run_errors(args) -> int:
    import letterlab
    from letterlab.cli.format import fonts_text, pairs_table, per_class_table

    report = letterlab.load_run(args.run, args.device).write_errors(args.data, args.out)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['mistakes']} of {report['n']} images misclassified ({report['source']})")
    print("\nmost confused pairs:\n" + pairs_table(report["pairs"]))
    print("\n" + per_class_table(report["per_class"]))
    if report["by_font"]:
        print("\n" + fonts_text(report["by_font"]))
    print("\ngrids: " + ", ".join(report["grids"]) if report["grids"] else "\nno grids: no mistakes")
    return 0


def run_review(args) -> int:
    import letterlab
    from letterlab.evaluation.review.core import format_summary

    summary = letterlab.review(args.run, args.data, limit=args.limit, web=args.web, port=args.port, announce=print)
    if args.web:  # the terminal front end prints its own summary at the end
        print(format_summary(summary))
    return 0

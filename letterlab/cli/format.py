"""Text for the terminal, made from the API's result dataclasses: the only place results become prose."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np

from letterlab import LETTERS
from letterlab.evaluation.metrics import format_confusion


def per_class_table(scores: dict[str, dict[str, float]]) -> str:
    first = max([8] + [len(name) + 2 for name in scores])
    lines = [f"{'class':<{first}}{'precision':>10}{'recall':>10}{'f1':>10}{'n':>8}"]
    for name, s in scores.items():
        lines.append(f"{name:<{first}}{s['precision']:>10.3f}{s['recall']:>10.3f}{s['f1']:>10.3f}{s['support']:>8}")
    return "\n".join(lines)


def evaluation_text(evaluation, note: str = "") -> str:
    """Accuracy line, confusion matrix and per-class table of an Evaluation."""
    return "\n".join([f"test accuracy: {evaluation.accuracy:.4f} on {evaluation.n} images ({evaluation.source}){note}", "",
                      "confusion matrix (rows: true class, columns: predicted):",
                      format_confusion(np.asarray(evaluation.confusion), evaluation.classes),
                      "", per_class_table(evaluation.per_class)])


def results_text(results) -> str:
    """A finished run's RunResults: training time, last validation accuracy, then its test scores."""
    lines = []
    if results.seconds_per_epoch:
        validation = ("no validation part" if results.val_accuracy is None or math.isnan(results.val_accuracy)
                      else f"final validation accuracy {results.val_accuracy:.4f}")
        lines.append(f"trained {results.epochs} epochs in {results.train_seconds:.1f} s ({results.seconds_per_epoch:.2f} s per epoch); {validation}")
    lines += [f"test accuracy: {results.test_accuracy:.4f} on {results.test_n} images ({results.test_source})", "",
              "confusion matrix (rows: true class, columns: predicted):", format_confusion(np.asarray(results.confusion), results.classes),
              "", per_class_table(results.per_class)]
    return "\n".join(lines)


def top_k_text(name: str, probabilities: np.ndarray, k: int, classes=LETTERS) -> str:
    best = np.argsort(-probabilities)[:k]
    return f"{name}: " + ", ".join(f"{classes[i]} {probabilities[i]:.3f}" for i in best)


def top_k_records(name: str, probabilities: np.ndarray, k: int, classes=LETTERS) -> dict:
    """`letterlab predict --json`: the key stays "letter" whatever the classes are called (the wire format)."""
    best = np.argsort(-probabilities)[:k]
    return {"image": name, "letter": classes[best[0]],
            "top": [{"letter": classes[i], "probability": float(probabilities[i])} for i in best]}


def pairs_table(pairs: list[dict]) -> str:
    lines = [f"{'true':<6}{'predicted':<11}{'count':>6}{'share':>8}"]
    lines += [f"{p['true']:<6}{p['predicted']:<11}{p['count']:>6}{p['share']:>8.1%}" for p in pairs]
    return "\n".join(lines) if pairs else "no mistakes"


def fonts_text(by_font: dict) -> str:
    """Mistakes.by_font's summary: how concentrated the mistakes are, and the fonts with the most."""
    k, n = by_font["worst_tenth"], by_font["fonts"]
    head = f"mistakes by font (fonts {by_font['named_by']}): "
    lines = [head + (f"{by_font['mistakes']} mistakes in {by_font['with_mistakes']} of {n} fonts; the {k} with the most "
                     f"({k / n:.0%} of the fonts) hold {by_font['worst_tenth_share']:.0%} of them" if by_font["mistakes"]
                     else f"no mistakes in any of {n} fonts")]
    if by_font["unmatched_images"]:
        lines.append(f"and {by_font['unmatched_mistakes']} among {by_font['unmatched_images']} images whose font was not found")
    if by_font["worst"]:
        lines.append(f"{'mistakes':>8}{'images':>8}  font")
        lines += [f"{f['mistakes']:>8}{f['images']:>8}  {f['name']}" for f in by_font["worst"]]
    return "\n".join(lines)


def comparison_text(result) -> str:
    lines = [f"{result.n} images from {result.data}"]
    for key, r in (("A", result.a), ("B", result.b)):
        lines.append(f"{key} {r.run}: accuracy {r.accuracy:.4f} (95% CI {r.ci95[0]:.4f}-{r.ci95[1]:.4f}), {r.correct}/{r.n}")
    verdict = "significant" if result.significant else "not significant"
    lines.append(f"only A correct: {result.only_a_correct}, only B correct: {result.only_b_correct}")
    lines.append(f"McNemar exact p = {result.p_value:.4g}: the difference is {verdict} at {result.alpha}")
    return "\n".join(lines)


def calibration_text(result) -> str:
    b, a = result.before, result.after
    return "\n".join([
        f"{result.n} test images from {result.data}; temperature fitted on the validation split "
        f"(T = 1 for a run without one): T = {result.temperature:.4f}",
        f"ECE ({result.bins} bins): {b['ece']:.4f} before, {a['ece']:.4f} after",
        f"NLL: {b['nll']:.4f} before, {a['nll']:.4f} after (accuracy {b['accuracy']:.4f}, unchanged by T)",
        f"reliability diagram: {result.figure}",
    ])


def layers_text(rows, title: str = "") -> str:
    """A Keras-style summary of LayerRows: output shapes, parameters, total and training FLOPs."""
    lines = [f"Model: {title}" if title else "Model", "=" * 66, f"{'Layer (type)':<32}{'Output shape':<20}{'Param #':>14}", "=" * 66]
    for row in rows:
        shape = "(None, " + ", ".join(map(str, row.output_shape)) + ")"
        lines.append(f"{row.name + ' (' + row.kind + ')':<32}{shape:<20}{row.parameters:>14,}")
    total = sum(row.parameters for row in rows)
    flops = 3 * sum(row.forward_flops for row in rows)
    lines += ["=" * 66, f"Total params: {total:,}", f"Training FLOPs per image: {flops / 1e6:,.2f} M", ""]
    return "\n".join(lines)


def data_info_text(summary: dict) -> str:
    """A human-readable table of `data_info`'s summary."""
    parts = summary["parts"]
    names = list(parts)
    rows = [("", *names)]
    classes = list(parts[names[0]]["per_class"])
    rows += [(f"  {label}", *(str(parts[name]["per_class"][label]) for name in names)) for label in classes]
    rows += [
        ("images", *(str(parts[name]["images"]) for name in names)),
        ("shape", *("x".join(map(str, parts[name]["shape"])) for name in names)),
        ("pixels", *(f"{parts[name]['pixel_min']}..{parts[name]['pixel_max']}" for name in names)),
        ("duplicates", *(str(parts[name]["duplicates"]) for name in names)),
        ("skipped files", *(str(parts[name]["skipped"]) for name in names)),
        ("fonts", *("-" if parts[name]["fonts"] is None else str(parts[name]["fonts"]) for name in names)),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [f"{name}: {parts[name]['source']}" for name in names]
    lines += ["  ".join(cell.ljust(width) if column == 0 else cell.rjust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in rows]
    if "test_images_also_in_train" in summary:
        lines.append(f"test images also in train (exact copies): {summary['test_images_also_in_train']}")
    named_by = dict.fromkeys(parts[name]["fonts_named_by"] for name in names if parts[name]["fonts_named_by"])
    lines += [f"fonts named by: {source}" for source in named_by]
    return "\n".join(lines)


def data_check_text(report: dict) -> str:
    """Counts and a few examples as text (part:index class)."""
    show = lambda e: f"{e['part']}:{e['index']} {e['label']}"  # noqa: E731
    lines = []
    for name, p in report["parts"].items():
        lines.append(f"{name} ({p['source']}): {p['images']} images, {p['distinct']} distinct, {p['duplicate_copies']} exact duplicate copies")
        lines += [f"    {show(a)} == {show(b)}" for a, b in p["examples"]]
    for key, b in report["between"].items():
        count_key = next(k for k in b if k.endswith(key.split("/")[0]) and "_also_in_" in k)
        lines.append(f"{key}: {b[count_key]} {count_key.replace('_', ' ')} ({b['with_other_label']} with another label)")
        lines += [f"    {show(x)} == {show(y)}" for x, y in b["examples"]]
    lines.append(f"conflicting labels: {report['conflicting_groups']} distinct images, {report['conflicting_images']} copies")
    lines += ["    " + " == ".join(show(e) for e in g) for g in report["conflicting_examples"]]
    if "near" in report:
        n = report["near"]
        where = ", ".join(f"{k} {v}" for k, v in n["by_parts"].items()) or "none"
        lines.append(f"near duplicates (hash distance <= {n['hash_distance']}, pixel RMS <= {n['pixel_rms']:g}; exact copies "
                     f"excluded): {n['pairs']} pairs "
                     f"of {n['images_in_pairs']} images ({where}); {n['pairs_with_other_label']} pairs with different labels")
        lines += [f"    {show(a)} ~ {show(b)}" for a, b in n["examples"]]
        lines += [f"    other label: {show(a)} ~ {show(b)}" for a, b in n["other_label_examples"]]
    return "\n".join(lines)


def sweep_text(result) -> str:
    """A finished sweep: what happened to its trials, and the table of its variants."""
    from letterlab.reports.sweep_section import SWEEP_HEADER, sweep_rows

    rows = sweep_rows([dataclasses.asdict(v) for v in result.variants])
    widths = [max(len(r[i]) for r in [SWEEP_HEADER] + rows) for i in range(len(SWEEP_HEADER))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             for row in [SWEEP_HEADER] + rows]
    counts = Counter(trial.status for trial in result.trials)
    done = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    failed = "".join(f"\nfailed: {t.name}: {t.error}" for t in result.failed)
    return (f"{len(result.trials)} trials ({done}) in {result.wall_seconds:.1f} s (Ray started in {result.ray_start_seconds:.1f} s)\n"
            + "\n".join(lines) + "\npaired: validation points above the base on the same seeds (and folds), mean ± sd of the differences"
            "\nvs base: test images only the variant / only the base got right, summed over the seeds (and folds) both have; "
            "p: McNemar's exact test, the largest over those pairs"
            + failed)

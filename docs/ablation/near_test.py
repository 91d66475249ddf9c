"""Test accuracy of trained runs on the test images that have a near-duplicate in the training data
and on those that do not (letterlab.data.check's perceptual hash, then pixel check).

    python docs/ablation/near_test.py --data /work/shared/data/notmnist/course runs/best/seed0 runs/best/seed1 ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from letterlab.data.check import near_pairs
from letterlab.data.registry import load_data
from letterlab.evaluation.trained import load_trained
from letterlab.models.inference import predict_logits
from letterlab.models.inputs import images_to_tensor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data", required=True, help="a source with a test part of its own (course folder)")
    args = parser.parse_args()
    data = load_data(args.data)
    train, test = data.train, data.test
    pairs = near_pairs(np.concatenate([train.images, test.images]))
    crossing = pairs[(pairs[:, 0] < len(train)) & (pairs[:, 1] >= len(train))]
    twin = np.zeros(len(test), bool)
    twin[crossing[:, 1] - len(train)] = True
    print(f"{len(crossing)} train/test near-duplicate pairs; {twin.sum()} of {len(test)} test images have a near twin in training")
    print("| run | all test | with a near twin in training | without |")
    print("| --- | ---: | ---: | ---: |")
    x = images_to_tensor(test.images, torch.device("cpu"))
    for run in args.runs:
        _, model = load_trained(run)
        right = predict_logits(model, x).argmax(1).numpy() == test.labels
        print(f"| {run} | {100 * right.mean():.2f}% | {100 * right[twin].mean():.2f}% ({twin.sum()}) "
              f"| {100 * right[~twin].mean():.2f}% ({(~twin).sum()}) |")


if __name__ == "__main__":
    main()

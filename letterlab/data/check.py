"""Leaks and duplicates: exact copies (equal bytes) inside a set and between sets, copies that carry
different labels, near-duplicates by a 64-bit difference hash, and a clean copy with duplicates dropped."""

from __future__ import annotations

import numpy as np

from letterlab.data.dataset import LetterImages
from letterlab.data.info import image_hashes

# Near duplicates: candidates whose 64-bit difference hashes differ in <= HASH_DISTANCE bits, kept when
# their 14x14 area-downsampled images differ by <= PIXEL_RMS grey levels (root mean square, 0..255).
# The hash alone is too coarse for glyphs (at distance 0 it pairs 30k different-looking notMNIST images);
# on notmnist_small these settings find 99% of the pairs a brute-force pixel comparison finds (1875 of 1901).
HASH_DISTANCE = 8
PIXEL_RMS = 10.0
EXAMPLES = 5
CHUNK = 512  # rows of the pairwise distance matrix computed at once (CHUNK x N uint64)


def exact_groups(images: np.ndarray) -> np.ndarray:
    """A group id per image (int64 (N,)): equal ids exactly when the images are byte-identical."""
    digests = np.array(image_hashes(images), dtype="V16")
    return np.unique(digests, return_inverse=True)[1].reshape(-1)


def resize_matrix(source: int, target: int) -> np.ndarray:
    """(target, source) weights that average each output cell's share of the input (area resize)."""
    edges = np.linspace(0, source, target + 1)
    low, high = edges[:-1, None], edges[1:, None]
    pixels = np.arange(source)[None, :]
    overlap = np.clip(np.minimum(high, pixels + 1) - np.maximum(low, pixels), 0, None)
    return overlap / overlap.sum(1, keepdims=True)


def area_resize(images: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """float32 (N, rows, columns): each output pixel the mean of the input area it covers."""
    height, width = images.shape[1:]
    left = resize_matrix(height, rows).astype(np.float32)
    right = resize_matrix(width, columns).astype(np.float32).T
    return left @ images.astype(np.float32) @ right


def difference_hashes(images: np.ndarray) -> np.ndarray:
    """uint64 (N,) difference hash: area-resize to 8 rows x 9 columns, one bit per horizontal
    neighbour pair (left brighter than right by more than one grey level). Robust to small shifts in weight and contrast."""
    small = area_resize(images, 8, 9)
    bits = (small[:, :, :-1] > small[:, :, 1:] + 1.0).reshape(len(images), 64)  # +1 grey level: flat areas give 0, not rounding noise
    return np.packbits(bits, axis=1).view(">u8").reshape(-1).astype(np.uint64)


def near_pairs(images: np.ndarray, hash_distance: int = HASH_DISTANCE, pixel_rms: float = PIXEL_RMS) -> np.ndarray:
    """Index pairs (i, j), i < j, int64 (P, 2), of near-duplicate images (see HASH_DISTANCE)."""
    hashes = difference_hashes(images)
    small = area_resize(images, 14, 14).reshape(len(images), -1)
    # cheap necessary conditions first: RMS(a - b) >= |mean a - mean b| and >= | |a| - |b| | / sqrt(196)
    mean, norm = small.mean(1), np.linalg.norm(small, axis=1) / np.sqrt(small.shape[1])
    found = [np.empty((0, 2), np.int64)]
    for start in range(0, len(hashes), CHUNK):
        block = hashes[start:start + CHUNK, None]
        close = np.bitwise_count(block ^ hashes[None, :]) <= hash_distance
        close &= np.arange(len(hashes))[None, :] > np.arange(start, start + len(block))[:, None]
        rows, columns = np.nonzero(close)
        rows += start
        bound = np.maximum(np.abs(mean[rows] - mean[columns]), np.abs(norm[rows] - norm[columns]))
        rows, columns = rows[bound <= pixel_rms], columns[bound <= pixel_rms]
        rms = np.sqrt(np.mean((small[rows] - small[columns]) ** 2, axis=1))
        found.append(np.stack([rows, columns], 1)[rms <= pixel_rms])
    return np.concatenate(found)


def check_parts(parts: dict[str, LetterImages], near: bool = False) -> dict:
    """Exact (and optionally near) duplicates inside each named part and between every two parts."""
    names = list(parts)
    images = np.concatenate([parts[n].images for n in names])
    labels = np.concatenate([parts[n].labels for n in names])
    part = np.repeat(np.arange(len(names)), [len(parts[n]) for n in names])
    offset = np.cumsum([0] + [len(parts[n]) for n in names])
    group = exact_groups(images)

    def where(i: int) -> dict:
        return {"part": names[part[i]], "index": int(i - offset[part[i]]), "label": parts[names[part[i]]].classes[labels[i]]}

    first = np.full(group.max() + 1 if len(group) else 0, len(group))
    np.minimum.at(first, group, np.arange(len(group)))
    label_sets = np.unique(np.stack([group, labels], 1), axis=0)
    conflicting = np.flatnonzero(np.bincount(label_sets[:, 0], minlength=len(first)) > 1)
    report = {"parts": {}, "between": {}, "conflicting_groups": int(len(conflicting)),
              "conflicting_images": int(np.isin(group, conflicting).sum())}
    report["conflicting_examples"] = [[where(i) for i in np.flatnonzero(group == g)] for g in conflicting[:EXAMPLES]]
    for p, name in enumerate(names):
        mine = group[part == p]
        repeats = np.flatnonzero(part == p)[~_first_occurrence(mine)]
        report["parts"][name] = {"source": parts[name].source, "images": len(parts[name]),
                                 "distinct": int(len(np.unique(mine))), "duplicate_copies": int(len(repeats)),
                                 "examples": [[where(first[group[i]]), where(i)] for i in repeats[:EXAMPLES]]}
    for p, q in ((i, j) for i in range(len(names)) for j in range(i + 1, len(names))):
        in_q = np.flatnonzero((part == q) & np.isin(group, group[part == p]))
        seen_in_p = {int(g): int(i) for i, g in zip(np.flatnonzero(part == p)[::-1], group[part == p][::-1])}
        report["between"][f"{names[p]}/{names[q]}"] = {
            f"{names[q]}_images_also_in_{names[p]}": int(len(in_q)),
            "with_other_label": int(sum(labels[seen_in_p[int(group[i])]] != labels[i] for i in in_q)),
            "examples": [[where(seen_in_p[int(group[i])]), where(i)] for i in in_q[:EXAMPLES]]}
    if near:
        report["near"] = _near_report(images, labels, first, part, names, where)
    return report


def _first_occurrence(group: np.ndarray) -> np.ndarray:
    """True where an image's group has not appeared earlier in `group`."""
    mask = np.zeros(len(group), bool)
    mask[np.unique(group, return_index=True)[1]] = True
    return mask


def _near_report(images, labels, first, part, names, where) -> dict:
    """Near-duplicate pairs among the distinct images (the first copy of each exact group)."""
    keep = np.sort(first)
    pairs = keep[near_pairs(images[keep])]
    other_label = labels[pairs[:, 0]] != labels[pairs[:, 1]]
    result = {"hash_distance": HASH_DISTANCE, "pixel_rms": PIXEL_RMS, "pairs": int(len(pairs)), "images_in_pairs": int(len(np.unique(pairs))),
              "pairs_with_other_label": int(other_label.sum()), "by_parts": {}}
    for a, b in zip(part[pairs[:, 0]], part[pairs[:, 1]]):
        key = names[a] if a == b else f"{names[a]}/{names[b]}"
        result["by_parts"][key] = result["by_parts"].get(key, 0) + 1
    result["examples"] = [[where(i), where(j)] for i, j in pairs[:EXAMPLES]]
    result["other_label_examples"] = [[where(i), where(j)] for i, j in pairs[other_label][:EXAMPLES]]
    return result


def drop_duplicates(parts: dict[str, LetterImages]) -> dict[str, LetterImages]:
    """Each part without exact copies of an image seen earlier (in this or an earlier part), and
    without any image whose copies carry different labels. Parts keep their order."""
    names = list(parts)
    labels = np.concatenate([parts[n].labels for n in names])
    group = exact_groups(np.concatenate([parts[n].images for n in names]))
    label_sets = np.unique(np.stack([group, labels], 1), axis=0)
    conflicting = np.bincount(label_sets[:, 0], minlength=group.max() + 1 if len(group) else 0) > 1
    keep = _first_occurrence(group) & ~conflicting[group]
    offset = np.cumsum([0] + [len(parts[n]) for n in names])
    return {n: parts[n].subset(np.flatnonzero(keep[offset[k]:offset[k + 1]])) for k, n in enumerate(names)}

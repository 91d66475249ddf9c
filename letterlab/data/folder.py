"""Folders of class subfolders of PNGs (A/ .. J/, or any names: cat/, dog/), and the same packed as .tar.gz /
.tgz (read in place, never extracted). The classes are the subfolder names, sorted; subfolders named with
single letters A-J (either case) are the ten classes A-J, as notMNIST has them, even when some are absent.

Also accepted: a parent holding one such folder (notMNIST_small/), or `train/` and `test/` class folders side
by side (what `convert --to folder` writes for a source with a test part). Decoded arrays are cached as .npz
in $LETTERLAB_CACHE (default ~/.cache/letterlab), keyed by the archive's bytes or the folder's file listing."""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import logging
import os
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
from PIL import Image

from letterlab import IMAGE_SIZE, LETTERS
from letterlab.data.cache import cache_dir
from letterlab.data.dataset import LetterImages, LoadedData, check_class_names
from letterlab.errors import DataError

log = logging.getLogger(__name__)

MAX_DEPTH = 3  # a class folder may sit at most this deep below the given folder
MAX_MEMBER_BYTES = 16 << 20  # larger "PNG" files are counted as unreadable rather than read into memory
MAX_PIXELS = 4096 * 4096  # likewise for images that would decode to something huge
CACHE_VERSION = b"letterlab-folder-cache-4"
FONTS_FROM_NAMES = "file names (base64 of the font file's name, as notMNIST names them)"


class _Part(NamedTuple):
    """One decoded folder of class folders: where it sits in the source ("" when it is the only one), pixels,
    labels, the number of unreadable files, the class names (shared by a train and a test part) and each
    image's font where the file names name it (notMNIST's: base64 of the font file's name), else empty."""

    root: str
    images: np.ndarray
    labels: np.ndarray
    skipped: int
    classes: tuple[str, ...]
    fonts: np.ndarray


def is_tar_archive(path: Path) -> bool:
    return path.name.lower().endswith((".tar.gz", ".tgz"))


def load_folder(path: str | Path) -> LoadedData:
    """Load a folder of class folders or a .tar.gz of one; unreadable PNGs are skipped and reported in one log line."""
    path = Path(path)
    if is_tar_archive(path):
        key = _archive_key(path)
        parts = _cache_load(key) or _cache_store(key, _decode_archive(path))
    else:
        pngs = _folder_pngs(path)
        key = _listing_key(pngs)
        parts = _cache_load(key) or _cache_store(key, _decode_folder(path, pngs))
    sets = {role: _letter_images(path, part) for role, part in parts.items()}
    skipped = sum(images.skipped for images in sets.values())
    if skipped:
        log.warning("skipped %d unreadable images in %s", skipped, path)
    return LoadedData(train=sets["train"], test=sets.get("test"))


def check_letter_archive(path: str | Path) -> int:
    """Count the PNG members in class folders of a .tar.gz without decoding them; DataError if there are none."""
    path = Path(path)
    try:
        with tarfile.open(path, "r|gz") as archive:  # one sequential pass: no seeking back
            names = [member.name for member in archive if member.isfile()]
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DataError(path, f"not a readable tar.gz archive ({type(error).__name__}: {error})") from None
    count = sum(_classify(name) is not None for name in names)
    if not count:
        raise DataError(path, "the archive holds no class folders of PNG images")
    return count


def save_folder(folder: str | Path, images: np.ndarray, labels: np.ndarray, classes=tuple(LETTERS)) -> None:
    """Write images as folder/<class name>/000000.png (a subfolder for every class, even an empty one)."""
    folder = Path(folder)
    for name in classes:
        if name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise DataError(folder, f"class name {name!r} cannot be a folder name")
        (folder / name).mkdir(parents=True, exist_ok=True)
    for index, (pixels, label) in enumerate(zip(images, labels)):
        Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(folder / classes[label] / f"{index:06d}.png")


def _classify(relative: str) -> tuple[str, str] | None:
    """(root folder, class name) for a PNG inside a class folder such as 'root/B/x.png'; None for anything else."""
    parts = PurePosixPath(relative).parts
    if len(parts) < 2 or len(parts) > MAX_DEPTH + 1 or not parts[-1].lower().endswith(".png"):
        return None
    if any(part.startswith(".") for part in parts[:-1]):  # .ipynb_checkpoints/ and the like
        return None
    return "/".join(parts[:-2]), parts[-2]


def folder_classes(names: set[str], source) -> tuple[str, ...]:
    """The classes of these class-folder names: A-J when each is a single letter A-J (either case), else
    the names sorted."""
    if all(len(name) == 1 and name.upper() in LETTERS for name in names):
        return tuple(LETTERS)
    if len(names) < 2:
        raise DataError(source, f"PNG images in only one class folder ({', '.join(names)}); a data set needs two or more")
    return check_class_names(sorted(names), str(source))


def _label_of(name: str, classes: tuple[str, ...]) -> int:
    return classes.index(name.upper() if classes == tuple(LETTERS) else name)


def _decode_png(payload: bytes) -> np.ndarray | None:
    """28x28 grayscale pixels, converting other sizes and modes; None when the bytes are not a readable image."""
    if not payload:
        return None
    try:
        with Image.open(io.BytesIO(payload)) as image:
            if image.width * image.height > MAX_PIXELS:
                return None
            image.load()
            if image.mode != "L":
                image = image.convert("L")
            if image.size != (IMAGE_SIZE, IMAGE_SIZE):
                image = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except Exception:  # Pillow raises many types (OSError, SyntaxError, ValueError...) for corrupt files
        return None


def _folder_pngs(folder: Path) -> list[tuple[str, os.DirEntry]]:
    """(relative posix path, entry) of PNG files in class folders below `folder`, walking MAX_DEPTH levels."""
    found, pending = [], [(folder, ())]
    while pending:
        current, relative = pending.pop()
        try:
            entries = list(os.scandir(current))
        except OSError as error:
            raise DataError(current, f"cannot list folder: {error.strerror or error}") from None
        for entry in entries:
            inner = relative + (entry.name,)
            if entry.is_dir():
                if len(inner) <= MAX_DEPTH:
                    pending.append((Path(entry.path), inner))
            elif entry.is_file() and _classify("/".join(inner)):
                found.append(("/".join(inner), entry))
    return sorted(found, key=lambda item: item[0])


def _decode_folder(folder: Path, pngs: list[tuple[str, os.DirEntry]]) -> dict[str, _Part]:
    decoded: dict[str, list] = {}
    for relative, entry in pngs:
        root, name = _classify(relative)
        try:
            payload = Path(entry.path).read_bytes() if entry.stat().st_size <= MAX_MEMBER_BYTES else b""
        except OSError:
            payload = b""
        decoded.setdefault(root, []).append((name, relative, _decode_png(payload)))
    return _assemble(folder, decoded, "folder")


def _decode_archive(path: Path) -> dict[str, _Part]:
    decoded: dict[str, list] = {}
    try:
        with tarfile.open(path, "r|gz") as archive:  # one sequential pass: no seeking back
            for member in archive:
                place = _classify(member.name) if member.isfile() else None
                if place is None:
                    continue
                payload = archive.extractfile(member).read() if member.size <= MAX_MEMBER_BYTES else b""
                decoded.setdefault(place[0], []).append((place[1], member.name, _decode_png(payload)))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DataError(path, f"not a readable tar.gz archive ({type(error).__name__}: {error})") from None
    return _assemble(path, decoded, "archive")


def _assemble(path: Path, decoded: dict[str, list], kind: str) -> dict[str, _Part]:
    """Map the class folders found to 'train' (one folder) or 'train'/'test' (two folders named so)."""
    if not decoded:
        raise DataError(path, f"the {kind} holds no class subfolders of PNG images (such as A/, B/, ...)")
    if len(decoded) == 1:
        roles = {"train": next(iter(decoded))}
    else:
        by_name = {PurePosixPath(root).name.lower(): root for root in decoded}
        parents = {PurePosixPath(root).parent for root in decoded}
        if set(by_name) != {"train", "test"} or len(parents) != 1:
            places = ", ".join(sorted(root or "." for root in decoded))
            raise DataError(path, f"class folders in several places ({places}): point at one of them")
        roles = {role: by_name[role] for role in ("train", "test")}
    names = {name for root in roles.values() for name, _, _ in decoded[root]}
    classes = folder_classes(names, path)
    return {role: _stack(path, root if len(roles) > 1 else "", decoded[root], classes) for role, root in roles.items()}


def _stack(path: Path, root: str, entries: list, classes: tuple[str, ...]) -> _Part:
    """Sort by (label, file name) so the order does not depend on the archive's or file system's order."""
    labelled = sorted((_label_of(name, classes), relative, pixels) for name, relative, pixels in entries)
    readable = [(label, relative, pixels) for label, relative, pixels in labelled if pixels is not None]
    if not readable:
        raise DataError(_source(path, root), f"none of the {len(entries)} PNG files could be read as an image")
    images = np.stack([pixels for _, _, pixels in readable])
    labels = np.array([label for label, _, _ in readable], dtype=np.int64)
    fonts = font_names([PurePosixPath(relative).stem for _, relative, _ in readable])
    return _Part(root, images, labels, len(entries) - len(readable), classes, fonts)


def font_names(stems: list[str]) -> np.ndarray:
    """The fonts that notMNIST-style file names name (each stem the base64 of a font file's name, such as
    'Q3Jvc3NvdmVy.png'), decoded; an empty array when any stem is not such a name."""
    names = []
    for stem in stems:
        try:
            names.append(base64.b64decode(stem, validate=True).decode("utf-8"))
        except (binascii.Error, UnicodeDecodeError):
            return np.array([], dtype=str)
        if not names[-1].isprintable():
            return np.array([], dtype=str)
    return np.array(names, dtype=str)


def _source(path: Path, root: str) -> str:
    """The name a part is reported by: the path itself, or path/root for a train or test folder in it."""
    return f"{path}/{root}" if root else str(path)


def _letter_images(path: Path, part: _Part) -> LetterImages:
    images = LetterImages(part.images, part.labels, _source(path, part.root), skipped=part.skipped,
                          classes=part.classes, named=True)
    return images.with_fonts(part.fonts, FONTS_FROM_NAMES) if len(part.fonts) else images


# --- cache: decoded arrays as .npz (never pickle), keyed by content ---------------------------------------

def _archive_key(path: Path) -> str:
    digest = hashlib.sha256(CACHE_VERSION)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as error:
        raise DataError(path, f"cannot read: {error.strerror or error}") from None
    return "tar-" + digest.hexdigest()


def _listing_key(pngs: list[tuple[str, os.DirEntry]]) -> str:
    digest = hashlib.sha256(CACHE_VERSION)
    for relative, entry in pngs:
        stat = entry.stat()
        digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return "folder-" + digest.hexdigest()


def _cache_load(key: str) -> dict[str, _Part] | None:
    """The cached parts, or None when absent or unreadable (then the source is decoded again)."""
    path = cache_dir() / f"{key}.npz"
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {role: _Part(str(stored[f"{role}_root"]), stored[f"{role}_images"], stored[f"{role}_labels"],
                                int(stored[f"{role}_skipped"]), tuple(stored[f"{role}_classes"].tolist()),
                                stored[f"{role}_fonts"])
                    for role in ("train", "test") if f"{role}_images" in stored.files}
    except Exception as error:  # a damaged cache file must never stop a load
        log.debug("ignoring unreadable cache file %s: %s", path, error)
        return None


def _cache_store(key: str, parts: dict[str, _Part]) -> dict[str, _Part]:
    """Save `parts` atomically (temp file, then rename); a cache that cannot be written is skipped."""
    folder = cache_dir()
    arrays = {}
    for role, part in parts.items():
        arrays.update({f"{role}_root": np.array(part.root), f"{role}_images": part.images,
                       f"{role}_labels": part.labels, f"{role}_skipped": np.array(part.skipped),
                       f"{role}_classes": np.array(part.classes), f"{role}_fonts": part.fonts})
    temporary = folder / f".{key}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(temporary, folder / f"{key}.npz")
    except OSError as error:
        log.debug("not caching decoded images in %s: %s", folder, error)
        temporary.unlink(missing_ok=True)
    return parts

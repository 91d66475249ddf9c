"""Download the data sets letterlab knows by name (`known_datasets`): resumable (HTTP Range into a .part file),
size and checksum checked (the published md5/sha256, or the sha256 recorded on first download), then verified
as data before a file takes its final name."""

from __future__ import annotations

import hashlib
import http.client
import re
import shutil
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

from letterlab.data.known_datasets import KNOWN_DATASETS, KnownDataset, RemoteFile, data_home, extracted_name
from letterlab.errors import DataError

CHUNK_BYTES = 1 << 16
TIMEOUT_S = 30
RECORDED_SUFFIX = ".sha256"  # beside a file without a published checksum: the sha256 of its first download


def download_dataset(name: str, *, url: str | None = None, out: str | Path | None = None, sha256: str | None = None,
                     extract: bool = False, progress: bool | None = None) -> tuple[Path, int]:
    """Fetch data set `name` into folder `out` (default: the data folder `--data NAME` reads); returns (the path
    the loaders read, the images it holds: PNG files for an archive). `url`: a mirror, the file's URL (or, for
    a data set of several files, the folder URL holding them). Files already there are only checked. `extract`
    unpacks an archive beside it. `progress` defaults to stderr being a TTY."""
    if name not in KNOWN_DATASETS:
        raise DataError(name, f"unknown data set; choose one of {', '.join(KNOWN_DATASETS)}")
    dataset = KNOWN_DATASETS[name]
    files = _from_mirror(dataset, url) if url else dataset.files
    if sha256 and len(files) > 1:
        raise DataError(name, f"--sha256 checks one file, and this data set has {len(files)}")
    out = Path(out) if out is not None else data_home()
    show = sys.stderr.isatty() if progress is None else progress
    for remote in files:
        target = out / dataset.folder / remote.name
        _download_file(replace(remote, sha256=sha256) if sha256 else remote, target, show)
        if remote.extract:
            _extract_members(target, remote.extract, out / dataset.load)
    path = out / dataset.load
    from letterlab.data.folder import check_letter_archive, is_tar_archive

    if is_tar_archive(path):
        count = check_letter_archive(path)
        if extract:
            _extract(path)
        return path, count
    if extract:
        raise DataError(name, "--extract unpacks a .tar.gz; this data set is not one")
    from letterlab.data.registry import load_data

    loaded = load_data(path)
    return path, len(loaded.train) + (len(loaded.test) if loaded.test is not None else 0)


def _from_mirror(dataset: KnownDataset, url: str) -> tuple[RemoteFile, ...]:
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise DataError(url, "only http:// and https:// URLs are supported")
    if len(dataset.files) == 1:
        return (replace(dataset.files[0], url=url),)
    return tuple(replace(remote, url=url.rstrip("/") + "/" + remote.name) for remote in dataset.files)


def _download_file(remote: RemoteFile, target: Path, progress: bool) -> None:
    """`target` fetched (unless there), checksummed and verified as data; a bad download never takes its name."""
    recorded = target.with_name(target.name + RECORDED_SUFFIX)
    published = bool(remote.md5 or remote.sha256)
    if target.exists():
        _check_digests(target, remote, recorded, delete_on_mismatch=False)
        if not published and not recorded.exists():  # fetched before letterlab recorded checksums
            recorded.write_text(f"{_digest(target, 'sha256')}  {target.name}\n")
        return
    part = target.with_name(target.name + ".part")
    _fetch(remote.url, part, progress)
    _check_digests(part, remote, None, delete_on_mismatch=True)
    try:
        _verify(part, target.name)
    except DataError as error:
        part.unlink()
        raise DataError(remote.url, f"the download is not {_kind(target.name)} and was deleted ({error.problem})") from None
    part.replace(target)
    if not published:
        recorded.write_text(f"{_digest(target, 'sha256')}  {target.name}\n")


def _kind(name: str) -> str:
    lower = name.lower()
    return "a notMNIST archive" if lower.endswith((".tar.gz", ".tgz")) else "a zip archive" if lower.endswith(".zip") else "an idx file"


def _verify(part: Path, name: str) -> None:
    """DataError unless `part` (to be called `name`) reads as what its name says."""
    from letterlab.data.folder import check_letter_archive, is_tar_archive

    lower = name.lower()
    if is_tar_archive(Path(lower)):
        check_letter_archive(part)
    elif lower.endswith(".zip"):
        try:
            with zipfile.ZipFile(part) as archive:
                archive.infolist()
        except (zipfile.BadZipFile, OSError) as error:
            raise DataError(part, f"not a readable zip archive ({error})") from None
    else:
        from letterlab.data.idx import check_idx_file

        check_idx_file(part, name)


def _extract_members(archive_path: Path, members: tuple[str, ...], folder: Path) -> None:
    """Copy `members` of a zip into `folder` (each under its own file name), those not there yet."""
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for member in members:
                destination = folder / extracted_name(member)
                if destination.exists():
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                temporary = destination.with_name(destination.name + ".part")
                with archive.open(member) as source, open(temporary, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                temporary.replace(destination)
    except KeyError:
        raise DataError(archive_path, f"lacks the member {member}") from None
    except (zipfile.BadZipFile, OSError) as error:
        raise DataError(archive_path, f"cannot extract ({type(error).__name__}: {error})") from None


def _fetch(url: str, part: Path, progress: bool) -> None:
    """Append the rest of `url` to `part` (asking for a Range when part of it is there), checking the size."""
    from tqdm import tqdm

    part.parent.mkdir(parents=True, exist_ok=True)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset and _range_total(error.headers.get("Content-Range")) == offset:
            return  # the .part file already holds the whole file
        raise DataError(url, f"download failed: HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise DataError(url, f"download failed: {getattr(error, 'reason', error)}") from None
    with response:
        length = response.headers.get("Content-Length")
        if response.status == 206 and _range_start(response.headers.get("Content-Range")) == offset:
            total = _range_total(response.headers.get("Content-Range"))
        else:  # the server sent the whole file: start again from the beginning
            offset, total = 0, None
        if total is None and length is not None:
            total = offset + int(length)
        try:
            with open(part, "ab" if offset else "wb") as sink, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=part.name.removesuffix(".part"), disable=not progress,
            ) as bar:
                while chunk := response.read(CHUNK_BYTES):
                    sink.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            raise DataError(url, f"download interrupted ({type(error).__name__}: {error}); run again to resume") from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise DataError(url, f"download incomplete: {size} of {total} bytes; run again to resume")


def _range_start(content_range: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/", content_range or "")
    return int(match.group(1)) if match else None


def _range_total(content_range: str | None) -> int | None:
    match = re.match(r"bytes (?:\d+-\d+|\*)/(\d+)$", content_range or "")
    return int(match.group(1)) if match else None


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_digests(path: Path, remote: RemoteFile, recorded: Path | None, *, delete_on_mismatch: bool) -> None:
    """The published md5 and sha256 of `remote`, or the sha256 recorded at `recorded`, must match `path`."""
    expected = [("md5", remote.md5), ("sha256", remote.sha256)]
    if not (remote.md5 or remote.sha256) and recorded is not None and recorded.exists():
        expected = [("sha256", recorded.read_text().split()[0])]
    for algorithm, value in expected:
        if not value:
            continue
        got = _digest(path, algorithm)
        if got != value.strip().lower():
            note = "; the partial download was deleted" if delete_on_mismatch else ""
            if delete_on_mismatch:
                path.unlink()
            raise DataError(path, f"{algorithm} mismatch: expected {value}, got {got}{note}")


def _extract(archive_path: Path) -> None:
    """Extract beside the archive with tarfile's 'data' filter; refuse to overwrite what is already there."""
    destination = archive_path.parent
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            tops = sorted({PurePosixPath(name).parts[0] for name in archive.getnames() if name.strip("/")})
            existing = [top for top in tops if (destination / top).exists()]
            if existing:
                raise DataError(destination / existing[0], "already exists; not extracting over it")
            archive.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise DataError(archive_path, f"cannot extract ({type(error).__name__}: {error})") from None

"""Download notMNIST archives: resumable (HTTP Range into a .part file), size and sha256 checked, then verified."""

from __future__ import annotations

import hashlib
import http.client
import re
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from letterlab.errors import DataError

URLS = {
    "notmnist-small": "http://yaroslavvb.com/upload/notMNIST/notMNIST_small.tar.gz",
    "notmnist-large": "http://yaroslavvb.com/upload/notMNIST/notMNIST_large.tar.gz",
}
CHUNK_BYTES = 1 << 16
TIMEOUT_S = 30


def download_dataset(name: str, *, url: str | None = None, out: str | Path = ".", sha256: str | None = None,
                     extract: bool = False, progress: bool | None = None) -> tuple[Path, int]:
    """Fetch data set `name` (or `url`) into folder `out`; returns (archive path, PNG images it holds).
    An archive already there is not fetched again, only checked. `progress` defaults to stderr being a TTY."""
    if url is None:
        if name not in URLS:
            raise DataError(name, f"unknown data set; choose one of {', '.join(URLS)} or give --url")
        url = URLS[name]
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        raise DataError(url, "only http:// and https:// URLs are supported")
    target = Path(out) / (PurePosixPath(urllib.parse.urlparse(url).path).name or f"{name}.tar.gz")
    from letterlab.data.folder import check_letter_archive

    if not target.exists():
        part = target.with_name(target.name + ".part")
        _fetch(url, part, sys.stderr.isatty() if progress is None else progress)
        if sha256:
            _check_sha256(part, sha256, delete_on_mismatch=True)
        try:  # a broken download (an error page, a body cut short) never takes the final name
            count = check_letter_archive(part)
        except DataError as error:
            part.unlink()
            raise DataError(url, f"the download is not a notMNIST archive and was deleted ({error.problem})") from None
        part.replace(target)
    else:
        if sha256:
            _check_sha256(target, sha256, delete_on_mismatch=False)
        count = check_letter_archive(target)
    if extract:
        _extract(target)
    return target, count


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


def _check_sha256(path: Path, expected: str, *, delete_on_mismatch: bool) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected.strip().lower():
        note = "; the partial download was deleted" if delete_on_mismatch else ""
        if delete_on_mismatch:
            path.unlink()
        raise DataError(path, f"sha256 mismatch: expected {expected}, got {digest.hexdigest()}{note}")


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

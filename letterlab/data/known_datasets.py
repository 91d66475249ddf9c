"""Data sets letterlab knows by name, for `letterlab data download NAME` and `--data NAME`: where each one's
files come from, their published checksums, where a download puts them and the data set's class names.

A download goes to the data folder ($LETTERLAB_CACHE/datasets, default ~/.cache/letterlab/datasets) unless
told otherwise; `--data NAME` reads it from there. A file without a published checksum gets its sha256
recorded beside it on first download (`<file>.sha256`), and every later use checks the file against it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from letterlab.data.cache import cache_dir

MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"  # yann.lecun.com/exdb/mnist refuses downloads
FASHION_MNIST = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set. `md5`/`sha256`: as the data set's publishers give them (None: not published,
    recorded on first download). `extract`: zip members to copy out into the data set's folder."""

    url: str
    md5: str | None = None
    sha256: str | None = None
    extract: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class KnownDataset:
    """`files` go to `folder` (below the download folder); `load` is what the loaders read (relative to the
    download folder); `classes` name the classes of files that carry no names (None: the files name them)."""

    name: str
    description: str
    files: tuple[RemoteFile, ...]
    folder: str
    load: str
    classes: tuple[str, ...] | None = None


def _idx_set(base: str, md5s: tuple[str, ...]) -> tuple[RemoteFile, ...]:
    return tuple(RemoteFile(base + name, md5=md5) for name, md5 in zip(IDX_FILES, md5s))


_EMNIST_MEMBERS = tuple(f"gzip/emnist-letters-{part}-{kind}-ubyte.gz" for part in ("train", "test")
                        for kind in ("images-idx3", "labels-idx1"))

KNOWN_DATASETS = {d.name: d for d in (
    KnownDataset("notmnist-small", "notMNIST small: 18,726 PNGs of letters A-J from 1,873 fonts (hand-cleaned)",
                 (RemoteFile("http://yaroslavvb.com/upload/notMNIST/notMNIST_small.tar.gz"),), "", "notMNIST_small.tar.gz"),
    KnownDataset("notmnist-large", "notMNIST large: about 530,000 PNGs of letters A-J (not cleaned)",
                 (RemoteFile("http://yaroslavvb.com/upload/notMNIST/notMNIST_large.tar.gz"),), "", "notMNIST_large.tar.gz"),
    KnownDataset("emnist-letters", "EMNIST letters: 145,600 handwritten letters A-Z (upper and lower case merged), "
                                   "train 124,800 / test 20,800",
                 (RemoteFile("https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip", md5="58c8d27c78d21e728a6bc7b3cc06412e",
                             extract=_EMNIST_MEMBERS),), "emnist", "emnist-letters"),  # its idx names say A-Z
    KnownDataset("mnist", "MNIST: 70,000 handwritten digits 0-9, train 60,000 / test 10,000",
                 _idx_set(MNIST_MIRROR, ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                                         "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c")),
                 "mnist", "mnist", tuple("0123456789")),
    KnownDataset("fashion-mnist", "Fashion-MNIST: 70,000 images of 10 kinds of clothing, train 60,000 / test 10,000",
                 _idx_set(FASHION_MNIST, ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                                          "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310")),
                 "fashion-mnist", "fashion-mnist",
                 ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
)}


def data_home() -> Path:
    """Where `letterlab data download` puts known data sets by default, and `--data NAME` reads them."""
    return cache_dir() / "datasets"


def extracted_name(member: str) -> str:
    """The file name a zip member is copied out as."""
    return member.rsplit("/", 1)[-1]

"""Reading and writing volumes with their geometry.

Array convention used throughout nnunetv2_cta (the same as nnU-Net's ``SimpleITKIO``): a volume is a
numpy array indexed ``[z, y, x]`` (slice, row, column) and :attr:`Geometry.spacing` is given in that same
axis order, in millimetres. ``origin`` and ``direction`` are kept exactly as ITK stores them (x, y, z
world order, LPS), because they are only passed through to the writer and to world-coordinate helpers.

Writes are atomic, and this module holds the package's only atomic writer: a file (or a folder) is
written under a hidden temporary name in the destination folder (``.tmp_<name>_<random><ending>``),
flushed and fsynced, given the permissions a plain ``open`` would give (``0o666 & ~umask`` for files,
``0o777 & ~umask`` for folders: 0644/0755 under umask 022, not ``mkstemp``'s 0600) and renamed into place
with ``os.replace``. An interrupted or failing write removes its temporary and never leaves a truncated file
that looks complete.

* :func:`atomic_write` — a context manager yielding an open file (text or binary);
* :func:`write_text_atomic`, :func:`write_json_atomic` — one call on top of it;
* :func:`atomic_path` — a context manager yielding a temporary *path* with the final ending, for writers
  that only take a file name (SimpleITK, matplotlib, nibabel);
* :func:`atomic_folder` — build a folder under a temporary name, rename it into place at the end;
  :func:`temporary_sibling` / :func:`publish` are its two halves for writers that open and finish in
  different methods.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from nnunetv2_cta.errors import (
    ConfigurationError,
    DatasetFormatError,
    GeometryError,
    OutputExistsError,
    OutputLocationError,
    SpacingError,
)

#: File endings SimpleITK reads and writes that nnunetv2_cta accepts for volumes.
VOLUME_ENDINGS: tuple[str, ...] = (".nii.gz", ".nii", ".mha", ".mhd", ".nrrd", ".nhdr")
#: gzip level of written ``.nii.gz`` volumes (1: about 3x faster than SimpleITK's default, files ~10 % larger)
GZIP_LEVEL = 1
#: uncompressed bytes per gzip member (each compressed on its own thread)
GZIP_CHUNK = 8 * 2**20


@dataclass(frozen=True)
class Geometry:
    """Voxel grid of a volume.

    Attributes:
        spacing: voxel size in mm, in array axis order ``(z, y, x)``.
        origin: world position of voxel ``[0, 0, 0]`` in mm, ITK order ``(x, y, z)``.
        direction: 3x3 direction cosine matrix, row-major, ITK order (9 floats).
    """

    spacing: tuple[float, float, float]
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

    def __post_init__(self) -> None:
        spacing = tuple(float(s) for s in self.spacing)
        if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise SpacingError(f"spacing must be three positive finite numbers in mm, got {self.spacing!r}")
        if len(self.origin) != 3 or len(self.direction) != 9:
            raise GeometryError(
                f"origin must have 3 and direction 9 values, got {len(self.origin)} and {len(self.direction)}"
            )
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", tuple(float(o) for o in self.origin))
        object.__setattr__(self, "direction", tuple(float(d) for d in self.direction))

    def index_to_world(self, index_zyx: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """World coordinates (mm, ITK ``(x, y, z)`` order) of voxel indices given as ``(..., 3)`` in z, y, x."""
        idx = np.asarray(index_zyx, dtype=np.float64)[..., ::-1]  # -> x, y, z
        scaled = idx * np.asarray(self.spacing[::-1])
        return scaled @ np.asarray(self.direction).reshape(3, 3).T + np.asarray(self.origin)

    def world_to_index(self, world_xyz: np.ndarray | tuple[float, float, float]) -> np.ndarray:
        """Fractional voxel indices ``(..., 3)`` in z, y, x of world points (mm, ITK ``(x, y, z)``); the inverse
        of :meth:`index_to_world`."""
        rel = np.asarray(world_xyz, dtype=np.float64) - np.asarray(self.origin)
        scaled = rel @ np.linalg.inv(np.asarray(self.direction).reshape(3, 3).T)
        return (scaled / np.asarray(self.spacing[::-1]))[..., ::-1]

    def mismatch(self, other: Geometry, *, atol: float = 1e-3) -> str | None:
        """Return a sentence describing how ``other`` differs from this grid, or ``None`` if it matches."""
        for name in ("spacing", "origin", "direction"):
            a, b = np.asarray(getattr(self, name)), np.asarray(getattr(other, name))
            if not np.allclose(a, b, atol=atol, rtol=1e-5):
                return f"{name} {_fmt(b)} != {_fmt(a)}"
        return None


def _fmt(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in np.round(values, 4))


def check_same_grid(
    ref: tuple[np.ndarray, Geometry], other: tuple[np.ndarray, Geometry], *, what: str = "image"
) -> None:
    """Raise :class:`GeometryError` naming the difference if two volumes do not share one voxel grid."""
    (a, ga), (b, gb) = ref, other
    if a.shape != b.shape:
        raise GeometryError(f"{what}: shape {b.shape} != reference shape {a.shape}")
    diff = ga.mismatch(gb)
    if diff is not None:
        raise GeometryError(f"{what}: {diff} (reference)")


def has_volume_ending(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(VOLUME_ENDINGS)


def strip_volume_ending(name: str) -> str:
    """``'case_001_0000.nii.gz'`` -> ``'case_001_0000'``."""
    for ending in VOLUME_ENDINGS:
        if name.lower().endswith(ending):
            return name[: -len(ending)]
    return name


_CHANNEL_SUFFIX = re.compile(r"^(?P<case>.+)_(?P<channel>\d{4})$")


def case_and_channel(name: str, siblings: Collection[str] = ()) -> tuple[str, int]:
    """The case id and channel of a volume file name, by nnU-Net's ``<case>_XXXX<ending>`` rule.

    ``<case>_0000`` is channel 0 of ``<case>``. ``<case>_XXXX`` with ``XXXX`` not 0000 is channel ``XXXX``
    only when ``<case>_0000`` is among ``siblings`` (the other file names of the folder); otherwise the four
    digits belong to the case id (``patient_2024.mha`` is case ``patient_2024``, not channel 2024 of
    ``patient``). Any other name is channel 0 of the case named by the whole stem.

    Example:
        >>> case_and_channel("scan_0000.nii.gz"), case_and_channel("patient_2024.mha")
        (('scan', 0), ('patient_2024', 0))
        >>> case_and_channel("scan_0001.nii.gz", ["scan_0000.nii.gz", "scan_0001.nii.gz"])
        ('scan', 1)
    """
    stem = strip_volume_ending(name)
    match = _CHANNEL_SUFFIX.match(stem)
    if match is None:
        return stem, 0
    case, channel = match["case"], int(match["channel"])
    if channel == 0:
        return case, 0
    first = {strip_volume_ending(s) for s in siblings}
    return (case, channel) if f"{case}_0000" in first else (stem, 0)


def group_case_files(paths: Iterable[str | os.PathLike]) -> dict[str, dict[int, Path]]:
    """Group volume files of one folder into ``{case: {channel: path}}`` (:func:`case_and_channel`), sorted.

    Raises:
        DatasetFormatError: two files give the same case and channel (``a.nii.gz`` and ``a_0000.mha``).
    """
    paths = sorted(Path(p) for p in paths)
    names = [p.name for p in paths]
    cases: dict[str, dict[int, Path]] = {}
    for path in paths:
        case, channel = case_and_channel(path.name, names)
        channels = cases.setdefault(case, {})
        if channel in channels:
            raise DatasetFormatError(
                f"files {channels[channel].name!r} and {path.name!r} in {str(path.parent)!r} both give "
                f"case {case!r} channel {channel:04d}; remove or rename one"
            )
        channels[channel] = path
    return {case: dict(sorted(cases[case].items())) for case in sorted(cases)}


def single_channel(case: str, channels: dict[int, Path]) -> Path:
    """The one file of a single-channel (CT) case from :func:`group_case_files`.

    Raises:
        DatasetFormatError: the case has other channels than 0000 (naming the files and the way to read
            them as separate cases instead).
    """
    if list(channels) == [0]:
        return channels[0]
    extra = ", ".join(f"{c:04d}" for c in channels if c)
    names = ", ".join(p.name for p in channels.values())
    raise DatasetFormatError(
        f"case {case!r}: only single-channel CT input is supported; channel {extra} is not 0000 ({names}). "
        "If these files are separate cases, name each <case>_0000<ending> or <case><ending>"
    )


def read_image(path: str | os.PathLike) -> tuple[np.ndarray, Geometry]:
    """Read a 3D volume (NIfTI, MHA/MHD, NRRD) as a ``[z, y, x]`` array and its :class:`Geometry`.

    Raises:
        DatasetFormatError: the file is missing, unreadable or not 3D.
    """
    import SimpleITK as sitk

    path = Path(path)
    if not path.is_file():
        raise DatasetFormatError(f"no such image file: {str(path)!r}")
    try:
        image = None
        if path.name.lower().endswith(".nii.gz"):
            from nnunetv2_cta._nifti_gz import read_plain_nifti_gz

            direct = read_plain_nifti_gz(path)
            if direct is not None:
                return direct
            image = _read_nifti_gz(path) if _fast_gzip() else None
        if image is None:
            image = sitk.ReadImage(str(path))
    except (RuntimeError, OSError, EOFError) as err:
        raise DatasetFormatError(
            f"cannot read image {str(path)!r}: {str(err).strip().splitlines()[-1]}"
        ) from err
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise DatasetFormatError(
            f"{str(path)!r}: expected a 3D single-channel volume, got dimension {image.GetDimension()} "
            f"with {image.GetNumberOfComponentsPerPixel()} component(s)"
        )
    geometry = Geometry(
        spacing=tuple(image.GetSpacing())[::-1],
        origin=tuple(image.GetOrigin()),
        direction=tuple(image.GetDirection()),
    )
    return sitk.GetArrayFromImage(image), geometry


def write_image(
    path: str | os.PathLike,
    array: np.ndarray,
    geometry: Geometry,
    *,
    compress: bool = True,
    level: int = GZIP_LEVEL,
) -> Path:
    """Write a ``[z, y, x]`` array with its geometry, atomically (temporary file, then rename).

    The file type follows the ending of ``path``; the array's dtype is kept (cast before calling). A
    ``.nii.gz`` is written by SimpleITK uncompressed and gzip-compressed by :func:`gzip_members` (``level``,
    chunks on every core); other compressed formats use SimpleITK's own compression.
    """
    import SimpleITK as sitk

    path = Path(path)
    if array.ndim != 3:
        raise GeometryError(f"write_image expects a 3D [z, y, x] array, got shape {array.shape}")
    if not has_volume_ending(path):
        raise DatasetFormatError(f"{str(path)!r}: ending must be one of {VOLUME_ENDINGS}")
    _check_gzip_level(level)
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    image.SetSpacing(tuple(float(s) for s in geometry.spacing[::-1]))
    image.SetOrigin(geometry.origin)
    image.SetDirection(geometry.direction)
    with atomic_path(path) as tmp:
        if compress and tmp.name.lower().endswith(".nii.gz"):
            raw = tmp.with_name(tmp.name[: -len(".gz")])
            try:
                sitk.WriteImage(image, str(raw), useCompression=False)
                with open(raw, "rb") as source, open(tmp, "wb") as target:
                    data = source.read()
                    for member in gzip_members(data, level):
                        target.write(member)
            finally:
                raw.unlink(missing_ok=True)
        else:
            sitk.WriteImage(image, str(tmp), useCompression=compress)
    return path


# ----------------------------------------------------------------------------------------- gzip, fast


def _fast_gzip():
    """``isal.isal_zlib`` (ISA-L: about 2x faster than zlib at level 1 and when reading) when installed, else
    ``None``."""
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    return isal_zlib


def _check_gzip_level(level) -> None:
    if not isinstance(level, int) or isinstance(level, bool) or level not in range(10):
        raise ConfigurationError(f"gzip level must be an integer 0..9, got {level!r}")


def gzip_members(
    data: bytes | memoryview, level: int = GZIP_LEVEL, *, threads: int | None = None
) -> Iterator[bytes]:
    """``data`` as a sequence of complete gzip members of :data:`GZIP_CHUNK` bytes each, compressed in parallel.

    Concatenated members are one valid gzip file (RFC 1952, section 2.2): zlib's ``gzread`` (SimpleITK, ITK),
    Python's ``gzip`` and nibabel read them as one stream. Compression releases the GIL, so the members are
    compressed on ``threads`` threads (default: the CPU count), in ISA-L when installed, else zlib.

    Example:
        >>> import gzip
        >>> gzip.decompress(b"".join(gzip_members(b"abc" * 10, 1))) == b"abc" * 10
        True
    """
    from concurrent.futures import ThreadPoolExecutor

    _check_gzip_level(level)
    codec = _fast_gzip()
    if codec is not None:
        level = min(level, 3)  # ISA-L has levels 0..3
    else:
        import zlib as codec

    def member(chunk) -> bytes:
        packer = codec.compressobj(level, codec.DEFLATED, 31)  # wbits 16 + 15: a gzip member
        return packer.compress(chunk) + packer.flush()

    view = memoryview(data).cast("B")
    chunks = [view[i : i + GZIP_CHUNK] for i in range(0, max(len(view), 1), GZIP_CHUNK)]
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        yield from pool.map(member, chunks)


def _read_nifti_gz(path: Path):
    """SimpleITK image of a ``.nii.gz``: ISA-L decompresses it into a temporary ``.nii`` that SimpleITK reads
    (about 2x faster than SimpleITK's own zlib reading; the same header handling)."""
    import SimpleITK as sitk
    from isal import igzip

    with tempfile.TemporaryDirectory(prefix="nnunetv2_cta_read_") as folder:
        raw = Path(folder) / (path.name[: -len(".gz")])
        with igzip.open(path, "rb") as source, open(raw, "wb") as target:
            shutil.copyfileobj(source, target, 16 * 2**20)
        return sitk.ReadImage(str(raw))


# --------------------------------------------------------------------------------------- atomic writes
def current_umask() -> int:
    """The process umask, read from ``/proc/self/status`` where Linux offers it.

    The fallback (``os.umask`` set and restored) briefly changes the umask for every thread of the process.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _ending(name: str) -> str:
    """The ending a temporary must keep so writers choose the same format: volume endings, else the suffix."""
    lower = name.lower()
    return next((name[-len(e) :] for e in VOLUME_ENDINGS if lower.endswith(e)), Path(name).suffix)


def temporary_sibling(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Create an empty hidden file (or folder) next to ``path`` to be filled, then :func:`publish` ed.

    The name is ``.tmp_<name>_<random><ending>`` (the ending of ``path``, so writers that choose the format
    from the file name choose the same one). The parent folder is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ending = "" if folder else _ending(path.name)
    prefix = f".tmp_{path.name[: len(path.name) - len(ending)]}_"
    if folder:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent))
    fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=ending, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def publish(tmp: str | os.PathLike, path: str | os.PathLike, *, replace: bool = True) -> Path:
    """Move a finished temporary from :func:`temporary_sibling` to ``path``, with the umask's permissions.

    A file is fsynced, made ``0o666 & ~umask`` and renamed over ``path`` (an existing file is replaced).
    A folder is made ``0o777 & ~umask`` and renamed to ``path``; an existing folder there is replaced only
    with ``replace=True`` (moved aside, the new one renamed in, the old one deleted), else
    :class:`OutputExistsError`. On any failure the temporary is removed and the error re-raised.
    """
    tmp, path = Path(tmp), Path(path)
    try:
        mask = current_umask()
        if tmp.is_dir():
            os.chmod(tmp, 0o777 & ~mask)
            if path.exists() or path.is_symlink():
                if not replace:
                    raise OutputExistsError(
                        f"{str(path)!r} exists; pass overwrite (--overwrite) to replace it"
                    )
                if not path.is_dir():
                    raise OutputExistsError(f"{str(path)!r} exists and is not a folder")
                trash = Path(tempfile.mkdtemp(prefix=f".old_{path.name}_", dir=path.parent))
                os.replace(path, trash / path.name)
                os.replace(tmp, path)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(tmp, path)
        else:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp, 0o666 & ~mask)
            os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise
    return path


def discard(tmp: str | os.PathLike) -> None:
    """Remove an unpublished temporary file or folder (nothing when it is already gone)."""
    tmp = Path(tmp)
    if tmp.is_dir() and not tmp.is_symlink():
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path (same folder, same ending) to write; it becomes ``path`` when the block ends.

    For writers that only take a file name. The temporary is removed if the block raises.

    Example:
        >>> with atomic_path(out / "mip.png") as tmp:   # doctest: +SKIP
        ...     fig.savefig(tmp, format="png")
    """
    tmp = temporary_sibling(path)
    try:
        yield tmp
    except BaseException:
        discard(tmp)
        raise
    publish(tmp, path)


@contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None
) -> Iterator[IO[Any]]:
    """Open a temporary next to ``path`` for writing; it replaces ``path`` when the block ends without error.

    Args:
        path: the final file (its folder is created when missing).
        mode: ``"wb"`` (binary) or ``"w"`` (text, ``encoding`` default UTF-8).
        encoding, newline: as for :func:`open` (text mode only).

    Example:
        >>> with atomic_write(out / "summary.csv", "w", newline="") as handle:   # doctest: +SKIP
        ...     csv.writer(handle).writerows(rows)
    """
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_write mode must be 'w', 'wt' or 'wb', got {mode!r}")
    if "b" in mode and (encoding is not None or newline is not None):
        raise ValueError("atomic_write: encoding and newline are for text mode ('w') only")
    text = {} if "b" in mode else {"encoding": encoding or "utf-8", "newline": newline}
    with atomic_path(path) as tmp, open(tmp, mode, **text) as handle:
        yield handle
        handle.flush()


def write_text_atomic(path: str | os.PathLike, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`); returns the path."""
    with atomic_write(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = 2, **dumps: Any) -> Path:
    """Write ``json.dumps(obj, indent=indent, **dumps)`` to ``path`` atomically; returns the path.

    The text is built before the file is opened, so an object that cannot be serialised writes nothing.
    """
    return write_text_atomic(path, json.dumps(obj, indent=indent, **dumps))


def json_default(value):
    """``default=`` for :func:`json.dumps`: numpy scalars -> Python numbers, arrays -> lists, paths -> str.

    Anything else raises ``TypeError`` naming its type, e.g. ``json_default(object())``.
    """
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


@contextmanager
def atomic_folder(path: str | os.PathLike, *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to ``path``; it becomes ``path`` when the block ends without error.

    ``replace=True`` replaces an existing folder at ``path`` (only once the new one is complete); without it
    an existing ``path`` raises :class:`OutputExistsError` at the end (check earlier to fail before the
    work). The temporary folder and everything in it are removed if the block raises.
    """
    tmp = temporary_sibling(path, folder=True)
    try:
        yield tmp
    except BaseException:
        discard(tmp)
        raise
    publish(tmp, path, replace=replace)


# --------------------------------------------------------------------------------- output checks (early)
def check_output_folder(path: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Check, before any work, that ``path`` is or can become a folder this process can write into.

    Nothing is created: the nearest existing folder on the way is probed with a temporary file (so a
    read-only mount, a full quota of inodes or missing permissions show up, also for root).

    Raises:
        OutputLocationError: ``path`` is an existing file, lies below a file, or is not writable.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputLocationError(f"{what} {str(path)!r} is an existing file; give a folder")
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputLocationError(f"{what} {str(path)!r} cannot be created: {str(probe)!r} is a file")
    try:
        fd, name = tempfile.mkstemp(prefix=".write_test_", dir=probe)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        where = "" if probe == path else f" (its nearest existing parent {str(probe)!r})"
        raise OutputLocationError(
            f"{what} {str(path)!r} is not writable{where}: {err.strerror or err}"
        ) from err
    return path


def check_output_file(path: str | os.PathLike, *, what: str = "output file") -> Path:
    """Check, before any work, that the file ``path`` can be written (its folder may not exist yet).

    Raises:
        OutputLocationError: ``path`` is an existing folder, or its folder cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputLocationError(f"{what} {str(path)!r} is an existing folder; give a file name")
    check_output_folder(path.parent, what=f"folder of the {what} {str(path)!r}")
    return path

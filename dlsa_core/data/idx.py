"""Reader and writer for the IDX format of MNIST and Fashion-MNIST (optionally gzipped).

The format: 2 zero bytes, a dtype code, the number of dimensions, then each dimension as a
big-endian uint32, then the raw data in row-major order.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

_CODES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {np.dtype(v).newbyteorder("=") if v.itemsize > 1 else v: k for k, v in _CODES.items()}


class IDXError(ValueError):
    """A file is not a valid IDX file."""


def _open(path: Path):
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip-compressed).

    Returns
    -------
    np.ndarray
        Array with the file's shape, in native byte order (uint8 for MNIST images and labels).

    Raises
    ------
    IDXError
        On a bad magic number, an unknown dtype code, or a payload of the wrong size.
    """
    path = Path(path)
    with _open(path) as fh:
        try:
            raw = fh.read()
        except (OSError, EOFError) as exc:
            raise IDXError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise IDXError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _CODES:
        raise IDXError(f"{path}: unknown IDX dtype code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _CODES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IDXError(f"{path}: payload has {len(raw) - header} bytes, shape {shape} needs {expected}")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip when ``compress`` is true or the name ends in ``.gz``."""
    path = Path(path)
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder("=") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in _CODE_OF:
        raise IDXError(f"dtype {array.dtype} cannot be stored in IDX")
    code = _CODE_OF[dtype]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=_CODES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") if compress else open(path, "wb") as fh:
        fh.write(payload)
    return path

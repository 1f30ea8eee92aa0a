"""Reading zips that may be hostile, allocating no more than they may hold.

An uploaded export is a zip, and its arrays.npz is a zip of .npy files. Neither is trusted:

- the central directory's entry count is checked before `zipfile` parses it (each entry becomes a
  ZipInfo object);
- a member's declared size (ZipInfo.file_size) and compression ratio are checked before it is read,
  and only stored or deflated members are read: `zipfile` decompresses other methods without a
  bound on the output;
- members are read in bounded chunks (`ZipExtFile.read(n)` decompresses at most n bytes at a time,
  whereas `ZipFile.read` decompresses the whole member in one call whatever its header says) and
  never past their declared size;
- an array's header (shape, dtype) is read and handed to the caller before its data: the caller
  checks it, and only then `read_array` allocates the array. Object dtypes are never loaded, so no
  pickle is ever run.

Every refusal is an `ExportError` naming the file and the field.
"""

from __future__ import annotations

import io
import lzma
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, cast

import numpy as np
from numpy.lib import format as npy

CHUNK = 64 * 1024  # bytes decompressed per read
MAX_DIRECTORY_BYTES = 64 * 1024  # a central directory listing a few dozen entries is a few KiB
NPY_HEADER_BYTES = 4096  # np.save writes 128 bytes for the arrays of an export
_EOCD = b"PK\x05\x06"
# What zipfile may raise on a damaged or hostile zip (an ExportError is raised before these).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    NotImplementedError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    lzma.LZMAError,
    struct.error,
    OverflowError,
)


class ExportError(ValueError):
    """An exported run that is refused. `file` is the file (e.g. "arrays.npz"), `field` the array,
    column or key at fault ("" when the whole file is), and the message says what is allowed."""

    def __init__(self, file: str, field: str, message: str):
        self.file = file
        self.field = field
        super().__init__(f"{file}: {message}")


def mib(n: float) -> str:
    """Bytes as a person reads them."""
    return f"{n / 2**20:.3g} MB" if n >= 2**20 else f"{n / 1024:.3g} KB" if n >= 1024 else f"{n:.0f} bytes"


# ---- zips ------------------------------------------------------------------------------------------


def open_zip(data: bytes | bytearray, file: str, max_members: int) -> zipfile.ZipFile:
    """`data` as a ZipFile, once its central directory is known to list at most `max_members`."""
    _check_directory(data, file, max_members)
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as e:
        raise ExportError(file, "", f"not a zip file ({_short(e)})") from None
    if len(z.infolist()) > max_members:  # the end record can understate (zip64)
        z.close()
        raise ExportError(file, "", f"lists {len(z.infolist())} entries; at most {max_members} allowed")
    return z


def _check_directory(data: bytes | bytearray, file: str, max_members: int) -> None:
    """Refuse a central directory that lists too many entries, before zipfile parses it."""
    at = data.rfind(_EOCD, max(0, len(data) - 22 - 65535))
    if at < 0 or at + 22 > len(data):
        return  # no end record: zipfile will say it is not a zip
    entries, size = struct.unpack_from("<HI", data, at + 10)  # total entries, directory size
    if entries > max_members or size > MAX_DIRECTORY_BYTES:
        raise ExportError(
            file,
            "",
            f"its directory lists {entries} entries ({mib(size)}); an export "
            f"holds a few files (at most {max_members} entries)",
        )


def check_packed(info: zipfile.ZipInfo, file: str, limit: int, max_ratio: float, ratio_floor: int) -> None:
    """Refuse a member by what its header declares, before reading any of it."""
    if info.flag_bits & 0x1:
        raise ExportError(file, "", "is encrypted; exports are not")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ExportError(
            file, "", "uses a compression method other than deflate or none (the app writes deflate)"
        )
    if info.file_size > limit:
        raise ExportError(
            file, "size", f"unpacks to {mib(info.file_size)}; at most {mib(limit)} allowed here"
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > ratio_floor and ratio > max_ratio:
        raise ExportError(
            file,
            "size",
            f"unpacks to {ratio:.0f} times its packed size "
            f"({mib(info.file_size)} from {mib(info.compress_size)}); at most "
            f"{max_ratio:g} times allowed",
        )


def _reader(f: IO[bytes]) -> zipfile.ZipExtFile:
    """ZipFile.open in read mode returns a ZipExtFile; typeshed declares IO[bytes], without readinto."""
    return cast(zipfile.ZipExtFile, f)


def read_member(z: zipfile.ZipFile, info: zipfile.ZipInfo, file: str) -> bytearray:
    """The member's bytes, read in chunks, never more than its declared size (checked beforehand
    with check_packed). A member whose data disagrees with its header is refused."""
    out = bytearray(info.file_size)
    view = memoryview(out)
    pos = 0
    try:
        with z.open(info) as f:
            while pos < len(out):
                n = _reader(f).readinto(view[pos : pos + CHUNK])
                if not n:
                    raise ExportError(
                        file, "size", f"holds {mib(pos)}, less than its zip entry states ({mib(len(out))})"
                    )
                pos += n
    except ExportError:
        raise
    except _ZIP_ERRORS as e:
        raise ExportError(
            file, "size", f"is damaged, or its zip entry states a wrong size ({_short(e)})"
        ) from None
    finally:
        view.release()
    return out


def _short(e: BaseException) -> str:
    text = str(e) or "unreadable"
    return text if len(text) <= 120 else text[:117] + "..."


# ---- .npy arrays inside a zip (an .npz) -------------------------------------------------------------


@dataclass(frozen=True)
class ArrayHeader:
    """What an .npy header declares, before any data is read."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran: bool
    offset: int  # bytes of magic and header before the data

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def npy_header(z: zipfile.ZipFile, info: zipfile.ZipInfo, file: str, name: str) -> ArrayHeader:
    """Read and check one member's .npy header; its data is not read."""
    try:
        with z.open(info) as f:
            version = npy.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = npy.read_array_header_1_0(f, max_header_size=NPY_HEADER_BYTES)
            elif version == (2, 0):
                shape, fortran, dtype = npy.read_array_header_2_0(f, max_header_size=NPY_HEADER_BYTES)
            else:
                raise ExportError(file, name, f"{name} is in .npy format {version}; 1.0 or 2.0 expected")
            offset = f.tell()
    except ExportError:
        raise
    except (*_ZIP_ERRORS, TypeError, SyntaxError) as e:
        raise ExportError(file, name, f"{name} is not a readable .npy array ({_short(e)})") from None
    if dtype.hasobject or dtype.names is not None or dtype.subdtype is not None:
        raise ExportError(
            file,
            name,
            f"{name} has dtype {_dtype(dtype)}; exports hold plain numbers "
            "(object and structured arrays are never loaded)",
        )
    if any(n < 0 for n in shape):
        raise ExportError(file, name, f"{name} has shape {tuple(shape)}, with a negative size")
    header = ArrayHeader(name, tuple(int(n) for n in shape), dtype, bool(fortran), offset)
    if info.file_size != offset + header.nbytes:
        raise ExportError(
            file,
            name,
            f"{name}: its zip entry holds {mib(info.file_size)} but its "
            f"header declares shape {header.shape} of {dtype} ({mib(offset + header.nbytes)})",
        )
    return header


def read_array(z: zipfile.ZipFile, info: zipfile.ZipInfo, header: ArrayHeader, file: str) -> np.ndarray:
    """The array whose header the caller has accepted, read in chunks into one allocation."""
    flat = np.empty(math.prod(header.shape), dtype=header.dtype)
    view = flat.view(np.uint8).reshape(-1).data  # the array's own buffer, as a writable memoryview
    pos, end = 0, header.nbytes
    try:
        with z.open(info) as f:
            f.seek(header.offset)
            while pos < end:
                n = _reader(f).readinto(view[pos : min(pos + CHUNK, end)])
                if not n:
                    raise ExportError(file, header.name, f"{header.name} is truncated")
                pos += n
    except ExportError:
        raise
    except _ZIP_ERRORS as e:
        raise ExportError(file, header.name, f"{header.name} is damaged ({_short(e)})") from None
    finally:
        view.release()
    if header.fortran:
        return flat.reshape(header.shape[::-1]).transpose()
    return flat.reshape(header.shape)


def _dtype(dtype: np.dtype) -> str:
    return "object" if dtype.hasobject else str(dtype)

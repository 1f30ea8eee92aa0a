"""Reading an exported run back, trusting nothing in it (docs/DESIGN.md, section 8.3).

Owns `load_run` (a directory), `load_zip` (the app's download, or any upload) and `from_files`
(the four files' bytes). The app opens exports uploaded by anyone, so the order of reads is the
defence: declared sizes first, then config.json, the .npy headers, summary.json and metrics.csv,
each checked (rnnlab.schema) before the next, and the arrays' data last, in bounded chunks
(rnnlab.safezip). A refusal is an `ExportError` naming the file and the field.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import pandas as pd

from . import safezip
from .config import ConfigError, RunConfig
from .results import CONFIG, METRICS, NPZ, RUN_FILES, SUMMARY, RunResult
from .safezip import ExportError, mib
from .schema import (
    Dims,
    Limits,
    check_arrays,
    check_metrics,
    check_snapshot_steps,
    check_summary,
    json_kind,
    show,
    validate,
)


def load_run(directory: str | Path, limits: Limits | None = None) -> RunResult:
    """Read a run directory written by RunResult.save (or the CLI's --out); see load_zip."""
    d = Path(directory)
    missing = [f for f in RUN_FILES if not (d / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{d}: not a run directory (missing {', '.join(missing)})")
    return _load(_DirSource(d), limits or Limits.from_env())


def load_zip(data: bytes, limits: Limits | None = None) -> RunResult:
    """A run from the app's zip download (or any zip of a run directory's four files).

    Nothing in the zip is trusted: sizes are checked before anything is decompressed and the whole
    export is checked against its schema (`validate`); a refusal is an ExportError naming the file
    and the field. `limits` default to Limits.from_env() (RNNLAB_MAX_UPLOAD_MB).
    """
    limits = limits or Limits.from_env()
    if len(data) > limits.max_bytes:
        raise ExportError("zip", "size", f"is {mib(len(data))}; at most {mib(limits.max_bytes)} allowed here")
    with safezip.open_zip(data, "zip", limits.max_members) as z:
        return _load(_ZipSource(z, limits), limits)


def from_files(files: Mapping[str, bytes], limits: Limits | None = None) -> RunResult:
    """A RunResult from the four exported files' bytes (inverse of RunResult.files)."""
    missing = [f for f in RUN_FILES if f not in files]
    if missing:
        raise ExportError("export", "", f"not a run export (missing {', '.join(missing)})")
    return _load(_BytesSource(files), limits or Limits.from_env())


class _Source(Protocol):
    def size(self, name: str) -> int: ...  # what the file declares (a zip entry's file_size)

    def read(self, name: str, limit: int) -> bytes | bytearray: ...  # refuses more than `limit`


def _load(src: _Source, limits: Limits) -> RunResult:
    """Small files and headers first, each checked before the next read; the arrays' data last."""
    _check_sizes(src, limits)
    cfg = _parse_config(src.read(CONFIG, limits.json_bytes))
    with safezip.open_zip(src.read(NPZ, limits.max_bytes), NPZ, limits.max_members) as z:
        members = _npz_members(z)
        headers = {n: safezip.npy_header(z, info, NPZ, n) for n, info in members.items()}
        dims = check_arrays(cfg, headers)
        total = sum(h.nbytes for h in headers.values()) + sum(src.size(f) for f in (CONFIG, SUMMARY, METRICS))
        if total > limits.max_bytes:
            raise ExportError(
                NPZ,
                "size",
                f"its arrays take {mib(total)} with the other files; at most "
                f"{mib(limits.max_bytes)} allowed here",
            )
        summary = _parse_json(SUMMARY, src.read(SUMMARY, limits.json_bytes))
        check_summary(summary, cfg, dims)
        metrics = _parse_metrics(src, dims, limits)
        check_metrics(metrics, cfg, dims, limits)
        steps = safezip.read_array(z, members["snapshot_steps"], headers["snapshot_steps"], NPZ)
        check_snapshot_steps(steps, cfg)  # the only values checked: read before the large arrays
        arrays = {
            n: steps if n == "snapshot_steps" else safezip.read_array(z, members[n], h, NPZ)
            for n, h in headers.items()
        }
    result = RunResult(cfg, metrics, arrays, summary)
    validate(result, limits)
    return result


def _check_sizes(src: _Source, limits: Limits) -> None:
    """Every file's declared size, and their sum, before anything is read."""
    for name in RUN_FILES:
        most = limits.json_bytes if name in (CONFIG, SUMMARY) else limits.max_bytes
        if src.size(name) > most:
            raise ExportError(
                name, "size", f"unpacks to {mib(src.size(name))}; at most {mib(most)} allowed here"
            )
    total = sum(src.size(f) for f in RUN_FILES)
    if total > limits.max_bytes:
        raise ExportError(
            "export",
            "size",
            f"its files unpack to {mib(total)}; at most {mib(limits.max_bytes)} allowed here",
        )


def _parse_json(file: str, raw: bytes | bytearray) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:  # also UnicodeDecodeError and oversized integers
        raise ExportError(file, "", f"is not valid JSON ({_short(e)})") from None


def _parse_config(raw: bytes | bytearray) -> RunConfig:
    values = _parse_json(CONFIG, raw)
    if not isinstance(values, dict):
        raise ExportError(CONFIG, "", f"holds {json_kind(values)}; expected an object of key: value")
    try:
        return RunConfig.from_dict(values)
    except ConfigError as e:
        raise ExportError(CONFIG, e.key, str(e)) from None


def _parse_metrics(src: _Source, dims: Dims, limits: Limits) -> pd.DataFrame:
    """Bytes bounded by the row count U (known from grad_time's header), rows counted before pandas."""
    most = min(limits.max_bytes, limits.header_bytes + dims.U * limits.line_bytes)
    if src.size(METRICS) > most:
        raise ExportError(
            METRICS,
            "size",
            f"holds {mib(src.size(METRICS))}; a table of U = {dims.U} updates holds at most {mib(most)}",
        )
    raw = src.read(METRICS, most)
    lines = raw.count(b"\n")
    if lines > dims.U + 1:
        raise ExportError(
            METRICS,
            "rows",
            f"holds {lines - 1} rows; expected one per update, U = {dims.U} (grad_time's first dimension)",
        )
    try:
        return pd.read_csv(io.BytesIO(raw), nrows=dims.U + 1)
    except (ValueError, OverflowError, pd.errors.ParserError) as e:  # EmptyData and Unicode errors too
        raise ExportError(METRICS, "", f"is not a readable CSV table ({_short(e)})") from None


def _npz_members(z: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    members: dict[str, zipfile.ZipInfo] = {}
    for info in z.infolist():
        name = info.filename.removesuffix(".npy")
        if name == info.filename or name in members:
            what = "is not an .npy array" if name == info.filename else "appears twice"
            raise ExportError(NPZ, name, f"{show(info.filename)} {what}; an .npz holds one .npy per array")
        members[name] = info
    return members


class _ZipSource:
    """The four files of a zip, found by name at any depth (a zipped run folder works too)."""

    def __init__(self, z: zipfile.ZipFile, limits: Limits):
        self.z, self.limits = z, limits
        self.infos: dict[str, zipfile.ZipInfo] = {}
        for info in z.infolist():
            name = PurePosixPath(info.filename).name
            if name not in RUN_FILES or info.is_dir() or info.filename.startswith("__MACOSX/"):
                continue
            if name in self.infos:
                raise ExportError("zip", name, f"holds two files named {name}")
            self.infos[name] = info
        missing = [f for f in RUN_FILES if f not in self.infos]
        if missing:
            raise ExportError("zip", missing[0], f"not a run export (missing {', '.join(missing)})")
        for name, info in self.infos.items():
            safezip.check_packed(info, name, limits.max_bytes, limits.max_ratio, limits.ratio_floor)

    def size(self, name: str) -> int:
        return self.infos[name].file_size

    def read(self, name: str, limit: int) -> bytearray:
        info = self.infos[name]
        safezip.check_packed(info, name, limit, self.limits.max_ratio, self.limits.ratio_floor)
        return safezip.read_member(self.z, info, name)


class _DirSource:
    def __init__(self, directory: Path):
        self.d = directory

    def size(self, name: str) -> int:
        return (self.d / name).stat().st_size

    def read(self, name: str, limit: int) -> bytes:
        with open(self.d / name, "rb") as f:
            data = f.read(limit + 1)  # the file may have grown since size()
        if len(data) > limit:
            raise ExportError(name, "size", f"holds more than {mib(limit)}; at most that is allowed here")
        return data


class _BytesSource:
    def __init__(self, files: Mapping[str, bytes]):
        self.files = files

    def size(self, name: str) -> int:
        return len(self.files[name])

    def read(self, name: str, limit: int) -> bytes:
        if len(self.files[name]) > limit:
            raise ExportError(
                name, "size", f"holds {mib(len(self.files[name]))}; at most {mib(limit)} allowed here"
            )
        return self.files[name]


def _short(e: BaseException) -> str:
    text = str(e).strip().replace("\n", " ") or "unreadable"
    return text if len(text) <= 120 else text[:117] + "..."

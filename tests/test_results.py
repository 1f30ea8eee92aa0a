"""Exported runs read back: good exports load equal to the original, hostile ones are refused cheaply.

Every hostile export is built here, in the test, and must be refused with an ExportError naming the
file and the field, while allocating no more than a small multiple of the zip's size.

How allocation is measured: `tracemalloc`'s peak over the call to load_zip. It counts every Python
object and every numpy array buffer (numpy reports its allocations to tracemalloc), which is where
a bomb lands: zipfile and zlib hand back decompressed data as bytes objects, np.load allocates the
declared shape as one array, pandas builds numpy columns. It is exact and per call, so it can be
checked in-process for each file. It does not see C-level scratch memory (zlib's window, pandas'
tokenizer buffers), so one test also loads the bombs in a fresh process and checks the growth of
its peak resident memory (`resource.getrusage(...).ru_maxrss`), which sees everything.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from numpy.lib import format as npy

from rnnlab import RunConfig, run
from rnnlab.reading import ExportError, from_files, load_run, load_zip
from rnnlab.results import RunResult
from rnnlab.schema import Limits, validate

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(seq_len=20, hidden=8, steps=4, batch=4, snapshots=3)  # S = 3 snapshots, L = 20, U = 4
MiB = 2**20
# A refusal may cost a fixed allowance (parsing the small files, pandas, the zip's directory) plus a
# small multiple of the file's size; the bombs below would cost 24 MB to 240 GB.
ALLOWANCE = 512 * 1024
FACTOR = 4


@pytest.fixture(scope="module")
def good() -> RunResult:
    r = run(RunConfig(**TINY))
    load_zip(r.to_zip())  # warm up: pandas' and numpy's first-call caches are not the file's cost
    return r


def zip_of(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def npz_of(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def export(good: RunResult, **files: bytes) -> bytes:
    """The good export's zip with some files replaced (keyword names use _ for .)."""
    out = good.files()
    out.update(
        {k.replace("_", ".", 1) if k.endswith(("_json", "_csv", "_npz")) else k: v for k, v in files.items()}
    )
    return zip_of(out)


def with_arrays(good: RunResult, drop: tuple[str, ...] = (), **changes: np.ndarray) -> bytes:
    arrays = {k: v for k, v in good.arrays.items() if k not in drop}
    arrays.update(changes)
    return export(good, arrays_npz=npz_of(arrays))


def with_summary(good: RunResult, summary) -> bytes:
    return export(good, summary_json=json.dumps(summary).encode())


def npy_bytes(header: dict, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, header)
    return buf.getvalue() + data


def lie_about_size(data: bytes, name: str, size: int) -> bytes:
    """The zip with `name`'s uncompressed size in the central directory (what zipfile reads) replaced."""
    out = bytearray(data)
    at = out.rfind(b"PK\x05\x06")
    count, _, start = struct.unpack_from("<HII", out, at + 10)
    pos = start
    for _ in range(count):
        n, m, k = struct.unpack_from("<HHH", out, pos + 28)
        if out[pos + 46 : pos + 46 + n].decode() == name:
            struct.pack_into("<I", out, pos + 24, size)
        pos += 46 + n + m + k
    return bytes(out)


def csv_bomb(good: RunResult, mb: int) -> bytes:
    """metrics.csv: the good header, then `mb` MB of identical rows (deflate packs them ~1000:1)."""
    header = good.files()["metrics.csv"].split(b"\n", 1)[0] + b"\n"
    row = b",".join([b"0"] * len(good.metrics.columns)) + b"\n"
    return header + row * (mb * MiB // len(row))


def refused(
    data: bytes, file: str, field: str | tuple[str, ...], limits: Limits | None = None
) -> ExportError:
    """load_zip(data) raises an ExportError naming `file` and `field`, within the allocation bound."""
    tracemalloc.start()
    try:
        with pytest.raises(ExportError) as info:
            load_zip(data, limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    e = info.value
    fields = (field,) if isinstance(field, str) else field
    assert (e.file, e.field) in [(file, f) for f in fields], (e.file, e.field, str(e))
    assert str(e).startswith(f"{file}: "), str(e)
    if e.field and e.field not in ("size", "rows"):
        assert e.field in str(e), str(e)
    assert peak <= FACTOR * len(data) + ALLOWANCE, (
        f"{peak / MiB:.1f} MiB for a {len(data) / 1024:.0f} KiB file"
    )
    PEAKS[str(e)[:60]] = (len(data), peak)
    return e


PEAKS: dict[str, tuple[int, int]] = {}


@pytest.fixture(scope="module", autouse=True)
def report_peaks():
    yield
    if os.environ.get("RNNLAB_PRINT_PEAKS"):
        for what, (size, peak) in PEAKS.items():
            print(f"\n{size:>10} B file  {peak:>10} B peak  {what}", end="")


# ---- good exports ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cfg",
    [
        dict(TINY),
        dict(TINY, cell="gru"),
        dict(TINY, cell="lstm", task="order"),
        dict(TINY, task="copy", seq_len=5, tbptt=2),  # L = seq_len + 20, several updates per step
        dict(TINY, act="relu", rho=10, seq_len=100, lr=100),  # diverges at step 0
        dict(TINY, steps=0),  # no update: grad_time (0, L), metrics a header
        dict(TINY, omega=1.0),  # omega_term column
    ],
    ids=["rnn", "gru", "lstm", "copy", "diverged", "untrained", "omega"],
)
def test_good_exports_load_equal_to_the_original(cfg, tmp_path):
    r = run(RunConfig(**cfg))
    assert load_zip(r.to_zip()).equals(r)
    assert from_files(r.files()).equals(r)
    assert load_run(r.save(tmp_path / "r")).equals(r)
    validate(r)


def test_a_diverged_and_a_stopped_run_load_with_their_verdicts():
    diverged = run(RunConfig(**dict(TINY, act="relu", rho=10, seq_len=100, lr=100)))
    assert diverged.diverged
    stopped = run(RunConfig(**dict(TINY, steps=10)), on_update=lambda rec: rec["step"] >= 2)
    assert stopped.summary["stopped_early"] and list(stopped.snapshot_steps) == [0, 3]
    for r in (diverged, stopped):
        back = load_zip(r.to_zip())
        assert back.equals(r) and back.verdict == r.verdict


def test_an_old_export_without_verdict_or_heatmap_loads_and_is_judged_from_its_summary(good):
    old = {k: v for k, v in good.summary.items() if k not in ("verdict", "heatmap")}
    back = load_zip(with_summary(good, old))
    assert back.summary == json.loads(json.dumps(old))
    assert back.verdict == good.verdict
    assert back.equals(RunResult(good.config, good.metrics, good.arrays, old))


def test_fortran_ordered_and_big_endian_arrays_load(good):
    arrays = {
        **good.arrays,
        "jacobian": np.asfortranarray(good.arrays["jacobian"]),
        "grad_time": good.arrays["grad_time"].astype(">f8"),
    }
    back = load_zip(with_arrays(good, **arrays))
    assert back.equals(good) and back.arrays["jacobian"].flags.f_contiguous


def test_a_zipped_run_folder_loads(good):
    assert load_zip(zip_of({f"run/{k}": v for k, v in good.files().items()})).equals(good)


# ---- bombs ---------------------------------------------------------------------------------------------


def test_metrics_csv_bomb_is_refused_before_it_is_decompressed(good):
    data = export(good, metrics_csv=csv_bomb(good, 24))
    assert len(data) < 100 * 1024
    e = refused(data, "metrics.csv", "size")
    assert "times its packed size" in str(e)
    # a teacher's smaller byte limit refuses it on its declared size alone
    e = refused(data, "metrics.csv", "size", Limits(max_bytes=16 * MiB, max_ratio=1e9))
    assert "unpacks to 24 MB; at most 16 MB allowed" in str(e)


@pytest.fixture(scope="module")
def zeros_npz(good) -> bytes:
    """The good arrays with a jacobian of 128 MB of zeros, deflated (to about 130 KB)."""
    return npz_of({**good.arrays, "jacobian": np.zeros((2, 4096, 2048))})


def test_an_npz_deflated_twice_is_refused(good, zeros_npz):
    inner = zeros_npz
    data = export(good, arrays_npz=inner)
    assert len(data) < 64 * 1024
    refused(data, "arrays.npz", ("size", "jacobian"))
    # stored without the outer deflate, the ratio passes: the .npy header's shape refuses it
    stored = zip_of({**good.files(), "arrays.npz": inner}, zipfile.ZIP_STORED)
    e = refused(stored, "arrays.npz", "jacobian")
    assert "jacobian has shape (2, 4096, 2048); expected (S, L, L) = (3, 20, 20)" in str(e)


def test_a_member_whose_header_lies_about_its_size_is_read_no_further_than_it_says(good):
    real = export(good, metrics_csv=csv_bomb(good, 48))
    data = lie_about_size(real, "metrics.csv", 700)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert z.getinfo("metrics.csv").file_size == 700
    e = refused(data, "metrics.csv", "size")
    assert "wrong size" in str(e)


def test_an_npz_with_a_huge_declared_shape_is_refused_from_its_header(good):
    header = {"descr": "<f8", "fortran_order": False, "shape": (3, 100_000, 100_000)}  # 240 GB
    inner = zip_of(
        {
            "jacobian.npy": npy_bytes(header, b"\0" * 4096),
            **{f"{k}.npy": _npy(v) for k, v in good.arrays.items() if k != "jacobian"},
        }
    )
    e = refused(export(good, arrays_npz=inner), "arrays.npz", "jacobian")
    assert "(3, 100000, 100000)" in str(e)
    # 1 GiB declared, and the zip entry made to agree with the header: the shape is what refuses it
    header = {"descr": "<f4", "fortran_order": False, "shape": (1, 16384, 16384)}
    inner = zip_of(
        {
            "jacobian.npy": npy_bytes(header, b"\0" * 4096),
            **{f"{k}.npy": _npy(v) for k, v in good.arrays.items() if k != "jacobian"},
        }
    )
    entry = lie_about_size(inner, "jacobian.npy", len(npy_bytes(header)) + 2**30)
    e = refused(export(good, arrays_npz=entry), "arrays.npz", "jacobian")
    assert "jacobian has shape (1, 16384, 16384); expected (S, L, L) = (3, 20, 20)" in str(e)


def test_a_directory_of_a_million_entries_is_refused_before_it_is_parsed(good):
    data = bytearray(zip_of(good.files()))
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, at + 8, 65535, 65535)
    refused(bytes(data), "zip", "")


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def test_max_upload_mb_sets_the_byte_limit(good, monkeypatch):
    monkeypatch.setenv("RNNLAB_MAX_UPLOAD_MB", "0.001")  # 1 KB: smaller than the good export
    assert Limits.from_env().max_bytes == int(0.001 * MiB)
    e = refused(good.to_zip(), "zip", "size")
    assert "allowed here" in str(e)
    monkeypatch.setenv("RNNLAB_MAX_UPLOAD_MB", "nonsense")
    assert Limits.from_env().max_bytes == 64 * MiB
    assert load_zip(good.to_zip()).equals(good)


def test_bombs_do_not_raise_the_peak_resident_memory_of_a_fresh_process(good, zeros_npz, tmp_path):
    """ru_maxrss (the process's peak resident memory) sees C allocations that tracemalloc does not."""
    bombs = {
        "csv": export(good, metrics_csv=csv_bomb(good, 48)),
        "liar": lie_about_size(export(good, metrics_csv=csv_bomb(good, 48)), "metrics.csv", 700),
        "npz": zip_of({**good.files(), "arrays.npz": zeros_npz}, zipfile.ZIP_STORED),
    }
    for name, data in bombs.items():
        (tmp_path / f"{name}.zip").write_bytes(data)
    script = f"""
import resource
from pathlib import Path
from rnnlab.reading import ExportError, load_zip
datas = [f.read_bytes() for f in sorted(Path({str(tmp_path)!r}).glob("*.zip"))]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcome = []
for d in datas:
    try:
        load_zip(d)
        outcome.append("accepted")
    except ExportError as e:
        outcome.append(e.file)
    except Exception as e:
        outcome.append(type(e).__name__)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, *outcome)
"""
    p = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    grew, *outcome = p.stdout.split()
    PEAKS["fresh process: ru_maxrss growth (KiB) over three bombs"] = (
        sum(map(len, bombs.values())),
        int(grew),
    )
    assert outcome == ["metrics.csv", "metrics.csv", "arrays.npz"], outcome  # csv, liar, npz
    assert int(grew) < 16 * 1024, f"peak resident memory grew by {int(grew) / 1024:.0f} MiB"


# ---- object arrays and pickles -------------------------------------------------------------------------

PWNED: list[str] = []


def _pwn() -> None:
    PWNED.append("unpickled")


class _Payload:
    def __reduce__(self):
        return (_pwn, ())


def test_object_and_pickled_arrays_are_never_loaded(good):
    pickled = np.array([_Payload()], dtype=object)
    buf = io.BytesIO()
    np.save(buf, pickled, allow_pickle=True)
    assert b"_pwn" in buf.getvalue()
    inner = zip_of({**{f"{k}.npy": _npy(v) for k, v in good.arrays.items()}, "jacobian.npy": buf.getvalue()})
    e = refused(export(good, arrays_npz=inner), "arrays.npz", "jacobian")
    assert "dtype object" in str(e)
    structured = np.zeros(3, dtype=[("a", "O"), ("b", "<f8")])
    buf = io.BytesIO()
    np.save(buf, structured, allow_pickle=True)
    inner = zip_of({**{f"{k}.npy": _npy(v) for k, v in good.arrays.items()}, "eigvals.npy": buf.getvalue()})
    refused(export(good, arrays_npz=inner), "arrays.npz", "eigvals")
    raw = pickle.dumps(_Payload())  # a member that is a pickle, not an .npy
    inner = zip_of({**{f"{k}.npy": _npy(v) for k, v in good.arrays.items()}, "probe_x.npy": raw})
    refused(export(good, arrays_npz=inner), "arrays.npz", "probe_x")
    assert PWNED == []


# ---- well-formed but invalid exports ------------------------------------------------------------------


def test_summary_that_is_a_list_is_refused(good):
    e = refused(with_summary(good, [1, 2, 3]), "summary.json", "")
    assert "holds a list; expected an object" in str(e)


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("final_loss", "0.3", "a number or null"),
        ("baseline_loss", "abc", "a positive number or null"),
        ("baseline_loss", 0, "a positive number or null"),
        ("diverged_at", "3", "a step"),
        ("nonfinite", "everything", "one of loss, gradient, weights"),
        ("stopped_early", "no", "true or false"),
        ("steps_done", 2.5, "an integer >= 0"),
        ("updates", "4", "an integer >= 0"),
        ("versions", "1.0", "an object"),
        ("verdict", {"kind": "great"}, "an object with a kind"),
        ("heatmap", "spectral", "an object with norm"),
    ],
)
def test_summary_holding_the_wrong_types_is_refused(good, key, value, allowed):
    e = refused(with_summary(good, {**good.summary, key: value}), "summary.json", key)
    assert allowed in str(e)


def test_summary_missing_a_key_or_disagreeing_with_the_arrays_is_refused(good):
    no_loss = {k: v for k, v in good.summary.items() if k != "final_loss"}
    assert "final_loss is missing" in str(refused(with_summary(good, no_loss), "summary.json", "final_loss"))
    e = refused(with_summary(good, {**good.summary, "updates": 7}), "summary.json", "updates")
    assert "grad_time holds U = 4 updates" in str(e)
    refused(with_summary(good, {**good.summary, "steps_done": 99}), "summary.json", "steps_done")


@pytest.mark.parametrize("name", ["jacobian", "snapshot_steps", "grad_time", "W_hh"])
def test_a_missing_array_is_refused(good, name):
    e = refused(with_arrays(good, drop=(name,)), "arrays.npz", name)
    assert f"{name} is missing" in str(e)


def test_an_unknown_array_is_refused(good):
    e = refused(with_arrays(good, weight_hh=good.arrays["W_hh"]), "arrays.npz", "weight_hh")
    assert "not part of an export of a rnn run" in str(e)


def test_shapes_that_disagree_are_refused(good):
    e = refused(with_arrays(good, jacobian=np.zeros((2, 5, 5))), "arrays.npz", "jacobian")
    assert str(e) == "arrays.npz: jacobian has shape (2, 5, 5); expected (S, L, L) = (3, 20, 20)"
    cases = {
        "probe_x": np.zeros((19, 2), np.float32),  # L disagrees with config's seq_len
        "W_hh": np.zeros((3, 9, 9), np.float32),  # H disagrees with hidden
        "W_xh": np.zeros((3, 8, 5), np.float32),  # I disagrees with the task's inputs
        "eigvals": np.zeros((2, 8), complex),  # S disagrees with snapshot_steps
        "grad_time": np.zeros((3, 20)),  # U disagrees with metrics.csv's rows (and summary's updates)
    }
    for name, a in cases.items():
        file = "arrays.npz" if name != "grad_time" else "summary.json"
        refused(with_arrays(good, **{name: a}), file, name if name != "grad_time" else "updates")


def test_empty_and_zero_dimensional_arrays_are_refused(good):
    e = refused(with_arrays(good, snapshot_steps=np.array(4)), "arrays.npz", "snapshot_steps")
    assert "snapshot_steps has shape (); expected (S,)" in str(e)
    empty = {k: v[:0] for k, v in good.arrays.items() if k not in ("probe_x", "grad_time")}
    e = refused(with_arrays(good, **empty), "arrays.npz", "snapshot_steps")
    assert "expected (S,) with 1 <= S <= 4" in str(e)
    refused(with_arrays(good, eigvals=np.complex128(1)), "arrays.npz", "eigvals")
    refused(with_arrays(good, probe_x=np.zeros((0, 2), np.float32)), "arrays.npz", "probe_x")


def test_arrays_of_the_wrong_kind_or_values_are_refused(good):
    refused(with_arrays(good, eigvals=good.arrays["eigvals"].real), "arrays.npz", "eigvals")
    refused(with_arrays(good, jacobian=good.arrays["jacobian"].astype("U8")), "arrays.npz", "jacobian")
    refused(with_arrays(good, snapshot_steps=np.array([0, 9, 4])), "arrays.npz", "snapshot_steps")


def test_garbage_metrics_are_refused(good):
    text = good.files()["metrics.csv"].decode()
    header, *rows = text.splitlines()
    words = rows[1].split(",")
    words[2] = "lots"
    e = refused(
        export(good, metrics_csv="\n".join([header, rows[0], ",".join(words), *rows[2:]]).encode()),
        "metrics.csv",
        "loss",
    )
    assert 'column "loss" holds "lots" (row 2); expected numbers' in str(e)
    refused(export(good, metrics_csv=os.urandom(3000)), "metrics.csv", ("", "rows", "step"))
    no_step = "\n".join(",".join(line.split(",")[1:]) for line in text.splitlines()).encode()
    assert "column step is missing" in str(refused(export(good, metrics_csv=no_step), "metrics.csv", "step"))
    short = "\n".join(text.splitlines()[:-1]).encode()
    assert "holds 3 rows; expected one per update, U = 4" in str(
        refused(export(good, metrics_csv=short), "metrics.csv", "rows")
    )
    long = (text + rows[-1] + "\n" + rows[-1] + "\n").encode()
    refused(export(good, metrics_csv=long), "metrics.csv", "rows")
    words = rows[0].split(",")
    words[0] = "-1.5"
    e = refused(
        export(good, metrics_csv="\n".join([header, ",".join(words), *rows[1:]]).encode()),
        "metrics.csv",
        "step",
    )
    assert "whole numbers from 0 to 3" in str(e)


def test_bad_config_zip_and_json_are_refused(good):
    e = refused(export(good, config_json=b'{"seq_len": 99999}'), "config.json", "seq_len")
    assert "out of range" in str(e)
    refused(export(good, config_json=b"[1]"), "config.json", "")
    refused(export(good, config_json=b'{"nope": 1}'), "config.json", "nope")
    refused(export(good, summary_json=b"[" * 50_000), "summary.json", "")
    refused(export(good, summary_json=b"1" * 10_000), "summary.json", "")
    refused(b"PK\x03\x04 not really a zip", "zip", "")
    files = good.files()
    del files["arrays.npz"]
    e = refused(zip_of(files), "zip", "arrays.npz")
    assert "missing arrays.npz" in str(e)
    refused(zip_of({**good.files(), "run/config.json": b"{}"}), "zip", "config.json")


def test_validate_checks_a_result_in_memory(good):
    validate(good)
    broken = RunResult(
        good.config, good.metrics, {**good.arrays, "jacobian": np.zeros((2, 5, 5))}, good.summary
    )
    with pytest.raises(ExportError, match=r"jacobian has shape \(2, 5, 5\)"):
        validate(broken)

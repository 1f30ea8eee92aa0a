"""Command line: `python -m rnnlab run [--preset NAME] [--set KEY=VALUE ...] [--out DIR] [--notebook FILE]`,
`python -m rnnlab sweep --axis KEY=VALUES ... [--out DIR] [--address tcp://host:8786]`,
`python -m rnnlab presets`, `python -m rnnlab tasks`, `python -m rnnlab lessons [NAME]`. Bad input
exits with status 2 and one line naming the key and what is allowed, never a traceback."""

from __future__ import annotations

import argparse
import sys
import time

from .config import FIELD, ConfigError, RunConfig, format_value, shorten
from .presets import PRESETS, resolve
from .sweep import ADDRESS_ENV, METRICS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, status 2 (argparse prints usage too by default)
        print(f"rnnlab: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m rnnlab", description="RNN Lab: train a small RNN and record what its gradients do."
    )
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="train one configuration and export the run")
    r.add_argument("--preset", help="start from a named preset (see `presets`)")
    add_sets(r, "set one key (repeatable); keys: " + ", ".join(FIELD))
    r.add_argument("--out", help="directory to write config.json, summary.json, metrics.csv, arrays.npz")
    r.add_argument(
        "--notebook",
        metavar="FILE",
        help="write a Jupyter notebook (.ipynb) that reproduces this run with the Python API; it does "
        "not train: the notebook trains when its cells run (add --out to train and export here too)",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    sw = sub.add_parser(
        "sweep",
        help="run many configurations (axes x seeds) and write a tidy table",
        description="Every cell is checked before anything runs. Re-running into the same --out resumes.",
    )
    sw.add_argument("--preset", help="the base: a named preset (see `presets`)")
    add_sets(sw, "a key of the base (repeatable)")
    sw.add_argument(
        "--axis",
        dest="axes",
        action="append",
        default=[],
        metavar="KEY=VALUES",
        help="1 to 3 axes: KEY=start:stop:count (linear), KEY=start:stop:count:log, or KEY=a,b,c",
    )
    sw.add_argument("--seeds", type=int, default=1, help="seeds per cell: base seed, +1, ... (default 1)")
    sw.add_argument(
        "--metric",
        dest="metrics",
        action="append",
        default=[],
        metavar="NAME",
        help="repeatable; default decay_rate; one of " + ", ".join(METRICS),
    )
    sw.add_argument("--out", help="folder for sweep.json and table.csv (resumes a sweep already there)")
    sw.add_argument(
        "--address", help=f"a Dask scheduler, tcp://host:8786 (default ${ADDRESS_ENV}, else a local pool)"
    )
    sw.add_argument("--workers", type=int, help="local pool size (default: the CPUs available)")
    sw.add_argument("--quiet", action="store_true", help="no progress bar")
    sub.add_parser("presets", help="list the presets")
    sub.add_parser("tasks", help="list the tasks: what each asks, and its baseline")
    les = sub.add_parser("lessons", help="list the lessons, or check one and show its steps' settings")
    les.add_argument("name", nargs="?", help="a lesson's name: check it and print each step as `run` options")
    return p


def add_sets(parser: argparse.ArgumentParser, help: str) -> None:
    """--set KEY=VALUE (repeatable), as `run` and `sweep` both take it (read by parse_sets)."""
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help=help)


def parse_sets(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                "--set", f"{shorten(item)} is not KEY=VALUE", "KEY=VALUE with a key of " + ", ".join(FIELD)
            )
        out[key] = value
    return out


def config_from_args(args: argparse.Namespace) -> RunConfig:
    values: dict[str, object] = {}
    if args.preset is not None:
        name = resolve(args.preset)
        if name is None:
            raise ConfigError("preset", f"{shorten(args.preset)} is unknown", "one of " + ", ".join(PRESETS))
        values.update(PRESETS[name].settings)
    values.update(parse_sets(args.sets))
    return RunConfig.from_dict(values)


def lessons(name: str | None) -> int:
    """List the lessons, or check one and print each step's settings as options of `run`."""
    from . import lessons as les

    if name is None:
        status = 0
        for n in les.names():
            try:
                lesson = les.load(n)
            except les.LessonError as e:  # one broken file does not hide the others
                print(f"rnnlab: error: {e}", file=sys.stderr)
                status = 2
                continue
            print(f"{n:22s} {lesson.title} ({len(lesson.steps)} steps)")
        for file in les.ignored():
            print(f"(ignored: {file}: a lesson's file name is lowercase letters, digits and '-')")
        return status
    try:
        lesson = les.load(name)
    except les.LessonError as e:
        print(f"rnnlab: error: {e}", file=sys.stderr)
        return 2
    print(f"{lesson.title}\nfor: {lesson.audience}")
    for i, step in enumerate(lesson.steps, 1):
        cfg = step.config()
        sets = " ".join(f"--set {k}={format_value(getattr(cfg, k))}" for k in step.set)
        preset = f"--preset {step.preset} " if step.preset else ""
        print(f"{i}. {step.title}\n   run {preset}{sets}".rstrip())
    return 0


class ProgressBar:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.last = max(total, 1), enabled, 0.0

    def __call__(self, rec: dict) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.1 and rec["step"] + 1 < self.total):
            return
        self.last = now
        frac = (rec["step"] + 1) / self.total
        bar = "#" * int(30 * frac)
        print(
            f"\r[{bar:<30}] step {rec['step'] + 1}/{self.total} loss {rec['loss']:.4g} "
            f"|g| {rec['grad_norm']:.3g}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def sweep(args: argparse.Namespace) -> int:
    """`sweep`: check every cell, run them on the local pool or a Dask scheduler, write the table."""
    import signal

    from .sweep import Sweep, run_sweep

    stop: list[int] = []
    try:
        if args.workers is not None and args.workers < 1:
            raise ConfigError("--workers", f"{args.workers} is too small", "an integer >= 1")
        sw = Sweep.build(config_from_args(args), args.axes, args.seeds, args.metrics or ["decay_rate"])
        bar = SweepBar(sw.size, enabled=not args.quiet)
        old = signal.signal(signal.SIGINT, lambda *_: stop.append(1))  # Ctrl-C: stop cleanly, keep rows
        try:
            t0 = time.monotonic()
            res = run_sweep(
                sw,
                args.out,
                address=args.address,
                workers=args.workers,
                on_row=bar,
                should_stop=lambda: bool(stop),
            )
        finally:
            signal.signal(signal.SIGINT, old)
            bar.close()
    except ConfigError as e:
        print(f"rnnlab: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"rnnlab: error: --out: cannot write {args.out!r}: {e.strerror}", file=sys.stderr)
        return 2
    p = res.progress
    if args.out is None and not res.cancelled:
        res.table.to_csv(sys.stdout, index=False, float_format="%.17g")
    where = f"; table in {args.out}/table.csv" if args.out else ""
    failed = f", {p.failed} failed" if p.failed else ""
    retried = f", {p.retried} retried after a lost worker" if p.retried else ""
    resumed = f", {p.resumed} already done" if p.resumed else ""
    took = time.monotonic() - t0
    line = f"{p.done}/{p.total} cells{resumed}{failed}{retried} in {took:.1f} s on {res.backend}"
    if res.cancelled:
        again = " (re-run the same command to resume)" if args.out else ""
        print(f"Stopped: {line}{where}{again}", file=sys.stderr)
        return 130
    print(line + where, file=sys.stderr if args.out is None else sys.stdout)
    return 1 if p.failed else 0


class SweepBar:
    """The sweep's progress bar on stderr: cells done of all, failures, cells per second."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self.t0, self.shown = total, enabled, time.monotonic(), False

    def __call__(self, row, prog) -> None:
        if not self.enabled:
            return
        self.shown = True
        frac, rate = (
            prog.done / max(prog.total, 1),
            (prog.done - prog.resumed) / max(time.monotonic() - self.t0, 1e-9),
        )
        failed = f" {prog.failed} failed" if prog.failed else ""
        print(
            f"\r[{'#' * int(30 * frac):<30}] {prog.done}/{prog.total} cells{failed} {rate:.2f} cells/s",
            end="",
            file=sys.stderr,
            flush=True,
        )

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "presets":
        for name, p in PRESETS.items():
            print(f"{name:22s} {p.title}")
        return 0
    if args.command == "tasks":
        from .tasks import TASKS, describe

        for name in TASKS:
            print(describe(name, FIELD["seq_len"].default))
        return 0
    if args.command == "lessons":
        return lessons(args.name)
    if args.command == "sweep":
        return sweep(args)
    try:
        cfg = config_from_args(args)
    except ConfigError as e:
        print(f"rnnlab: error: {e}", file=sys.stderr)
        return 2
    if args.notebook:
        from .notebook import write_notebook

        try:
            write_notebook(cfg, args.notebook)
        except ImportError as e:
            print(f"rnnlab: error: --notebook: {e}", file=sys.stderr)
            return 2
        except OSError as e:
            print(f"rnnlab: error: --notebook: cannot write {args.notebook!r}: {e.strerror}", file=sys.stderr)
            return 2
        if not args.out:
            print(f"Wrote {args.notebook}: run its cells to train (add --out DIR to train here too).")
            return 0
    from .runtime import use_torch_threads
    from .train import run  # import torch only when training

    use_torch_threads()  # the app's setting (RNNLAB_TORCH_THREADS, default 1)
    bar = ProgressBar(cfg.steps, enabled=not args.quiet and cfg.steps > 0)
    result = run(cfg, on_update=bar)
    bar.close()
    if args.out:
        try:
            result.save(args.out)
        except OSError as e:
            print(f"rnnlab: error: --out: cannot write {args.out!r}: {e.strerror}", file=sys.stderr)
            return 2
    s = result.summary
    n = s["updates"]
    print(
        f"{result.verdict.text} ({n} update{'s' if n != 1 else ''} in {s['wall_time_s']:.1f} s"
        + (f"; saved to {args.out})" if args.out else ")")
    )
    return 0

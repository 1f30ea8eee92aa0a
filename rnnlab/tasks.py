"""The four training tasks of docs/DESIGN.md (section 6.7), each from a seeded numpy generator.

Every task has per-step losses on a fixed set of loss steps (`loss_steps`); the sequence loss is
their sum over steps and batch divided by (number of loss steps * batch). Truncated BPTT reuses the
same per-step losses on each chunk, so the chunk losses add up to the full-sequence loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

COPY_SYMBOLS, COPY_LEN = 8, 10  # copy: 10 symbols drawn from 8
SINE_NOISE = 0.1


@dataclass
class Batch:
    x: Tensor  # (L, B, I) float32 inputs
    y: Tensor  # targets: (B,) adding/order, (L, B) copy (class ids), (L, B) sine (next values)


class Task:
    name = ""
    n_in = 1
    n_out = 1
    asks = ""  # one line for a person: what the network must do
    blind = ""  # what the best input-blind predictor (the baseline) does
    extra_steps = 0  # steps the sequences have beyond seq_len (copy: the delimiter and the answer)
    feeds_back = False  # its input is the previous target, so the network can run free on its outputs

    def __init__(self, seq_len: int):
        self.T = seq_len

    @property
    def L(self) -> int:
        """Length of the sequences the network sees."""
        return self.T + self.extra_steps

    @property
    def loss_steps(self) -> np.ndarray:
        """Boolean (L,): which steps carry a loss term."""
        m = np.zeros(self.L, dtype=bool)
        m[-1] = True
        return m

    @property
    def baseline(self) -> float:
        """Loss of the best input-blind predictor."""
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, batch: int) -> Batch:
        raise NotImplementedError

    def step_losses(self, out: Tensor, y: Tensor, t0: int = 0, t1: int | None = None) -> Tensor:
        """Sum of the loss terms at steps [t0, t1) (out holds those steps only), normalised so that the
        chunks of a sequence add up to the sequence loss."""
        raise NotImplementedError

    def loss(self, out: Tensor, y: Tensor) -> Tensor:
        return self.step_losses(out, y, 0, self.L)

    def _norm(self, batch: int) -> float:
        return float(self.loss_steps.sum() * batch)


class Adding(Task):
    """Two channels: a value U[0,1] and a marker (1 at two positions, one in each half of the
    sequence). Target: the sum of the two marked values, MSE at the last step. Baseline: always
    predicting the mean 1 gives the variance of a sum of two U[0,1], 2/12 = 1/6."""

    name, n_in, n_out = "adding", 2, 1
    baseline = 1.0 / 6.0
    asks = "read a stream of random values, two of them marked; at the last step output their sum (MSE)"
    blind = "always answering 1"

    def sample(self, rng, batch):
        T = self.T
        values = rng.random((T, batch))
        half = max(T // 2, 1)
        first = rng.integers(0, half, batch)
        second = rng.integers(half, T, batch) if half < T else np.full(batch, T - 1)
        second = np.where(second == first, (first + 1) % T, second)
        marks = np.zeros((T, batch))
        marks[first, np.arange(batch)] = 1
        marks[second, np.arange(batch)] = 1
        x = np.stack([values, marks], -1)  # (T, B, 2)
        y = (values * marks).sum(0)  # (B,)
        return Batch(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32))

    def step_losses(self, out, y, t0=0, t1=None):
        t1 = self.L if t1 is None else t1
        if t1 < self.L:
            return out.sum() * 0.0  # no loss term in this chunk
        return ((out[-1, :, 0] - y) ** 2).sum() / self._norm(y.shape[0])


class Copy(Task):
    """10 symbols from 8, T-1 blanks, a delimiter, 10 blanks: reproduce the symbols in the last 10
    steps. Inputs one-hot over 8 symbols + blank + delimiter; outputs 8 symbols + blank. Mean cross-
    entropy over all T+20 steps. Baseline: blank everywhere, then uniform over the 8 symbols for the
    last 10 steps: 10*ln(8)/(T+20)."""

    name, n_in, n_out = "copy", COPY_SYMBOLS + 2, COPY_SYMBOLS + 1
    extra_steps = 2 * COPY_LEN
    BLANK, DELIM = COPY_SYMBOLS, COPY_SYMBOLS + 1
    asks = (
        f"after a delimiter, repeat the {COPY_LEN} symbols shown at the start (cross-entropy at every step)"
    )
    blind = "blanks, then a uniform guess over the symbols"

    @property
    def loss_steps(self):
        return np.ones(self.L, dtype=bool)

    @property
    def baseline(self):
        return COPY_LEN * math.log(COPY_SYMBOLS) / self.L

    def sample(self, rng, batch):
        L, n = self.L, COPY_LEN
        symbols = rng.integers(0, COPY_SYMBOLS, (n, batch))
        ids = np.full((L, batch), self.BLANK)
        ids[:n] = symbols
        ids[n + self.T - 1] = self.DELIM
        target = np.full((L, batch), self.BLANK)
        target[L - n :] = symbols
        x = np.eye(self.n_in, dtype=np.float32)[ids]  # (L, B, 10)
        return Batch(torch.from_numpy(x), torch.from_numpy(target))

    def step_losses(self, out, y, t0=0, t1=None):
        t1 = self.L if t1 is None else t1
        ce = F.cross_entropy(out.reshape(-1, self.n_out), y[t0:t1].reshape(-1), reduction="sum")
        return ce / self._norm(y.shape[1])


class Order(Task):
    """Temporal order: a noisy sequence of distractor symbols with two marked symbols from {A, B}
    early on (one at 10-20% of the length, one at 50-60%); classify the pair (AA, AB, BA, BB) at the
    last step. Cross-entropy; baseline ln 4 (uniform over the four classes)."""

    name, n_in, n_out = "order", 6, 4  # inputs: A, B, and 4 distractors
    baseline = math.log(4)
    asks = "at the last step, name the order of two marked symbols seen early on: AA, AB, BA or BB"
    blind = "a uniform guess over the four answers"

    def positions(self, rng, batch):
        T = self.T
        lo1 = int(0.1 * T)
        t1 = rng.integers(lo1, max(lo1 + 1, int(0.2 * T)), batch)
        lo2 = np.maximum(t1 + 1, int(0.5 * T))
        hi2 = np.maximum(lo2 + 1, int(0.6 * T))
        t2 = np.minimum(lo2 + (rng.random(batch) * (hi2 - lo2)).astype(int), T - 1)
        return np.minimum(t1, T - 2), t2

    def sample(self, rng, batch):
        T = self.T
        ids = rng.integers(2, 6, (T, batch))
        t1, t2 = self.positions(rng, batch)
        s1, s2 = rng.integers(0, 2, batch), rng.integers(0, 2, batch)
        cols = np.arange(batch)
        ids[t1, cols] = s1
        ids[t2, cols] = s2
        x = np.eye(6, dtype=np.float32)[ids]  # (T, B, 6)
        return Batch(torch.from_numpy(x), torch.from_numpy(2 * s1 + s2))

    def step_losses(self, out, y, t0=0, t1=None):
        t1 = self.L if t1 is None else t1
        if t1 < self.L:
            return out.sum() * 0.0
        return F.cross_entropy(out[-1], y, reduction="sum") / self._norm(y.shape[0])


class Sine(Task):
    """Forecast the next value of a noisy sum of two sines (random periods 8..40 steps, random
    phases): s_t = (sin(w1 t + p1) + sin(w2 t + p2))/2 + N(0, 0.1^2). Input s_t, target s_{t+1}, MSE
    at every step. Baseline: predicting the mean 0 gives the variance 0.25 + 0.01 = 0.26."""

    name, n_in, n_out = "sine", 1, 1
    feeds_back = True
    baseline = 0.25 + SINE_NOISE**2
    asks = "forecast the next value of a noisy sum of two sines, at every step (MSE)"
    blind = "always predicting 0"

    @property
    def loss_steps(self):
        return np.ones(self.L, dtype=bool)

    def sample(self, rng, batch):
        T = self.T
        t = np.arange(T + 1)[:, None]  # (T+1, 1)
        w = 2 * np.pi / rng.uniform(8, 40, (2, batch))
        p = rng.uniform(0, 2 * np.pi, (2, batch))
        s = 0.5 * (np.sin(w[0] * t + p[0]) + np.sin(w[1] * t + p[1]))
        s = s + SINE_NOISE * rng.standard_normal(s.shape)  # (T+1, B)
        x = torch.tensor(s[:-1, :, None], dtype=torch.float32)
        return Batch(x, torch.tensor(s[1:], dtype=torch.float32))

    def step_losses(self, out, y, t0=0, t1=None):
        t1 = self.L if t1 is None else t1
        return ((out[..., 0] - y[t0:t1]) ** 2).sum() / self._norm(y.shape[1])


TASKS = {c.name: c for c in (Adding, Copy, Order, Sine)}
FEEDS_BACK = tuple(name for name, c in TASKS.items() if c.feeds_back)  # where teacher forcing means something


def describe(name: str, seq_len: int) -> str:
    """One line for a person: what the task asks and its baseline at this length."""
    task = make_task(name, seq_len)
    return f"{name}: {task.asks}. Baseline {task.baseline:.3g}: {task.blind}."


def sequence_length(name: str, seq_len: int) -> int:
    """L, the length of the sequences task `name` builds at seq_len (without building them)."""
    return seq_len + task_class(name).extra_steps


def free_running(name: str, teacher_forcing: bool) -> bool:
    """Whether a network on this task is fed its own predictions (only tasks that feed back can be)."""
    return task_class(name).feeds_back and not teacher_forcing


def task_class(name: str) -> type[Task]:
    if name not in TASKS:
        raise ValueError(f"task: {name!r} is not one of {', '.join(TASKS)}")
    return TASKS[name]


def make_task(name: str, seq_len: int) -> Task:
    return task_class(name)(seq_len)

"""Every claim a preset card or a remedy pair makes holds when the app measures it.

Each preset is measured as the app measures it (rnnlab.claims.gather: the Lab's at-init view, then
the run the Lab's Train button starts) with one torch thread, the app's setting. The claims are
written with margins measured under one and two threads (see the closing note of issue 11), because
float rounding differs between thread counts and training is chaotic.
"""

from __future__ import annotations

import functools

import pytest
import torch

from rnnlab import claims
from rnnlab.presets import PRESETS, REMEDIES

pytestmark = pytest.mark.slow  # every preset trained in full: about 2 minutes on 2 cores


@functools.cache
def evidence(name: str) -> claims.Evidence:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the app's setting (rnnlab.runtime)
    try:
        return claims.gather(PRESETS[name].config())
    finally:
        torch.set_num_threads(threads)


def test_every_preset_and_remedy_states_what_it_shows():
    for name, p in PRESETS.items():
        assert p.claims, f"{name} has no checked claim"
    for r in REMEDIES:
        assert r.claims, f"remedy {r.name!r} has no checked claim"


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_claims_hold(name):
    ev = evidence(name)
    checks = [c.check(ev) for c in PRESETS[name].claims]
    failed = [f"{c.claim}: measured {c.measured}" for c in checks if not c.holds]
    assert not failed, f"{name}: " + "; ".join(failed)


@pytest.mark.parametrize("remedy", REMEDIES, ids=[r.name for r in REMEDIES])
def test_remedy_pair_shows_its_remedy(remedy):
    without, with_ = evidence(remedy.without), evidence(remedy.with_)
    checks = [c.check_pair(without, with_) for c in remedy.claims]
    failed = [f"{c.claim}: measured {c.measured}" for c in checks if not c.holds]
    assert not failed, f"{remedy.name}: " + "; ".join(failed)

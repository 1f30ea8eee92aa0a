"""The `b=` grammar (rnnlab/changes.py): a config's changes against another, parsed leniently.

Oracles: RunConfig.replace for what a change must give, and the notices' own limits (short, never an
exception) for hostile strings.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st_

from rnnlab import RunConfig
from rnnlab.changes import describe_changes, format_changes, split_changes

# ---- B's changes in the URL (pure) -------------------------------------------------------------------


def test_b_parameter_applies_each_change_on_top_of_a():
    a = RunConfig(rho=1.3, seq_len=40)
    b, spec, notices = a.with_changes("clip:1, lr=0.1,act:relu")
    assert notices == []
    assert b == a.replace(clip=1.0, lr=0.1, act="relu")
    assert spec == {"clip": 1.0, "lr": 0.1, "act": "relu"}
    assert format_changes(spec) == "clip:1,lr:0.1,act:relu"
    assert describe_changes(a, b) == "act = relu, clip = 1, lr = 0.1"


def test_bad_b_values_give_notices_and_keep_a():
    a = RunConfig(clip=0.5)
    b, spec, notices = a.with_changes("clip:abc,foo:3,justtext,rho:2")
    assert b == a.replace(rho=2.0)
    assert spec == {"rho": 2.0}
    joined = " ".join(notices)
    assert "clip" in joined and "foo" in joined and "justtext" in joined and len(notices) == 3


def test_b_above_cap_is_clamped_and_kept(monkeypatch):
    monkeypatch.setenv("RNNLAB_MAX_SEQ_LEN", "50")
    b, spec, notices = RunConfig(seq_len=20).with_changes("seq_len:999")
    assert b.seq_len == 50 and spec == {"seq_len": 50} and len(notices) == 1


# ---- hostile b= values (issue 18) ---------------------------------------------------------------------

_VALUE = st_.one_of(
    st_.text(max_size=20),
    st_.sampled_from(["9" * 309, "-" + "9" * 5000, "1e400", "nan", "5e-324", "![x](http://e.example/i.png)"]),
)
_ITEM = st_.one_of(
    st_.text(max_size=30),
    st_.builds(
        lambda k, v: f"{k}:{v}", st_.sampled_from(["seed", "rho", "hidden", "steps", "act", "tbptt"]), _VALUE
    ),
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st_.lists(_ITEM, max_size=6).map(",".join))
def test_b_parser_never_raises_and_echoes_values_short(text):
    a = RunConfig(seq_len=12, hidden=6)
    b, _spec, notices = a.with_changes(text)
    assert RunConfig.from_dict(b.as_dict()) == b
    assert all(len(n) <= 320 for n in notices), notices
    assert split_changes(text)[1] == [n for n in notices if not n.startswith("B: ")]


def test_b_with_a_huge_seed_and_long_items_gives_short_notices():
    a = RunConfig()
    b, spec, notices = a.with_changes("seed:" + "9" * 309 + ",x" * 3 + "," + "y" * 100_000 + ":1")
    assert b == a and spec == {} and len(notices) == 5  # three 'x', the long key, the seed
    assert "'" + "y" * 40 + "…'" in notices[3] and "9999…9 (309 digits)" in notices[4]
    assert all(len(n) < 320 for n in notices)

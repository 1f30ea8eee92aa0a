"""RunConfig: defaults, strict and lenient parsing, caps, round trips (property-based too)."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.config import FIELD, FIELDS, KEYS, ConfigError, RunConfig, cap, default_values, parse_value


def test_defaults_match_design():
    c = RunConfig()
    assert (c.cell, c.act, c.hidden, c.rho, c.init, c.leak) == ("rnn", "tanh", 64, 1.0, "gaussian", 0.0)
    assert (c.task, c.seq_len, c.tbptt, c.clip, c.clip_mode) == ("adding", 100, 0, 0.0, "norm")
    assert (c.optimizer, c.lr, c.steps, c.batch, c.seed) == ("sgd", 0.01, 200, 32, 0)
    assert (c.norm, c.snapshots) == ("spectral", 5)


def test_strings_are_parsed_and_normalised():
    c = RunConfig.from_dict(
        {"hidden": "32", "rho": "1.5", "act": " ReLU ", "seq_len": "1e2", "train_recurrent": "false"}
    )
    assert c.hidden == 32 and c.rho == 1.5 and c.act == "relu" and c.seq_len == 100
    assert c.train_recurrent is False


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("hidden", "abc", "hidden"),
        ("hidden", 1, "hidden"),
        ("rho", 0, "rho"),
        ("rho", 11, "rho"),
        ("rho", "nan", "rho"),
        ("rho", "inf", "rho"),
        ("act", "gelu", "one of tanh"),
        ("leak", 1.0, "leak"),
        ("seq_len", 1, "seq_len"),
        ("clip", -1, "clip"),
        ("steps", 1.5, "steps"),
        ("lr", 0, "lr"),
        ("train_recurrent", "maybe", "true or false"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(key, value, fragment):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({key: value})
    assert e.value.key == key
    assert fragment in str(e.value) and "allowed" in str(e.value)


def test_unknown_key_and_cross_key_rules():
    with pytest.raises(ConfigError, match="unknown key"):
        RunConfig.from_dict({"colour": "red"})
    with pytest.raises(ConfigError) as e:
        RunConfig(seq_len=10, tbptt=11)
    assert e.value.key == "tbptt"
    with pytest.raises(ConfigError) as e:
        RunConfig(cell="gru", omega=1.0)
    assert e.value.key == "omega"


def test_caps_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("RNNLAB_MAX_SEQ_LEN", "50")
    assert cap("seq_len") == 50
    with pytest.raises(ConfigError, match="<= 50"):
        RunConfig(seq_len=51)
    cfg, notices = RunConfig.from_lenient({"seq_len": "400"})
    assert cfg.seq_len == 50 and "cap" in notices[0]
    assert RunConfig.from_dict({}).seq_len == 50  # the default (100) lowered to the cap
    assert RunConfig.from_lenient({})[0].seq_len == 50
    monkeypatch.setenv("RNNLAB_MAX_HIDDEN", "100000")  # never above docs/DESIGN.md's 512
    assert cap("hidden") == 512


def test_lenient_falls_back_with_a_notice_per_bad_key():
    cfg, notices = RunConfig.from_lenient(
        {"hidden": "x", "rho": "-3", "act": "<script>", "seq_len": "50", "whatever": "1"}
    )
    assert cfg.hidden == 64 and cfg.rho == 1.0 and cfg.act == "tanh" and cfg.seq_len == 50
    assert len(notices) == 3
    assert any(n.startswith("hidden") for n in notices)


def test_lenient_cross_key_violation_falls_back():
    cfg, notices = RunConfig.from_lenient({"seq_len": "10", "tbptt": "20"})
    assert cfg.seq_len == 10 and cfg.tbptt == 0 and notices


def test_json_and_string_round_trips(tmp_path):
    c = RunConfig(cell="lstm", hidden=16, rho=0.731, leak=0.0, clip=2.5, seed=7, train_recurrent=False)
    p = tmp_path / "config.json"
    p.write_text(c.to_json())
    assert RunConfig.from_json(p) == c
    assert RunConfig.from_dict(c.to_strings()) == c
    assert set(json.loads(c.to_json())) == set(KEYS)


values_for = {
    int: st.one_of(st.integers(-(10**6), 10**6), st.text(max_size=8)),
    float: st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8)),
    str: st.one_of(st.text(max_size=12), st.sampled_from(["tanh", "rnn", "gru", "copy", "norm"])),
    bool: st.one_of(st.booleans(), st.text(max_size=6)),
}


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*list(KEYS), "junk", "hide", "preset"]), st.text(max_size=20), max_size=8
    )
)
def test_lenient_never_raises_and_always_gives_a_valid_config(query):
    cfg, notices = RunConfig.from_lenient(query)
    assert RunConfig.from_dict(cfg.as_dict()) == cfg  # always a valid config
    for key, raw in query.items():
        if key not in FIELD:
            continue
        try:
            parsed = parse_value(key, raw)
        except ConfigError:  # bad value: the default (or the cap), and a notice naming the key
            allowed = {default_values()[key]} | ({cap(key)} if FIELD[key].capped else set())
            assert getattr(cfg, key) in allowed
            assert any(n.startswith(key) for n in notices)
        else:  # good value: kept, unless a cross-key rule reset tbptt or omega
            assert getattr(cfg, key) == parsed or key in ("tbptt", "omega")


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_strict_parse_accepts_exactly_the_valid_values(data):
    f = data.draw(st.sampled_from(FIELDS))
    raw = data.draw(values_for[f.kind])
    try:
        c = RunConfig.from_dict({f.key: raw})
    except ConfigError as e:
        assert e.key in (f.key, "tbptt") and str(e)  # noqa: PT017 - refusing is one allowed outcome
        return
    v = getattr(c, f.key)
    assert isinstance(v, f.kind)
    if f.kind is float:
        assert math.isfinite(v)
    if f.choices:
        assert v in f.choices


# ---- hostile values (issue 18): the lenient parser never raises, the strict one only ConfigError ------


def _huge_int(digits: int, sign: int) -> int:
    return sign * (10**digits - 1)  # 99…9, without str() (which refuses over 4300 digits)


digit_strings = st.builds(
    lambda sign, n, d: sign + d * n,
    st.sampled_from(["", "-", "+"]),
    st.integers(300, 5000),
    st.sampled_from("19"),
)
hostile = st.one_of(
    st.text(max_size=60),  # unicode, control characters, markdown
    st.builds(_huge_int, st.integers(300, 5000), st.sampled_from([1, -1])),  # huge ints
    st.integers(),
    digit_strings,  # the same, as a URL or the CLI spells them
    st.sampled_from(
        [
            "1e400",
            "-1e400",
            "1e-400",
            "5e-324",
            "inf",
            "-inf",
            "nan",
            "1e308",
            "0x10",
            "١٢",
            "9" * 4301,
            "",
            " ",
            "\x00",
            "\n",
            "[x](http://e.example/)",
            "1_000",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True),
    st.booleans(),
    st.none(),
)
HOSTILE = settings(max_examples=300, deadline=None, derandomize=True)
NOTICE_MAX = 300  # characters: a message names the key, the value (shortened) and what is allowed


@HOSTILE
@given(st.dictionaries(st.sampled_from(KEYS), hostile, max_size=6))
def test_lenient_never_raises_on_hostile_values(values):
    cfg, notices = RunConfig.from_lenient(values)
    assert RunConfig.from_dict(cfg.as_dict()) == cfg
    assert all(len(n) <= NOTICE_MAX for n in notices), notices


@HOSTILE
@given(st.sampled_from(KEYS), hostile)
def test_parse_value_raises_only_config_error_naming_the_key(key, raw):
    try:
        parse_value(key, raw)
    except ConfigError as e:
        assert e.key == key and str(e).startswith(key) and len(str(e)) <= NOTICE_MAX  # noqa: PT017


@HOSTILE
@given(st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=50)), hostile, max_size=4))
def test_from_dict_raises_only_config_error(values):
    try:
        RunConfig.from_dict(values)
    except ConfigError as e:
        assert len(str(e)) <= NOTICE_MAX  # noqa: PT017 - refusing is one allowed outcome


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("seed", "9" * 309),
        ("seed", 10**309),
        ("rho", 10**400),
        ("hidden", "9" * 5000),
        ("seed", -(10**5000)),
        ("cell", 10**5000),
    ],
    ids=["seed-str309", "seed-int309", "rho-int400", "hidden-str5000", "seed-neg5000", "cell-int5000"],
)
def test_huge_integers_are_refused_with_a_short_message(key, raw):
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({key: raw})
    assert e.value.key == key and len(str(e.value)) <= NOTICE_MAX
    cfg, notices = RunConfig.from_lenient({key: raw})
    assert getattr(cfg, key) in (default_values()[key], cap(key) if FIELD[key].capped else None)
    assert len(notices) == 1 and len(notices[0]) <= NOTICE_MAX


def test_huge_numbers_are_shown_by_their_digits():
    from rnnlab.config import shorten

    assert shorten(10**308) == "1000…0 (309 digits)"
    assert shorten(-(10**5000 - 1)) == "-9999…9 (5000 digits)"
    assert shorten(123456) == "123456" and shorten(2.5) == "2.5" and shorten(True) == "True"
    assert shorten("a" * 100_000) == "'" + "a" * 40 + "…'"
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"seed": "9" * 309})
    assert "9999…9 (309 digits)" in str(e.value)
    with pytest.raises(ConfigError) as e:
        RunConfig.from_dict({"rho": 1e300})
    assert "1e+300 is out of range" in str(e.value)


@pytest.mark.parametrize("rho", [5e-324, 1e-40, 1e-31])
def test_rho_below_float32_normal_range_is_refused(rho):
    """float32 weights: rho = 5e-324 makes W_hh exactly 0, so 'exact' would be false."""
    with pytest.raises(ConfigError) as e:
        RunConfig(rho=rho)
    assert e.value.key == "rho" and "1e-30" in str(e.value)
    assert RunConfig(rho=1e-30).rho == 1e-30

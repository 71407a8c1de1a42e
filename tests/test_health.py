import json
import logging
import os
import stat
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.health import DEFAULT_MAX_AGE, HEARTBEAT_INTERVAL, check_heartbeat, write_heartbeat

T0 = 1_760_000_000.0  # a fixed "now"; the clock is always a parameter


def test_a_fresh_beat_is_healthy_and_says_who_and_what(tmp_path):
    path = tmp_path / "health.json"
    assert write_heartbeat(path, T0, {"guilds": 3, "latency_ms": 41})
    ok, message = check_heartbeat(path, T0 + 12, max_age=90)
    assert ok
    assert message == f"ok: last beat 12s ago (pid {os.getpid()}): guilds=3, latency_ms=41"


def test_the_file_is_small_json_with_time_pid_and_detail(tmp_path):
    path = tmp_path / "health.json"
    write_heartbeat(path, T0, {"guilds": 2})
    assert json.loads(path.read_text()) == {"time": T0, "pid": os.getpid(), "detail": {"guilds": 2}}


@pytest.mark.parametrize(
    ("age", "healthy"),
    [(0, True), (89.9, True), (90, True), (90.1, False), (3600, False)],
)
def test_a_beat_older_than_max_age_is_stale(tmp_path, age, healthy):
    path = tmp_path / "health.json"
    write_heartbeat(path, T0)
    ok, message = check_heartbeat(path, T0 + age, max_age=90)
    assert ok is healthy
    if not healthy:
        assert message.startswith(f"heartbeat is stale: last beat {age:.0f}s ago")
        assert "over the 90s limit" in message


def test_a_beat_far_in_the_future_means_the_clocks_disagree(tmp_path):
    path = tmp_path / "health.json"
    write_heartbeat(path, T0 + 500)
    ok, message = check_heartbeat(path, T0, max_age=90)
    assert not ok
    assert "500s in the future" in message
    assert "clocks" in message
    # A little skew (less than max_age) is tolerated.
    assert check_heartbeat(path, T0 + 450, max_age=90)[0]


def test_a_missing_file_says_the_bot_has_not_beaten_or_the_paths_differ(tmp_path):
    ok, message = check_heartbeat(tmp_path / "nope.json", T0, max_age=90)
    assert not ok
    assert f"no heartbeat file at {tmp_path / 'nope.json'}" in message
    assert "VGBOT_HEALTH_FILE" in message


def test_no_configured_path_says_which_setting_to_set():
    ok, message = check_heartbeat(None, T0, max_age=90)
    assert not ok
    assert "set VGBOT_HEALTH_FILE" in message


def test_an_unreadable_path_says_so(tmp_path):
    ok, message = check_heartbeat(tmp_path, T0, max_age=90)  # a directory, not a file
    assert not ok
    assert message.startswith(f"cannot read heartbeat file {tmp_path}: ")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not JSON"),
        (b"{time: 1}", "not JSON"),
        (b"\xff\xfe\x00garbage", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"pid": 1}', "no finite number under 'time'"),
        (b'{"time": "1760000000"}', "no finite number under 'time'"),
        (b'{"time": true}', "no finite number under 'time'"),
        (b'{"time": NaN}', "no finite number under 'time'"),
        (b'{"time": Infinity}', "no finite number under 'time'"),
        (b'{"time": 1760000000, "detail": [1]}', "'detail' is not an object"),
    ],
)
def test_a_file_that_is_not_a_heartbeat_says_what_is_wrong_and_how_to_fix_it(
    tmp_path, content, reason
):
    path = tmp_path / "health.json"
    path.write_bytes(content)
    ok, message = check_heartbeat(path, T0, max_age=90)
    assert not ok
    assert f"is not a heartbeat ({reason}" in message
    assert "delete it" in message


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "health.json"
    path.write_bytes(b" " * (1024 * 1024))
    ok, message = check_heartbeat(path, T0, max_age=90)
    assert not ok
    assert "is over 65536 bytes" in message


@pytest.mark.parametrize("max_age", [0, -5, float("nan"), float("inf")])
def test_a_nonsense_max_age_is_named(tmp_path, max_age):
    path = tmp_path / "health.json"
    write_heartbeat(path, T0)
    ok, message = check_heartbeat(path, T0, max_age=max_age)
    assert not ok
    assert message.startswith("max age must be a positive number of seconds")


def test_writing_creates_the_folder_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "run" / "vgbot" / "health.json"
    for i in range(3):
        assert write_heartbeat(path, T0 + i, {"beat": i})
    assert [p.name for p in path.parent.iterdir()] == ["health.json"]
    assert json.loads(path.read_text())["detail"] == {"beat": 2}


def test_the_file_is_readable_by_a_checker_running_as_another_user(tmp_path):
    path = tmp_path / "health.json"
    write_heartbeat(path, T0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_beat_replaces_the_file_whole_so_a_reader_never_sees_half_of_one(tmp_path):
    path = tmp_path / "health.json"
    write_heartbeat(path, T0, {"beat": "old"})
    with path.open() as reader:  # a checker that opened the file just before the next beat
        write_heartbeat(path, T0 + 30, {"beat": "new"})
        assert json.loads(reader.read())["detail"] == {"beat": "old"}
    assert json.loads(path.read_text())["detail"] == {"beat": "new"}


def test_values_json_cannot_hold_are_written_as_text(tmp_path):
    path = tmp_path / "health.json"
    write_heartbeat(path, T0, {"ready_at": datetime(2025, 10, 9, 8, 0, tzinfo=UTC)})
    assert json.loads(path.read_text())["detail"] == {"ready_at": "2025-10-09 08:00:00+00:00"}


def test_a_failed_write_is_logged_and_reported_not_raised(tmp_path, caplog):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the heartbeat folder should be")
    with caplog.at_level(logging.WARNING, logger="bot.health"):
        assert write_heartbeat(blocker / "health.json", T0) is False
    assert f"cannot write heartbeat file {blocker / 'health.json'}" in caplog.text


def test_a_long_detail_is_summarised_on_one_short_line(tmp_path):
    path = tmp_path / "health.json"
    write_heartbeat(path, T0, {"note": "line\n" * 500})
    ok, message = check_heartbeat(path, T0, max_age=90)
    assert ok
    assert "\n" not in message
    assert len(message) < 300


def test_the_defaults_allow_a_few_missed_beats():
    assert DEFAULT_MAX_AGE >= 2 * HEARTBEAT_INTERVAL


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=100, deadline=None)
@given(
    detail=st.dictionaries(st.text(), json_values, max_size=5),
    now=st.floats(min_value=0, max_value=4e9),
    max_age=st.floats(min_value=1, max_value=1e6),
    fraction=st.floats(min_value=0, max_value=0.999),  # exactly 1.0 meets float rounding
)
def test_any_detail_round_trips_and_only_age_decides(
    tmp_path_factory, detail, now, max_age, fraction
):
    path = tmp_path_factory.mktemp("beat") / "health.json"
    assert write_heartbeat(path, now, detail)
    assert json.loads(path.read_text())["detail"] == detail
    assert check_heartbeat(path, now + fraction * max_age, max_age)[0]
    assert not check_heartbeat(path, now + max_age * 1.01 + 1, max_age)[0]

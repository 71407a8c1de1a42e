from bot.clock import OffsetFileClock


def test_offset_file_moves_a_clock_and_missing_file_means_real_time(tmp_path):
    path = tmp_path / "clock"
    clock = OffsetFileClock(path, base=lambda: 1000.0)
    assert clock() == 1000.0
    clock.advance(7 * 86400)
    assert clock() == 1000.0 + 7 * 86400
    # Another process (the bot) reading the same file sees the same time.
    assert OffsetFileClock(path, base=lambda: 1000.0)() == 1000.0 + 7 * 86400
    path.write_text("garbage")
    assert clock() == 1000.0 + 7 * 86400  # unreadable: keeps the last good offset

from pathlib import Path

import pytest

from bot.settings import DISCORD_API_BASE, SettingsError, load_settings, unknown_env_vars


def test_defaults_need_no_environment():
    s = load_settings(env={})
    assert s.db == Path("data/vgbot.sqlite3")
    assert s.api_base == DISCORD_API_BASE
    assert not s.has_token


def test_env_overrides_yaml_and_flags_override_env(tmp_path):
    cfg = tmp_path / "vgbot.yaml"
    cfg.write_text("db: from-yaml.sqlite3\ngrace_window: 60\nlog_level: DEBUG\n")
    s = load_settings(env={"VGBOT_DB": "from-env.sqlite3"}, config_file=cfg)
    assert s.db == Path("from-env.sqlite3")
    assert s.grace_window == 60.0 and s.log_level == "DEBUG"
    s = load_settings(env={"VGBOT_DB": "from-env.sqlite3"}, overrides={"db": Path("flag.db")})
    assert s.db == Path("flag.db")


def test_discord_names_are_honoured_and_token_is_never_in_repr():
    s = load_settings(
        env={"DISCORD_TOKEN": "secret-token", "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10"}
    )
    assert s.token == "secret-token" and s.has_token
    assert "secret-token" not in repr(s)
    assert s.api_base == "http://127.0.0.1:9/api/v10"


def test_token_file(tmp_path):
    f = tmp_path / "token"
    f.write_text("from-file\n")
    assert load_settings(env={"VGBOT_TOKEN_FILE": str(f)}).token == "from-file"
    with pytest.raises(SettingsError, match="cannot read token file"):
        load_settings(env={"VGBOT_TOKEN_FILE": str(tmp_path / "missing")})


def test_a_token_given_in_the_environment_wins_over_one_in_the_file(tmp_path):
    # Env vars win over the YAML file, whichever form each gives the token in: a secret
    # mounted by Docker or systemd (VGBOT_TOKEN_FILE) beats an old `token:` left in the file.
    secret = tmp_path / "token"
    secret.write_text("from-secret\n")
    cfg = tmp_path / "vgbot.yaml"
    cfg.write_text("token: from-yaml\n")
    assert load_settings(env={"VGBOT_TOKEN_FILE": str(secret)}, config_file=cfg).token == (
        "from-secret"
    )
    cfg.write_text(f"token_file: {secret}\n")
    assert load_settings(env={"DISCORD_TOKEN": "from-env"}, config_file=cfg).token == "from-env"
    # Within one layer, as before, the token itself wins over a file.
    both = {"DISCORD_TOKEN": "from-env", "VGBOT_TOKEN_FILE": str(secret)}
    assert load_settings(env=both).token == "from-env"


def test_a_token_file_saved_by_a_windows_editor_gives_the_token_alone(tmp_path):
    # Notepad writes a byte order mark and CRLF; either left in, Discord refuses the token.
    f = tmp_path / "token"
    f.write_bytes(b"\xef\xbb\xbfabc.def.ghi\r\n")
    assert load_settings(env={"VGBOT_TOKEN_FILE": str(f)}).token == "abc.def.ghi"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VGBOT_DEV_GUILD_ID": "abc"}, "'dev_guild_id' must be a whole number"),
        ({"VGBOT_GRACE_WINDOW": "soon"}, "'grace_window' must be a number"),
        ({"VGBOT_LOG_FORMAT": "xml"}, "'log_format' must be 'text' or 'json'"),
        ({"VGBOT_LOG_LEVEL": "verbose"}, "'log_level' must be one of DEBUG, INFO, WARNING"),
        # 0 commands per 30 s refused every member's every command; 0 s between ticks spun.
        ({"VGBOT_COOLDOWN_RATE": "0"}, "'cooldown_rate' must be at least 1"),
        ({"VGBOT_TICK_INTERVAL": "0"}, "'tick_interval' must be more than 0"),
        ({"VGBOT_FEED_INTERVAL": "-5"}, "'feed_interval' must be more than 0"),
        ({"VGBOT_GRACE_WINDOW": "-1"}, "'grace_window' must be 0 or more"),
        ({"VGBOT_NONCE_WINDOW": "nan"}, "'nonce_window' must be 0 or more"),
        ({"VGBOT_COOLDOWN_PER": "inf"}, "'cooldown_per' must be 0 or more"),
    ],
)
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)


def test_log_level_is_case_insensitive():
    assert load_settings(env={"VGBOT_LOG_LEVEL": "debug"}).log_level == "DEBUG"


def test_a_key_left_empty_in_yaml_means_the_default_as_an_empty_env_var_does(tmp_path):
    # `feed_url:` with nothing after it is YAML's null: it used to become the text "None"
    # (a feed URL, a database file named None) or a confusing "got 'None'".
    cfg = tmp_path / "vgbot.yaml"
    cfg.write_text("feed_url:\ndb:\ngrace_window:\ntoken_file:\n")
    assert load_settings(env={}, config_file=cfg) == load_settings(env={})


def test_an_unknown_vgbot_env_var_is_named_with_the_setting_meant():
    # A misspelt name in the service's env file is otherwise ignored without a word: with
    # VGBOT_DATABASE the bot would quietly run on a new, empty database.
    env = {"VGBOT_DATABASE": "/var/lib/vgbot/vgbot.sqlite3", "VGBOT_DB": "", "VGBOT_CONFIG": "x"}
    assert unknown_env_vars(env) == ["VGBOT_DATABASE is no setting (did you mean VGBOT_DB?)"]
    assert unknown_env_vars({"VGBOT_GRACE_WINDOWS": "60", "HOME": "/root"}) == [
        "VGBOT_GRACE_WINDOWS is no setting (did you mean VGBOT_GRACE_WINDOW?)"
    ]
    assert unknown_env_vars({"VGBOT_XYZZY": "1"}) == ["VGBOT_XYZZY is no setting"]


def test_unknown_yaml_key_lists_known_ones(tmp_path):
    cfg = tmp_path / "vgbot.yaml"
    cfg.write_text("dbb: x\n")
    with pytest.raises(SettingsError, match="unknown setting 'dbb'.*known: .*db"):
        load_settings(env={}, config_file=cfg)


def test_the_readme_documents_every_setting():
    import dataclasses

    from bot.settings import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(Settings) if f.name not in readme]
    assert missing == []

"""A config with a typo never gives a dead box; the shipped example matches the schema."""

from importlib.resources import files
from pathlib import Path

from stagebox.config import SCHEMA, Config, example_toml, load_config, parse_config


def test_defaults_without_a_file(tmp_path: Path):
    config, warnings = load_config(tmp_path / "missing.toml")
    assert config["audio.device"] == "default"
    assert warnings and "using defaults" in warnings[0]


def test_good_values_are_used():
    config, warnings = parse_config('[audio]\ndevice = "hw:CARD=Device,DEV=0"\nrate = 44100\n'
                                    "[player]\nvolume_db = -6\n")
    assert warnings == []
    assert config["audio.device"] == "hw:CARD=Device,DEV=0"
    assert config["audio.rate"] == 44100
    assert config["player.volume_db"] == -6.0


def test_a_typo_in_a_key_is_named_with_a_suggestion_and_the_rest_still_applies():
    config, warnings = parse_config('[audio]\ndevcie = "hw:1"\nrate = 44100\n')
    assert config["audio.rate"] == 44100
    assert warnings == ["config.toml: unknown key audio.devcie: ignored (did you mean 'device'?)"]


def test_a_bad_value_keeps_the_default():
    config, warnings = parse_config('[player]\nafter_song = "stopp"\n[buttons]\nhold_s = "long"\n')
    assert config["player.after_song"] == "stop"
    assert config["buttons.hold_s"] == 0.8
    assert len(warnings) == 2 and "after_song must be one of" in warnings[0]


def test_broken_toml_gives_the_defaults_and_says_where():
    config, warnings = parse_config("[audio\ndevice = ")
    assert config["audio.device"] == "default"
    assert "line 1" in warnings[0]


def test_an_unknown_section_is_reported():
    _, warnings = parse_config("[dispaly]\nrotate = 2\n")
    assert "did you mean 'display'" in warnings[0]


def test_the_example_parses_to_the_defaults_without_warnings():
    config, warnings = parse_config(example_toml())
    assert warnings == []
    for setting in SCHEMA:
        assert config[setting.key] == setting.default


def test_the_shipped_example_is_the_generated_one():
    shipped = files("stagebox").joinpath("config.example.toml").read_text(encoding="utf-8")
    assert shipped == example_toml(), "run: stagebox config-example > stagebox/config.example.toml"


def test_every_key_is_documented_in_the_example():
    text = example_toml()
    for setting in SCHEMA:
        assert f"# {setting.doc}\n{setting.name} = " in text


def test_replace_checks_values():
    assert Config().replace(audio__rate=44100)["audio.rate"] == 44100


def test_nan_and_inf_are_refused_though_toml_has_them():
    config, warnings = parse_config("[player]\nvolume_db = nan\nfade_s = inf\n"
                                    "[buttons]\nhold_s = -inf\n")
    assert config["player.volume_db"] == 0.0
    assert config["player.fade_s"] == 0.5
    assert config["buttons.hold_s"] == 0.8
    assert len(warnings) == 3 and "finite" in warnings[0]


def test_the_file_size_limit_is_in_mb_of_a_million_bytes_as_its_doc_says():
    from stagebox.audio.memfile import BYTES_PER_MB

    (setting,) = [s for s in SCHEMA if s.key == "player.max_file_mb"]
    assert "1,000,000 bytes" in setting.doc and BYTES_PER_MB == 1_000_000


def test_loudness_matching_takes_a_target_or_off():
    assert Config()["player.loudness_lufs"] == -18.0
    config, warnings = parse_config('[player]\nloudness_lufs = "off"\n')
    assert warnings == [] and config["player.loudness_lufs"] == "off"
    config, warnings = parse_config("[player]\nloudness_lufs = -14\n")
    assert warnings == [] and config["player.loudness_lufs"] == -14.0
    config, warnings = parse_config('[player]\nloudness_lufs = "of"\n')
    assert config["player.loudness_lufs"] == -18.0
    assert warnings == ["config.toml: player.loudness_lufs must be a number or 'off', "
                        "not 'of': using -18.0"]

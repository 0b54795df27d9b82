import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqcvae.config import (
    BUILTIN_CONFIGS,
    CONFIG_VERSION,
    RunConfig,
    builtin_config_path,
    load_config,
    parse_override,
)
from seqcvae.errors import ConfigError
from seqcvae.models.checkpoint import load_checkpoint


@pytest.mark.parametrize("name", BUILTIN_CONFIGS)
def test_builtin_configs_load(name):
    cfg = load_config(name)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("name", BUILTIN_CONFIGS)
def test_builtin_configs_name_the_current_version(name):
    text = builtin_config_path(name).read_text()
    assert re.search(r"^config_version = (\d+)", text, re.M).group(1) == str(CONFIG_VERSION)


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def test_default_toml_matches_dataclass_defaults():
    """The shipped default file documents every key of every section, with the dataclass default
    as its value, except the training budget it states (about 10 minutes on a 2-core CPU)."""
    from importlib import resources

    from seqcvae import _toml

    text = resources.files("seqcvae").joinpath("configs/smiles_default.toml").read_text(encoding="utf-8")
    in_file = _flat(_toml.loads(text))
    defaults = _flat(RunConfig().to_dict())
    assert sorted(set(defaults) - set(in_file)) == []
    differ = {k: (in_file[k], defaults[k]) for k in defaults if in_file[k] != defaults[k]}
    assert differ == {"train.max_minutes": (9.0, 0.0)}
    assert _flat(load_config("smiles_default").to_dict()) == {**defaults, "train.max_minutes": 9.0}


def test_json_round_trip(tmp_path):
    cfg = load_config("smiles_tiny", ["train.lr=0.01", "data.properties=['LogP']"])

    assert RunConfig.from_dict(json.loads(cfg.to_json())) == cfg
    assert cfg.train.lr == 0.01 and cfg.data.properties == ["LogP"]


def test_overrides_parse_types():
    cfg = RunConfig().with_overrides(
        [
            "train.epochs=3",
            "train.lr=1e-3",
            "train.device=cpu",
            "model.prior=conditional",
            "train.max_minutes=2",
        ]
    )
    assert cfg.train.epochs == 3 and cfg.train.lr == 1e-3 and cfg.train.device == "cpu"
    assert cfg.model.prior == "conditional" and cfg.train.max_minutes == 2.0


def test_unknown_key_names_valid_keys():
    with pytest.raises(ConfigError) as e:
        RunConfig().with_overrides(["train.epoch=3"])
    assert "train.epoch" in str(e.value) and "epochs" in str(e.value)


def test_unknown_section():
    with pytest.raises(ConfigError, match="valid sections"):
        RunConfig().with_overrides(["trian.epochs=3"])


def test_unknown_key_in_toml(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[model]\nhidden = 3\n")
    with pytest.raises(ConfigError) as e:
        load_config(str(p))
    assert "model.hidden" in str(e.value) and "decoder_hidden" in str(e.value)


@pytest.mark.parametrize(
    "item",
    [
        "train.epochs=three",
        "train.epochs=1.5",
        "train.lr=true",
        "data.properties=3",
        "train.kl_schedule=sigmoid",
    ],
)
def test_wrong_types_and_choices(item):
    with pytest.raises(ConfigError, match=item.split("=")[0]):
        RunConfig().with_overrides([item])


def test_bad_toml_and_missing_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[model\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(p))
    with pytest.raises(ConfigError, match="smiles_default"):
        load_config(str(tmp_path / "nope.toml"))


def test_override_without_equals():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("train.epochs")


@given(st.integers(min_value=1, max_value=10**6), st.floats(min_value=1e-8, max_value=10.0))
def test_override_round_trip(epochs, lr):
    cfg = RunConfig().with_overrides([f"train.epochs={epochs}", f"train.lr={lr!r}"])
    assert cfg.train.epochs == epochs and cfg.train.lr == lr
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.batch_size=0", "train.batch_size = 0 is out of range; expected a number >= 1"),
        ("train.lr=0", "train.lr = 0.0 is out of range; expected a number > 0"),
        ("model.latent_dim=-4", "model.latent_dim = -4 is out of range"),
        ("data.val_fraction=1.0", "data.val_fraction = 1.0 is out of range; expected a number >= 0 and < 1"),
        ("sample.top_p=1.5", "sample.top_p = 1.5 is out of range"),
        ("train.word_dropout=nan", "train.word_dropout = nan is out of range"),
        ("train.val_iw_samples=0", "train.val_iw_samples = 0 is out of range"),
    ],
)
def test_out_of_range_values_are_named(override, message):
    with pytest.raises(ConfigError) as err:
        load_config("smiles_tiny", [override])
    assert message in str(err.value)


def test_transformer_width_must_divide_into_heads():
    with pytest.raises(ConfigError, match="must be divisible by model.heads = 4"):
        load_config("smiles_tiny", ["model.decoder=transformer", "model.decoder_hidden=30", "model.heads=4"])


# ----- config versions and the migration of stored configs ---------------------------------------
FIXTURES = Path(__file__).parent / "fixtures"


def _stored(name: str) -> dict:
    return json.loads((FIXTURES / name / "config.json").read_text())


def test_config_records_its_version(tiny_run):
    stored = json.loads((tiny_run / "config.json").read_text())
    assert stored["config_version"] == CONFIG_VERSION
    assert load_checkpoint(tiny_run).config["config_version"] == CONFIG_VERSION


def test_stored_config_without_version_is_migrated():
    old = _stored("ckpt_b4cbcff_smiles_tiny")
    assert "config_version" not in old and "split_seed" not in old["data"]
    old["train"]["seed"] = 5
    cfg = RunConfig.from_stored(old)
    assert cfg.config_version == CONFIG_VERSION
    # Before data.split_seed the validation split was drawn with train.seed: keep that split.
    assert cfg.data.split_seed == 5 and cfg.train.seed == 5


def test_toml_without_version_is_read_as_current(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[train]\nseed = 3\n")
    cfg = load_config(str(p))
    assert cfg.config_version == CONFIG_VERSION and cfg.data.split_seed == 0


@pytest.mark.parametrize("name", ["ckpt_b4cbcff_smiles_tiny", "ckpt_b4cbcff_text_tiny"])
def test_checkpoints_of_earlier_versions_load_and_generate(name):
    from seqcvae.generation.generator import Generator

    gen = Generator.load(FIXTURES / name)
    assert gen.config.config_version == CONFIG_VERSION
    conditions = {"sentiment": "pos"} if gen.kind == "text" else {"LogP": 2.0}
    records = gen.generate(conditions, n=5, seed=1)
    assert len(records) == 5 and all(r.sequence for r in records)


def test_removed_and_renamed_keys_are_migrated(monkeypatch):
    """A future version that renames one key and removes another still reads older configs."""
    import seqcvae.config_migrations as config

    def v2_to_v3(data: dict) -> dict:
        config.rename_key(data, "train.kl_warmup", "train.kl_warmup_steps")
        config.drop_key(data, "train.legacy_option")
        return data

    monkeypatch.setattr(config, "CONFIG_VERSION", CONFIG_VERSION + 1)
    monkeypatch.setitem(config.MIGRATIONS, CONFIG_VERSION, v2_to_v3)
    v2 = RunConfig().to_dict()
    v2["config_version"] = CONFIG_VERSION
    v2["train"]["kl_warmup"] = v2["train"].pop("kl_warmup_steps") + 7
    v2["train"]["legacy_option"] = True
    for stored in (v2, _stored("ckpt_b4cbcff_smiles_tiny")):
        cfg = RunConfig.from_stored(stored)
        assert cfg.config_version == CONFIG_VERSION + 1
    assert RunConfig.from_stored(v2).train.kl_warmup_steps == RunConfig().train.kl_warmup_steps + 7
    with pytest.raises(ConfigError, match="legacy_option"):
        RunConfig.from_dict({k: v for k, v in v2.items() if k != "config_version"})


def test_newer_config_version_is_a_clear_error():
    stored = {**RunConfig().to_dict(), "config_version": CONFIG_VERSION + 5}
    with pytest.raises(ConfigError, match=f"config_version {CONFIG_VERSION + 5}.*newer"):
        RunConfig.from_stored(stored)


def test_sampling_settings_and_sample_config_share_one_definition():
    """[sample] in a run config is SamplingSettings plus seed and batch size: same ranges, same
    messages, other defaults."""
    import dataclasses

    from seqcvae.config import SampleConfig, SamplingSettings

    names = {f.name for f in dataclasses.fields(SampleConfig)}
    assert {f.name for f in dataclasses.fields(SamplingSettings)} < names
    assert (SamplingSettings().temperature, SampleConfig().temperature) == (1.0, 0.8)
    with pytest.raises(ConfigError, match=r"^temperature = 0 is out of range; expected a number > 0$"):
        SamplingSettings(temperature=0).validate()
    with pytest.raises(
        ConfigError, match=r"^sample.temperature = 0.0 is out of range; expected a number > 0$"
    ):
        RunConfig().with_overrides(["sample.temperature=0"])
    with pytest.raises(ConfigError, match="length_penalty = nan"):
        RunConfig().with_overrides(["sample.length_penalty=nan"])


def test_version_2_config_gains_the_length_penalty():
    stored = RunConfig().to_dict()
    stored["config_version"] = 2
    del stored["sample"]["length_penalty"]
    cfg = RunConfig.from_stored(stored)
    assert cfg.sample.length_penalty == 1.0 and cfg.config_version == CONFIG_VERSION

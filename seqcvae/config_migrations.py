"""Config versions: how each version's keys were added, renamed or removed since the first, and
`migrate`, which brings a stored config dict (run or checkpoint config.json, TOML) up to date."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from seqcvae.errors import ConfigError

# Bump with every change of keys or of their meaning, and add the step from the previous version
# to MIGRATIONS.
CONFIG_VERSION = 13


def rename_key(data: dict[str, Any], old: str, new: str) -> None:
    """Migration helper: move dotted key `old` to `new` (when present)."""
    *path, name = old.split(".")
    node = _section(data, path)
    if node is not None and name in node:
        value = node.pop(name)
        *new_path, new_name = new.split(".")
        target = data
        for part in new_path:
            target = target.setdefault(part, {})
        target[new_name] = value


def drop_key(data: dict[str, Any], key: str) -> None:
    """Migration helper: remove dotted `key` (when present)."""
    *path, name = key.split(".")
    node = _section(data, path)
    if node is not None:
        node.pop(name, None)


def _section(data: dict[str, Any], path: list[str]) -> dict[str, Any] | None:
    node: Any = data
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added data.split_seed; version 1 drew the validation split with train.seed."""
    train, section = _section(data, ["train"]) or {}, _section(data, ["data"])
    if section is not None:
        section.setdefault("split_seed", train.get("seed", 0))
    else:
        data["data"] = {"split_seed": train.get("seed", 0)}
    return data


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 added sample.length_penalty (beam search; its default 1.0 is what version 2 did)."""
    return data


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """Version 4 added train.randomize_smiles (default 0: the encoder reads the file's strings)."""
    return data


def _v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    """Version 5 added train.mmd_weight (default 0: no MMD term)."""
    return data


def _v5_to_v6(data: dict[str, Any]) -> dict[str, Any]:
    """Version 6 added sample.guidance (default 1: no classifier-free guidance)."""
    return data


def _v6_to_v7(data: dict[str, Any]) -> dict[str, Any]:
    """Version 7 added train.val_samples (default 0: no sample validity) and train.tensorboard
    (default off)."""
    return data


def _v7_to_v8(data: dict[str, Any]) -> dict[str, Any]:
    """Version 8 added data.representation (default "smiles")."""
    return data


def _v8_to_v9(data: dict[str, Any]) -> dict[str, Any]:
    """Version 9 added train.adversary_weight (default 0: no tag adversary)."""
    return data


def _v9_to_v10(data: dict[str, Any]) -> dict[str, Any]:
    """Version 10 added data.unknown_tokens (default "refuse") and made train.val_samples default
    to 200 (validity of prior samples at each validation of a SMILES run): an older config that
    left it out meant 0."""
    train = data.setdefault("train", {})
    if isinstance(train, dict):
        train.setdefault("val_samples", 0)
    return data


def _v10_to_v11(data: dict[str, Any]) -> dict[str, Any]:
    """Version 11 added sample.grammar (default off: no SMILES syntax mask) and train.cycle_weight
    (default 0: no back-translation)."""
    return data


def _v11_to_v12(data: dict[str, Any]) -> dict[str, Any]:
    """Version 12 added sample.latent_temperature (default 1: the prior as trained);
    train.adversary_weight now also hides continuous conditions (properties) from z, and runs
    without tags may use it."""
    return data


def _v12_to_v13(data: dict[str, Any]) -> dict[str, Any]:
    """Version 13 added model.embedding_dropout (default 0: off, as version 12), model.prior =
    "mixture" and model.prior_components (its size; unused by the other priors)."""
    return data


# MIGRATIONS[v] turns a config dict of version v into one of version v + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
    5: _v5_to_v6,
    6: _v6_to_v7,
    7: _v7_to_v8,
    8: _v8_to_v9,
    9: _v9_to_v10,
    10: _v10_to_v11,
    11: _v11_to_v12,
    12: _v12_to_v13,
}


def migrate(data: dict[str, Any], default_version: int | None = None) -> dict[str, Any]:
    """A copy of `data` brought to CONFIG_VERSION; when it names no version, it is of
    `default_version` (None: the current one)."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a table, got {data!r}")
    out = copy.deepcopy(data)
    current = CONFIG_VERSION
    version = out.pop("config_version", current if default_version is None else default_version)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ConfigError(f"config_version = {version!r} is not a version; expected 1 to {current}")
    if version > current:
        raise ConfigError(
            f"config_version {version} is newer than this seqcvae reads (up to {current}); "
            "upgrade seqcvae to use this config"
        )
    for v in range(version, current):
        out = MIGRATIONS[v](out)
    out["config_version"] = current
    return out

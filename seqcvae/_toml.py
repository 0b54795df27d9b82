"""TOML reading for every Python the package supports: tomllib (3.11+) or its backport tomli (3.10).

The only module that imports tomllib (tests/test_compat.py checks this).
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    from tomllib import TOMLDecodeError, loads
else:
    from tomli import TOMLDecodeError, loads

__all__ = ["TOMLDecodeError", "loads"]

"""Where the shipped templates and default rules are, installed or in a source checkout.

The repository keeps them in its top-level ``templates/`` and ``rules/`` folders (the layout
users know and edit); the wheel carries them inside the package as ``triagebot/templates``
and ``triagebot/rules``. An editable install or a clone imports the package from the
checkout, where only the top-level folders exist, so both places are looked at, the
package first.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["RULES_DIR", "TEMPLATE_DIR", "rules_folder", "shipped_folder"]


def shipped_folder(name: str) -> Path:
    """The folder ``name`` inside the installed package, else beside it in the checkout."""
    packaged = resources.files(__package__ or "triagebot") / name
    if isinstance(packaged, Path) and packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / name


TEMPLATE_DIR = shipped_folder("templates")
RULES_DIR = shipped_folder("rules")


def rules_folder(configured: Path | None) -> Path:
    """``[rules].path`` when the config names a folder, else the shipped default rules."""
    return RULES_DIR if configured is None else configured

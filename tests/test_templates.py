"""The one Jinja2 set-up: escaping by file name, loud undefined names, whitespace rules."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from triagebot import templates


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "part.html.j2").write_text("<p>{{ text }}</p>\n", encoding="utf-8")
    (tmp_path / "part.txt.j2").write_text("{{ text }}\n", encoding="utf-8")
    (tmp_path / "list.txt.j2").write_text(
        "items:\n  {% for i in items %}\n- {{ i }}\n  {% endfor %}\nend\n", encoding="utf-8"
    )
    return tmp_path


class TestEnvironment:
    def test_only_html_templates_are_escaped(self, folder: Path) -> None:
        """Plain-text parts and tracker markup must show report text literally."""
        env = templates.environment(folder)
        text = "a < b & {c}"
        assert env.get_template("part.html.j2").render(text=text) == "<p>a &lt; b &amp; {c}</p>\n"
        assert env.get_template("part.txt.j2").render(text=text) == "a < b & {c}\n"

    def test_undefined_name_fails(self, folder: Path) -> None:
        with pytest.raises(jinja2.UndefinedError):
            templates.environment(folder).get_template("part.txt.j2").render()

    def test_block_lines_vanish_unless_asked_to_stay(self, folder: Path) -> None:
        """Mail templates drop block-tag lines; markup templates spell out their whitespace."""
        trimmed = templates.environment(folder).get_template("list.txt.j2")
        kept = templates.environment(folder, trim_blocks=False).get_template("list.txt.j2")
        assert trimmed.render(items=[1, 2]) == "items:\n- 1\n- 2\nend\n"
        assert kept.render(items=[1]) == "items:\n  \n- 1\n  \nend\n"

    def test_environments_are_cached_per_setting(self, folder: Path) -> None:
        """Templates compile once per process, and filters never leak between settings."""
        shout = (("shout", str.upper),)
        assert templates.environment(folder) is templates.environment(folder)
        with_filter = templates.environment(folder, filters=shout)
        assert with_filter is not templates.environment(folder)
        assert "shout" in with_filter.filters
        assert "shout" not in templates.environment(folder).filters


def test_render_uses_the_shipped_templates() -> None:
    """Every shipped mail template compiles in the default environment (tracker descriptions,
    ``defect_description.<kind>.*``, need their tracker's filters: see its module)."""
    names = [
        p.name
        for p in templates.TEMPLATE_DIR.glob("*.j2")
        if not p.name.startswith("defect_description.")
    ]
    assert {"digest.txt.j2", "candidate.html.j2"} <= set(names)
    env = templates.environment()
    for name in names:
        env.get_template(name)  # compiles, or raises TemplateSyntaxError
    with pytest.raises(jinja2.UndefinedError):
        templates.render("digest.txt.j2")

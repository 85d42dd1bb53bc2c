"""The README and docs/: links that lead somewhere, a configuration table that is whole.

Every relative link and image in README.md and docs/*.md must point at a file
of the repository, and a ``#fragment`` at a heading of that file (GitHub's
anchors: lower case, punctuation dropped, spaces to hyphens, ``-1`` for a
repeat). Links inside code are not links. The configuration table of
docs/operations.md must list exactly the settings of .env.example.
"""

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from app.config import read_settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATIONS = ROOT / "docs" / "operations.md"

FENCED = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target), an optional "title" after the target.
LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)"
)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose(text: str) -> str:
    """``text`` without fenced blocks and inline code (whose brackets are not links)."""
    return INLINE_CODE.sub("", FENCED.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.lower().strip()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a markdown text, repeats numbered as GitHub does."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for heading in HEADING.findall(FENCED.sub("", text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(path: Path, text: str) -> list[str]:
    """The relative links of ``text`` (the file at ``path``) that lead nowhere."""
    broken = []
    for target in LINK.findall(prose(text)):
        if EXTERNAL.match(target):
            continue
        name, _, fragment = target.partition("#")
        where = (path.parent / unquote(name)).resolve() if name else path
        if not where.is_relative_to(ROOT) or not where.exists():
            broken.append(f"{target}: no such file")
            continue
        if fragment and where.suffix == ".md":
            if unquote(fragment) not in anchors(where.read_text(encoding="utf-8")):
                broken.append(f"{target}: no heading #{fragment} in {where.name}")
    return broken


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_every_relative_link_leads_to_a_file_and_heading(path):
    text = path.read_text(encoding="utf-8")
    assert broken_links(path, text) == []


def test_the_docs_link_to_each_other():
    # Something is checked: the README links into every doc, and they link on.
    readme = prose((ROOT / "README.md").read_text(encoding="utf-8"))
    targets = {target.partition("#")[0] for target in LINK.findall(readme)}
    for doc in DOCS[1:]:
        assert f"docs/{doc.name}" in targets, f"README.md does not link {doc.name}"
    linked = sum(len(LINK.findall(prose(doc.read_text("utf-8")))) for doc in DOCS)
    assert linked >= 40


def test_the_check_finds_a_broken_link_or_anchor(tmp_path):
    readme = ROOT / "README.md"
    good = "[the guide](docs/api.md#errors), ![chart](docs/img/monthly-analytics.png)"
    assert broken_links(readme, good) == []
    assert broken_links(readme, "[gone](docs/nothing.md)") == [
        "docs/nothing.md: no such file"
    ]
    assert broken_links(readme, "[gone](docs/api.md#no-such-heading)") == [
        "docs/api.md#no-such-heading: no heading #no-such-heading in api.md"
    ]
    assert broken_links(readme, "[up](#a-five-minute-tour)") == []
    assert broken_links(readme, "[up](#a-six-minute-tour)")
    # Out of the repository, however it is written.
    assert broken_links(readme, "[out](../../etc/passwd)")
    # Not links: code, and addresses elsewhere.
    text = "`[x](nowhere.md)`\n```\n[y](nowhere.md)\n```\n[z](https://example.org/a.md)"
    assert broken_links(readme, text) == []


def test_anchors_follow_githubs_rules():
    text = (
        "# Bank API\n## Safe retries: `Idempotency-Key`\n## Everyday money: goals, "
        "payees, standing orders, daily limits\n### Email over SMTP\n## Errors\n"
        "## Errors\n```\n# not a heading\n```\n"
    )
    assert anchors(text) == {
        "bank-api",
        "safe-retries-idempotency-key",
        "everyday-money-goals-payees-standing-orders-daily-limits",
        "email-over-smtp",
        "errors",
        "errors-1",
    }


# -- the configuration table -----------------------------------------------------


def env_example_settings() -> set[str]:
    """Every variable .env.example names, set or commented out."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def configuration_table() -> list[str]:
    """The variables of docs/operations.md's configuration table, in order."""
    text = OPERATIONS.read_text(encoding="utf-8")
    assert text.count("\n## Configuration\n") == 1
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, re.MULTILINE)


def test_the_configuration_table_lists_every_setting_once():
    listed = configuration_table()
    assert len(listed) == len(set(listed)), "a setting is listed twice"
    settings = env_example_settings()
    assert len(settings) >= 40
    assert settings == set(read_settings({}))  # the settings app/config.py reads
    assert set(listed) == settings, (
        f"missing from docs/operations.md: {sorted(settings - set(listed))}; "
        f"not in .env.example: {sorted(set(listed) - settings)}"
    )

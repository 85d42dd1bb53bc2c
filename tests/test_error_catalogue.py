"""The error catalogue in app/errors.py is the only list of codes; the docs follow it.

The API guide's table (docs/api.md) and the OpenAPI document are generated
from the ApiError classes; these tests fail when either is stale, when a code is
missing from the OpenAPI document, or when the README or a doc names a code no
class defines (or names it under another status).
"""

import importlib.util
import re
from http import HTTPStatus
from pathlib import Path

import pytest

from app import serving
from app.errors import ApiError, catalogue
from app.openapi import error_table
from app.schemas.problem import ProblemSchema

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDE = ROOT / "docs" / "api.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
APP = ROOT / "app"
SCRIPT = ROOT / "scripts" / "error_catalogue.py"

CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
# A backticked word in an error description that is a field of the problem
# document (`errors`, `code`, ...) is not an error code.
PROBLEM_FIELDS = frozenset(ProblemSchema().fields)
TABLE_ROW = re.compile(r"^\| (\d{3}) \| `([a-z0-9_]+)` \| ", re.MULTILINE)


def load_script():
    spec = importlib.util.spec_from_file_location("error_catalogue", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture(scope="module")
def statuses() -> dict[str, int]:
    """code -> status, from the classes."""
    return {error.code: error.status for error in catalogue()}


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def codes_in(text: str) -> set[str]:
    """The backticked words of ``text`` that look like error codes."""
    return {
        word
        for word in re.findall(r"`([^`]+)`", text)
        if CODE.fullmatch(word) and word not in PROBLEM_FIELDS
    }


def misfiled(documented: dict[int, set[str]], statuses: dict[str, int]) -> list:
    """(status, code) pairs documented that the catalogue does not hold."""
    return sorted(
        (status, code)
        for status, codes in documented.items()
        for code in codes
        if statuses.get(code) != status
    )


# -- the catalogue itself ------------------------------------------------------


def test_catalogue_holds_every_api_error_class_once():
    found, pending = {ApiError}, [ApiError]
    while pending:
        for sub in pending.pop().__subclasses__():
            if sub not in found:
                found.add(sub)
                pending.append(sub)
    listed = catalogue()
    assert len(listed) == len(set(listed))
    assert set(listed) == found


def test_every_code_belongs_to_one_class_with_a_status_and_a_meaning():
    codes = [error.code for error in catalogue()]
    assert len(codes) == len(set(codes)), "two classes share a code"
    for error in catalogue():
        assert CODE.fullmatch(error.code), error
        assert 400 <= HTTPStatus(error.status) < 600, error
        assert error.detail and error.detail.endswith("."), error
        assert error.when and "\n" not in error.when, error
        assert error.when == error.when.strip(), error


def test_catalogue_is_ordered_by_status():
    listed = [error.status for error in catalogue()]
    assert listed == sorted(listed)


# -- docs/api.md and the other docs ------------------------------------------------


def documented_codes(text: str) -> dict[int, set[str]]:
    """status -> the codes ``text`` names under it."""
    # "`409 username_taken`" in prose, "| 409 | `username_taken` |" in tables.
    documented: dict[int, set[str]] = {}
    for status, code in re.findall(r"`([1-5]\d\d) ([a-z0-9_]+)`", text):
        documented.setdefault(int(status), set()).add(code)
    for status, code in TABLE_ROW.findall(text):
        documented.setdefault(int(status), set()).add(code)
    return documented


def test_the_api_guides_table_is_the_generated_one(script):
    in_guide = script.table_in(GUIDE.read_text(encoding="utf-8"))
    assert in_guide == error_table(), (
        "docs/api.md's error table is stale: "
        "run .venv/bin/python scripts/error_catalogue.py --write"
    )


def test_the_table_is_in_one_place_only(script):
    for path in DOCS:
        if path != GUIDE:
            text = path.read_text(encoding="utf-8")
            assert script.START not in text and script.END not in text, path


def test_the_guides_table_lists_every_code_under_its_status(statuses):
    table = GUIDE.read_text(encoding="utf-8")
    listed = {code: int(status) for status, code in TABLE_ROW.findall(table)}
    assert listed == statuses


@pytest.mark.parametrize("path", DOCS, ids=lambda path: path.name)
def test_no_doc_names_a_code_outside_the_catalogue(path, statuses):
    text = path.read_text(encoding="utf-8")
    assert misfiled(documented_codes(text), statuses) == []
    # The problem documents shown as examples.
    examples = set(re.findall(r'"code":\s*"([a-z0-9_]+)"', text))
    assert examples <= set(statuses)


def test_the_docs_name_codes_and_show_problem_documents():
    # The checks above look at something: the guide names codes in prose and
    # in its table, and shows problem documents.
    guide = GUIDE.read_text(encoding="utf-8")
    assert len(documented_codes(guide)) >= 10
    assert len(set(re.findall(r'"code":\s*"([a-z0-9_]+)"', guide))) >= 5
    assert re.search(r'"code":\s*"insufficient_funds"', README.read_text("utf-8"))


def test_the_script_prints_the_table_and_can_write_it(script, capsys):
    assert script.main([]) == 0
    assert capsys.readouterr().out == error_table() + "\n"
    text = f"intro\n{script.START}\nold table\n{script.END}\noutro\n"
    written = script.with_table(text, error_table())
    assert written.startswith("intro\n") and written.endswith("\noutro\n")
    assert script.table_in(written) == error_table()


def test_the_script_writes_the_guide(script, monkeypatch, tmp_path, capsys):
    guide = tmp_path / "api.md"
    guide.write_text(f"# Guide\n{script.START}\nstale\n{script.END}\nend\n")
    monkeypatch.setattr(script, "GUIDE", guide)
    assert script.main(["--write"]) == 0
    assert "error table updated" in capsys.readouterr().out
    assert script.table_in(guide.read_text()) == error_table()
    assert script.main(["--write"]) == 0
    assert "already up to date" in capsys.readouterr().out


def test_a_stale_or_unmarked_guide_is_told_apart(script, statuses):
    guide = GUIDE.read_text(encoding="utf-8")
    stale = guide.replace("| `insufficient_funds` |", "| `not_enough_money` |")
    assert stale != guide
    assert script.table_in(stale) != error_table()
    assert misfiled(documented_codes(stale), statuses) == [(409, "not_enough_money")]
    for broken in (guide.replace(script.START, ""), guide + script.END):
        with pytest.raises(ValueError):
            script.table_in(broken)


# -- the OpenAPI document -------------------------------------------------------


def test_openapi_description_lists_every_code_under_its_status(spec, statuses):
    description = spec["info"]["description"]
    assert error_table() in description
    listed = {code: int(status) for status, code in TABLE_ROW.findall(description)}
    assert listed == statuses


def test_openapi_error_responses_name_only_catalogued_codes(spec, statuses):
    documented: dict[int, set[str]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                if int(status) >= 400:
                    found = codes_in(response["description"])
                    assert found, (method, path, status)
                    documented.setdefault(int(status), set()).update(found)
    assert misfiled(documented, statuses) == []


def test_the_check_can_tell_a_misfiled_code(statuses):
    assert codes_in("Bad (`insufficient_funds`, with `errors` and `Retry-After`)") == {
        "insufficient_funds"
    }
    assert misfiled({409: {"insufficient_funds"}}, statuses) == []
    assert misfiled({404: {"insufficient_funds"}, 409: {"no_such_code"}}, statuses) == [
        (404, "insufficient_funds"),
        (409, "no_such_code"),
    ]


# -- codes written outside the classes -------------------------------------------


def test_codes_written_as_literals_in_app_are_catalogued(statuses):
    # ``problem(401, "token_expired", ...)``: answers built without a class
    # (the JWT callbacks, the servers' own refusals) must still be in it.
    literal = re.compile(r'problem\(\s*(\d{3}),\s*"([a-z0-9_]+)"')
    documented: dict[int, set[str]] = {}
    for path in APP.rglob("*.py"):
        for status, code in literal.findall(path.read_text(encoding="utf-8")):
            documented.setdefault(int(status), set()).add(code)
    assert {"token_expired", "token_revoked"} <= documented.get(401, set())
    assert misfiled(documented, statuses) == []


def test_the_servers_refusals_are_catalogued(statuses):
    answered = {
        status: {code} for status, (code, _detail) in serving._SERVER_ERRORS.items()
    }
    assert misfiled(answered, statuses) == []

"""The web front end's page and files, without a browser.

Every /app/ path answers the one HTML page under the strict policy; the page
and its modules load only files of this server, all served, none left over;
the code keeps no token anywhere but in memory and turns no amount into a
binary float; the page's routes stay out of the OpenAPI document.
"""

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from app.views.web import ASSETS, WEB_CSP
from tests.helpers import PROBLEM

ROOT = Path(__file__).resolve().parent.parent
WEB = Path(ASSETS)
SCRIPTS = sorted(WEB.rglob("*.js"))
VENDOR = ROOT / "tests" / "vendor" / "axe-core"
AXE_VERSION = "4.10.3"
AXE_SHA256 = "880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb"


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize(
    "path", ["/app", "/app/", "/app/history", "/app/loans/6740a1f0", "/app/x/y/z"]
)
def test_every_app_path_answers_the_page_under_the_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == WEB_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert '<script type="module" src="/app/assets/main.js">' in response.text


def test_the_policy_allows_nothing_inline_and_nothing_from_elsewhere():
    policy = directives(WEB_CSP)
    assert policy["default-src"] == ["'none'"]
    for name in ("script-src", "style-src", "connect-src", "font-src", "form-action"):
        assert policy[name] == ["'self'"], name
    assert policy["img-src"] == ["'self'", "blob:"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert "unsafe" not in WEB_CSP


def test_the_page_has_no_inline_script_or_style(client):
    html = client.get("/app/").text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)


def imports_of(path: Path) -> set[Path]:
    source = path.read_text()
    found = re.findall(r'^(?:import|export)\b[^;]*?\bfrom "([^"]+)";', source, re.M)
    assert all(name.startswith(("./", "../")) for name in found), found
    return {(path.parent / name).resolve() for name in found}


def test_every_file_the_page_loads_is_served_from_here_and_none_is_left_over(client):
    html = client.get("/app/").text
    referenced = set(re.findall(r'(?:src|href)="([^"]+)"', html))
    assert all(url.startswith("/app/assets/") for url in referenced), referenced
    reached = {WEB / url.removeprefix("/app/assets/") for url in referenced}
    pending = [path for path in reached if path.suffix == ".js"]
    while pending:
        for imported in imports_of(pending.pop()):
            assert imported.is_relative_to(WEB), imported
            if imported not in reached:
                reached.add(imported)
                pending.append(imported)
    on_disk = {path.resolve() for path in WEB.rglob("*") if path.is_file()}
    assert on_disk - {p.resolve() for p in reached} == set()
    icon_in_code = "/app/assets/icon.svg" in (WEB / "main.js").read_text()
    assert icon_in_code
    types = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
    for path in reached:
        url = "/app/assets/" + path.relative_to(WEB).as_posix()
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.mimetype == types[path.suffix], url
        assert response.headers["Content-Security-Policy"] == WEB_CSP, url
        assert response.headers["X-Content-Type-Options"] == "nosniff", url
        assert response.headers["Cache-Control"] == "no-cache", url


@pytest.mark.parametrize(
    "name",
    ["missing.js", "../views/web.py", "..%2Fviews%2Fweb.py", "shell.html", "Main.js",
     "main.js.map", ".hidden.js", "%00.js", "a/../main.js", "main.js%00"],
)  # fmt: skip
def test_nothing_but_the_front_ends_files_is_served(client, name):
    response = client.get(f"/app/assets/{name}")
    assert response.status_code == 404
    assert response.mimetype == PROBLEM


def test_the_page_is_not_an_api_operation(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert [path for path in paths if path == "/app" or path.startswith("/app/")] == []


def code(path: Path) -> str:
    """A script without its comments (which may name what the code must not do)."""
    text = path.read_text()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"^\s*//.*$|\s//\s.*$", "", text, flags=re.M)


FORBIDDEN = {
    # Where a token must never be kept.
    "localStorage": r"\blocalStorage\b",
    "sessionStorage": r"\bsessionStorage\b",
    "document.cookie": r"document\.cookie",
    "indexedDB": r"\bindexedDB\b",
    # Money as a binary float.
    "parseFloat": r"\bparseFloat\b",
    "Number(": r"\bNumber\s*\(",
    "toFixed": r"\.toFixed\b",
    "Math.": r"\bMath\.",
    "unary plus": r"[=(,]\s*\+\s*[a-zA-Z_(]",
    # HTML built from strings, and script made from text.
    "innerHTML": r"\b(?:inner|outer)HTML\b|insertAdjacentHTML",
    "eval": r"\beval\s*\(|new Function\b",
    # Inline style (the policy refuses it).
    "style attribute": r"setAttribute\(\s*[\"']style|\.style\.",
    # Anything from another origin.
    "another origin": r"https?://",
}


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.name for p in SCRIPTS])
def test_the_code_keeps_tokens_in_memory_and_money_as_text(script):
    text = code(script)
    found = {name for name, pattern in FORBIDDEN.items() if re.search(pattern, text)}
    assert found == set()


def test_the_check_above_can_fail():
    sample = (
        "const total = parseFloat(a.amount) + Number(b.amount);\n"
        'localStorage.setItem("t", token);\n'
        'x.innerHTML = html; el.style.color = "red"; fetch("https://cdn.example");\n'
    )
    found = {name for name, pattern in FORBIDDEN.items() if re.search(pattern, sample)}
    assert {"parseFloat", "Number(", "localStorage", "innerHTML", "style attribute",
            "another origin"} <= found  # fmt: skip


def test_the_only_token_is_the_authorization_header():
    api = code(WEB / "api.js")
    # Tokens go out in one place, as a bearer header; never into a URL.
    assert api.count("Authorization") == 1
    assert "headers.Authorization = `Bearer ${token}`" in api
    for script in SCRIPTS:
        text = code(script)
        assert not re.search(r"(?:access|refresh)_token[^;\n]*\?|[?&]token=", text)


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="needs node")
def test_amounts_are_shown_by_string_manipulation_exactly():
    script = f"""
    import {{ money, groupDigits, typedAmount, wholeNumber, AMOUNT_PATTERN }}
      from "{(WEB / "money.js").as_uri()}";
    console.log(JSON.stringify([
      money("1234567.50", "USD"), money("-1000.00", "USD"), money("0.30", "EUR"),
      money("999.99"), money("12345678901234567890.01", "USD"), groupDigits("100"),
      typedAmount(" 1,250.5 "), wholeNumber("12"), wholeNumber("1.5"),
      ["0.10", "125.5", "1.234", "-1", "1e3", ""].map(t => AMOUNT_PATTERN.test(t)),
    ]));
    """
    out = subprocess.run(  # noqa: S603 - our own script, run by node
        [NODE, "--input-type=module", "-e", script],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    assert json.loads(out) == [
        "1,234,567.50 USD", "-1,000.00 USD", "0.30 EUR", "999.99",
        "12,345,678,901,234,567,890.01 USD", "100", "1250.5", 12, "1.5",
        [True, True, False, False, False, False],
    ]  # fmt: skip


def test_axe_core_is_vendored_pinned_and_licensed():
    source = (VENDOR / "axe.min.js").read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256
    assert source.startswith(f"/*! axe v{AXE_VERSION}".encode())
    assert "Mozilla Public License" in (VENDOR / "LICENSE").read_text()
    readme = (VENDOR / "README.md").read_text()
    assert AXE_VERSION in readme and AXE_SHA256 in readme

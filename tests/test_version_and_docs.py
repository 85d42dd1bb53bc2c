"""One version in one place, and API docs in the order a reader needs."""

import json
import tomllib
from pathlib import Path

from app.version import __version__

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_is_written_once_and_the_document_reports_it(client):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "app.version.__version__"
    assert client.get("/openapi.json").get_json()["info"]["version"] == __version__


def test_paths_keep_the_order_their_views_are_declared_in(client):
    body = client.get("/openapi.json").get_data(as_text=True)
    paths = list(json.loads(body)["paths"])
    # Grouped by tag as declared (auth first), and within auth a session's
    # order rather than the alphabet's (which puts change-password first).
    assert paths[:3] == ["/auth/register", "/auth/login", "/auth/refresh"]
    assert paths.index("/auth/login") < paths.index("/auth/change-password")
    assert paths.index("/auth/logins") < paths.index("/balance")


def test_swagger_ui_keeps_the_token_across_a_reload(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "persistAuthorization: true" in page

"""The docs pages' assets: exactly the files they load, under the docs policy."""

import os
import re

import pytest
from swagger_ui_bundle import swagger_ui_path

from app.openapi import DOCS_CSP

PAGES = ("/docs", "/redoc")
REDOC_FOLDER = os.path.join(os.path.dirname(__file__), "..", "app", "static", "redoc")


def page_assets(client) -> set[str]:
    """The same-origin files the two docs pages reference."""
    found = set()
    for page in PAGES:
        html = client.get(page).get_data(as_text=True)
        found |= set(re.findall(r'(?:src|href)="(/[^"]+)"', html))
    return found


def test_the_pages_load_the_bundles_they_need(client):
    assert page_assets(client) == {
        "/docs/assets/swagger-ui.css",
        "/docs/assets/swagger-ui-bundle.js",
        "/static/redoc/redoc.standalone.js",
    }


def test_every_asset_the_pages_load_carries_the_docs_policy(client):
    for path in page_assets(client) | set(PAGES):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Security-Policy"] == DOCS_CSP, path
        assert response.headers["X-Content-Type-Options"] == "nosniff", path


def unused_files() -> list[str]:
    swagger = [
        f"/docs/assets/{name}"
        for name in sorted(os.listdir(swagger_ui_path))
        if name not in {"swagger-ui.css", "swagger-ui-bundle.js"}
    ]
    redoc = [
        f"/static/redoc/{name}"
        for name in sorted(os.listdir(REDOC_FOLDER))
        if name != "redoc.standalone.js"
    ]
    return swagger + redoc


def test_the_packages_ship_files_the_pages_do_not_load():
    assert "/docs/assets/index.html" in unused_files()
    assert "/docs/assets/swagger-initializer.js" in unused_files()
    assert "/static/redoc/VERSION.md" in unused_files()


@pytest.mark.parametrize(
    "path",
    [
        *unused_files(),
        "/docs/assets/",
        "/docs/assets/../openapi.py",
        "/static/redoc/",
        "/static/redoc",
    ],
)
def test_any_other_file_under_the_asset_paths_is_a_404_problem(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["code"] == "not_found"
    assert b"petstore" not in response.get_data()

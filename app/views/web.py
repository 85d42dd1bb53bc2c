"""Blueprint web: the web front end's HTML shell at /app/ and its assets.

The front end is a single page of plain JavaScript modules (app/static/web/)
that calls the JSON API on this origin; every rule stays behind the API. This
blueprint serves only one HTML page, the same for every /app/ path (the page
routes itself), and the files it loads, all under a policy that lets the page
run no script, style or request from anywhere but this origin, and no inline
script or style at all. Not an API operation: kept out of the OpenAPI document.
"""

import os
import re

from flask import Blueprint, Response, render_template, send_from_directory
from werkzeug.exceptions import NotFound

ASSETS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static", "web")
# No 'unsafe-inline' anywhere: an injected <script> or style attribute is
# refused by the browser. img-src takes blob: for the chart, fetched with the
# session's token and shown from memory.
WEB_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' blob:; connect-src 'self'; font-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The front end's files: lower-case names of JavaScript modules, the style
# sheet and the icon; anything else (a dotted or hostile path) is a 404.
_ASSET = re.compile(r"(?:[a-z0-9_-]+/)*[a-z0-9_-]+\.(?:js|css|svg)")
_TYPES = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}

bp = Blueprint("web", __name__)


@bp.get("/app")
@bp.get("/app/")
@bp.get("/app/<path:path>")
def shell(path: str = "") -> Response:
    """Serve the front end's one page; its script shows the screen for the path."""
    response = Response(render_template("web/shell.html"), mimetype="text/html")
    # The shell names its assets without a version: always revalidated.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/app/assets/<path:filename>")
def asset(filename: str) -> Response:
    """Serve one file of app/static/web, revalidated on every use."""
    if not _ASSET.fullmatch(filename):
        raise NotFound()
    response = send_from_directory(
        ASSETS, filename, mimetype=_TYPES[filename.rsplit(".", 1)[1]]
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.after_request
def web_policy(response: Response) -> Response:
    """Put the front end's policy on every answer of this blueprint."""
    response.headers["Content-Security-Policy"] = WEB_CSP
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response

"""The benchmark's ceiling: the least a JWT-protected Flask endpoint can cost.

Flask plus flask-jwt-extended, nothing else: no database, no schemas, no
logging hooks. ``GET /ceiling`` answers a constant balance and ``POST /ceiling``
parses the JSON body and answers 201, both behind ``@jwt_required()``. Served
by the same gunicorn settings as the API, its requests/s is the upper bound
the API's ``GET /balance`` and ``POST /deposit`` are compared with.

Run by bench/bench.py as ``gunicorn --pythonpath bench 'ceiling_app:create_app()'``
with JWT_SECRET_KEY in the environment (the same secret as the API's).
"""

import os

from flask import Flask, request
from flask_jwt_extended import JWTManager, jwt_required


def create_app(secret: str | None = None) -> Flask:
    """Build the ceiling app; the secret defaults to $JWT_SECRET_KEY."""
    app = Flask(__name__)
    key = secret if secret is not None else os.environ.get("JWT_SECRET_KEY", "")
    if not key:
        raise RuntimeError("the ceiling app needs JWT_SECRET_KEY")
    app.config["JWT_SECRET_KEY"] = key
    JWTManager(app)

    @app.get("/ceiling")
    @jwt_required()
    def read() -> tuple[dict, int]:
        return {"balance": "0.00"}, 200

    @app.post("/ceiling")
    @jwt_required()
    def write() -> tuple[dict, int]:
        body = request.get_json()
        amount = body.get("amount") if isinstance(body, dict) else None
        return {"amount": amount}, 201

    return app

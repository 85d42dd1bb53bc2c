"""Unbound Flask extensions, initialised by the app factory."""

from flask_jwt_extended import JWTManager

jwt = JWTManager()

"""The password hashing policy: scrypt with explicit parameters, even timing."""

from functools import lru_cache

from werkzeug.security import check_password_hash, generate_password_hash


def hash_password(password: str, method: str) -> str:
    """Hash a password with the configured scrypt parameters."""
    return generate_password_hash(password, method=method, salt_length=16)


def verify_password(stored_hash: str | None, password: str, method: str) -> bool:
    """Check a password; without a stored hash, spend the same time and say no."""
    if stored_hash is None:
        # An unknown username must cost as much as a wrong password.
        check_password_hash(_dummy_hash(method), password)
        return False
    return check_password_hash(stored_hash, password)


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    return generate_password_hash("not-a-real-password", method=method)

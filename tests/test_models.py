"""Model-level rules: account numbers, money formatting, cursors."""

from datetime import UTC, datetime

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from app.models import account as account_module
from app.models.account import AccountModel, luhn_digit, new_account_number
from app.schemas.common import Cursor, encode_cursor, format_cents
from tests.factories import make_user


def test_account_numbers_are_ten_digits_with_a_valid_check_digit():
    numbers = {new_account_number() for _ in range(200)}
    assert len(numbers) == 200
    for number in numbers:
        assert len(number) == 10 and number.isdigit()
        assert luhn_digit(number[:9]) == number[9]


def test_luhn_digit_matches_known_value():
    # 7992739871 is the textbook Luhn example with check digit 3.
    assert luhn_digit("7992739871") == "3"


def test_number_collision_draws_again(app, monkeypatch):
    user = make_user(app, "owner", "a-long-password")
    with app.app_context():
        first = AccountModel().create(user, "USD")
        drawn = iter([first["account_number"], "1234567897"])
        monkeypatch.setattr(account_module, "new_account_number", lambda: next(drawn))
        second = AccountModel().create(user, "USD")
    assert second["account_number"] == "1234567897"
    with app.app_context():
        # The number is reserved under its own _id: that is the uniqueness.
        reserved = AccountModel().numbers.find_one({"_id": "1234567897"})
    assert reserved["account_id"] == second["_id"]


def test_existing_account_id_is_not_retried(app):
    user = make_user(app, "owner", "a-long-password")
    with app.app_context():
        AccountModel().create(user, "USD", account_id=user["_id"])
        with pytest.raises(DuplicateKeyError):
            AccountModel().create(user, "USD", account_id=user["_id"])


def test_endless_collisions_give_up(app, monkeypatch):
    user = make_user(app, "owner", "a-long-password")
    with app.app_context():
        taken = AccountModel().create(user, "USD")["account_number"]
        monkeypatch.setattr(account_module, "new_account_number", lambda: taken)
        with pytest.raises(RuntimeError):
            AccountModel().create(user, "USD")


@pytest.mark.parametrize(
    "cents, text",
    [
        (0, "0.00"),
        (1, "0.01"),
        (10, "0.10"),
        (12550, "125.50"),
        (-5, "-0.05"),
        (100000000, "1000000.00"),
    ],
)
def test_format_cents(cents, text):
    assert format_cents(cents) == text


def test_cursor_round_trips_exactly():
    doc = {
        "created_at": datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        "_id": ObjectId(),
    }
    assert Cursor().deserialize(encode_cursor(doc)) == (doc["created_at"], doc["_id"])

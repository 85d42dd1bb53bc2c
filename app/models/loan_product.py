"""LoanProductModel: the loan_products collection (what the bank lends on).

A product fixes the rate and the bounds of amount and term an application may
ask for. Products are never deleted: a loan names its product for ever, and a
product the bank stops offering is set inactive.
"""

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING

from app.db import get_db
from app.models import keyset_page, to_object_id, utc_now


class LoanProductModel:
    """Loan products, created by bankers."""

    @property
    def collection(self) -> Any:
        return get_db()["loan_products"]

    def ensure_indexes(self) -> None:
        """The listing index (newest first)."""
        self.collection.create_index(
            [("created_at", DESCENDING), ("_id", DESCENDING)], name="products_newest"
        )
        self.collection.create_index(
            [("active", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
            name="products_by_activity",
        )

    def create(self, product: dict) -> dict:
        """Store a new product (its terms already checked) and return it."""
        doc = {"_id": ObjectId(), **product, "created_at": utc_now()}
        self.collection.insert_one(doc)
        return doc

    def find(self, product_id: str | ObjectId) -> dict | None:
        """Return a product by id (a malformed id names none)."""
        oid = to_object_id(product_id)
        return None if oid is None else self.collection.find_one({"_id": oid})

    def list_page(
        self, limit: int, after: tuple | None = None, active: bool | None = None
    ) -> tuple[list[dict], bool]:
        """Return a page of products, newest first, optionally by activity."""
        query = {} if active is None else {"active": active}
        return keyset_page(self.collection, query, limit, after)

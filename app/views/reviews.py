"""Blueprint reviews: posted movements flagged for a banker's review, under /banker."""

from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from app.controllers import reviews as controller
from app.http import json_body, query_args
from app.openapi import operation
from app.schemas.review import (
    CloseReviewSchema,
    ReviewArgsSchema,
    ReviewPageSchema,
    ReviewSchema,
)
from app.security import roles_required
from app.views.banker import ADMIN_FORBIDDEN

bp = Blueprint(
    "reviews",
    __name__,
    url_prefix="/banker",
    description="Posted movements flagged for review, never blocked (roles banker "
    "and auditor read them; a banker closes them).",
)


@bp.get("/reviews")
@operation(bp, 200, ReviewPageSchema, query=ReviewArgsSchema)
@roles_required("banker", "auditor")
def list_reviews():
    """List the reviews of flagged movements, newest first, open or closed."""
    return controller.list_reviews(query_args()), 200


@bp.post("/reviews/<review_id>/close")
@operation(
    bp,
    200,
    ReviewSchema,
    body=CloseReviewSchema,
    errors={
        **ADMIN_FORBIDDEN,
        404: "No review has that id (`review_not_found`).",
        409: "The review is closed already: another close reached its one "
        "outcome first (`review_not_open`).",
        503: "The database does not answer (`database_unavailable`), or the "
        "account to freeze kept changing (`ledger_busy`): the review is "
        "closed, and a retry finishes the freeze.",
    },
    example={"outcome": "fraud", "note": "The customer did not make it."},
)
@roles_required("banker")
def close_review(review_id: str):
    """Close a review as legitimate or fraud (fraud freezes the movement's account)."""
    return controller.close_review(current_user, review_id, json_body()), 200

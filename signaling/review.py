"""The review side of the app, as `signaling.app` mounts it: the desk and the routes.

The parts: `review_api` (the reviewers' endpoints), `verify_jobs` (background verifies),
`review_desk` (the state they share, under REVIEW) and `case_numbers`.
"""

from __future__ import annotations

from aiohttp import web

from signaling import case_numbers, review_api
from signaling.review_desk import REVIEW, ReviewDesk

__all__ = ["REVIEW", "ReviewDesk", "routes"]


def routes() -> list[web.RouteDef]:
    """The review API's routes and the case number routes."""
    return [*review_api.routes(), *case_numbers.routes()]

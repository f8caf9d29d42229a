"""Small pieces every handler module uses."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from .. import paging
from ..context import CONTEXT, EmulatorContext
from ..errors import bad_parameter
from ..expression import ExpressionError, Predicate, compile_expression
from ..render import json_response


def context(request: web.Request) -> EmulatorContext:
    return request.app[CONTEXT]


async def read_form(request: web.Request) -> MultiDictProxy[str]:
    """The POST body's fields; a multipart file where Twilio expects a plain value is a 400, not a crash."""
    fields: MultiDict[str] = MultiDict()
    for name, value in (await request.post()).items():
        if not isinstance(value, str):
            raise bad_parameter(f"{name} must be a plain form value, not a file")
        fields.add(name, value)
    return MultiDictProxy(fields)


def list_response(
    request: web.Request,
    key: str,
    records: list[dict[str, Any]],
    page_request: paging.PageRequest,
    page: paging.Page[Any],
) -> web.Response:
    ctx = context(request)
    meta = paging.meta(ctx.base(request), request.path, request.query, key, page_request, page)
    return json_response({key: records, "meta": meta})


def no_content() -> web.Response:
    return web.Response(status=204)


@lru_cache(maxsize=256)
def _compile(text: str) -> Predicate:
    # Cached: a client paging through a filtered list sends the same expression with every page.
    return compile_expression(text)


def expression_param(text: str | None, name: str) -> Predicate | None:
    """A filter expression parameter (TargetWorkersExpression, EvaluateTaskAttributes); a 400 names its position."""
    if text is None:
        return None
    try:
        return _compile(text)
    except ExpressionError as exc:
        raise bad_parameter(f"Invalid {name}: {exc.message}") from None


def choice_ci(value: str | None, name: str, choices: tuple[str, ...]) -> str | None:
    """One of `choices`, matched ignoring case and surrounding blanks (Ordering values)."""
    if value is None:
        return None
    for choice in choices:
        if choice.lower() == value.strip().lower():
            return choice
    raise bad_parameter(f"{name} must be one of {', '.join(choices)}, got {value!r}")

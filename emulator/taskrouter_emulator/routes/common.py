"""Small pieces every handler module uses."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from .. import paging
from ..context import CONTEXT, EmulatorContext
from ..errors import bad_parameter
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

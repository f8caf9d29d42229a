"""List requests: the first page from filters, later pages from the opaque page token."""

from __future__ import annotations

from typing import Any, Mapping

from ..upstream.paging import decode_page_token, next_page_token
from ..validation import InvalidArgument
from ..upstream.paging import InvalidPageToken
from .rest_call import RestCall

DEFAULT_PAGE_SIZE = 50


def list_call(path: str, query: dict[str, object], page_size: int, page_token: str, base: str = "taskrouter") -> RestCall:
    if page_token:
        try:
            # The token's URL already carries the filters and page size of the first request.
            return RestCall("GET", decode_page_token(page_token, path), base=base)
        except InvalidPageToken as exc:
            raise InvalidArgument([("page_token", str(exc))]) from None
    query["PageSize"] = page_size or DEFAULT_PAGE_SIZE
    return RestCall("GET", path, query=query, base=base)


def next_token(body: Mapping[str, Any] | None) -> str:
    return next_page_token(body) or ""

"""GET /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}/Events.json (the Call Events page), with the 2010 API's
paging fields. Calls are recorded through the admin API (routes/admin.py): there is no telephony here."""

from __future__ import annotations

from aiohttp import web

from .. import paging, render
from .common import context


async def list_call_events(request: web.Request) -> web.Response:
    store = context(request).store
    call = store.get_call(request.match_info["account_sid"], request.match_info["call_sid"])
    scope = "call-events"
    page_request = paging.parse_page_request(request.query, scope)
    page = paging.paginate(list(enumerate(call.events)), lambda pair: (pair[0],), page_request, scope)
    body = {"events": [render.call_event(event) for _, event in page.items]}
    body.update(paging.legacy_meta(request.path, request.query, page_request, page))
    return render.json_response(body)


def register(app: web.Application) -> None:
    app.router.add_get(
        "/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}/Events.json", list_call_events, allow_head=False
    )

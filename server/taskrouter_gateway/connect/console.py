"""/console: the operators' page, a static bundle built from console/ by `./dev gen` (scripts/gen_console.sh)
and shipped inside the package. Read once at start-up; served from memory with the headers a page that
holds a bearer token should have (no framing, no third-party scripts, nothing cached across deployments)."""

from __future__ import annotations

from importlib import resources
from .asgi_types import Receive, Scope, Send, respond

BUNDLE = "console_dist"
_TYPES = {".html": b"text/html; charset=utf-8", ".js": b"text/javascript; charset=utf-8",
          ".css": b"text/css; charset=utf-8", ".png": b"image/png", ".svg": b"image/svg+xml"}
# The page talks only to its own origin: no CDN, no inline script, no frames.
_SECURITY = [
    (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; "
                                 b"connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


def load_bundle() -> dict[str, tuple[bytes, bytes]]:
    """path under /console/ -> (content type, body); '' is the page itself."""
    files: dict[str, tuple[bytes, bytes]] = {}
    root = resources.files(__package__).joinpath(BUNDLE)
    if not root.is_dir():
        return files  # an install without the bundle: /console answers 404
    for entry in root.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in _TYPES:
            files[entry.name] = (_TYPES[suffix], entry.read_bytes())
    if "index.html" in files:
        files[""] = files["index.html"]
    return files


class Console:
    def __init__(self) -> None:
        self._files = load_bundle()

    def handles(self, path: str) -> bool:
        return path == "/console" or path.startswith("/console/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/console":
            await respond(send, 308, [(b"location", b"/console/")], b"")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await respond(send, 405, [(b"allow", b"GET, HEAD"), (b"content-type", b"text/plain")],
                           b"the console is read with GET\n")
            return
        found = self._files.get(path.removeprefix("/console/"))
        if found is None:
            await respond(send, 404, [(b"content-type", b"text/plain")], b"no such console file\n")
            return
        content_type, body = found
        await respond(send, 200, [(b"content-type", content_type), *_SECURITY],
                       b"" if scope["method"] == "HEAD" else body, length=len(body))


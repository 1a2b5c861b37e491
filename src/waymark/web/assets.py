"""Static files under content-hashed names (`app.3f2a9c1e5b7d8a40.css`), cached for a year.

A file's name changes whenever its bytes do, so browsers may keep it forever and still never
run an old script against a new page. The files are read once, when the app is built; the
templates ask for them by their plain name (`asset("app.css")`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

from waymark.kernel.errors import NotFound

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


class Assets:
    def __init__(self, directory: Path = STATIC_DIR) -> None:
        self._urls: dict[str, str] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        for path in sorted(directory.iterdir()):
            media_type = MEDIA_TYPES.get(path.suffix)
            if media_type is None or not path.is_file():
                continue
            content = path.read_bytes()
            hashed = f"{path.stem}.{hashlib.sha256(content).hexdigest()[:16]}{path.suffix}"
            self._urls[path.name] = f"{PREFIX}/{hashed}"
            self._files[hashed] = (content, media_type)

    def url(self, name: str) -> str:
        """Where the file `name` is served now; a KeyError names a file that is not there."""
        return self._urls[name]

    def route(self) -> HTTPRouteHandler:
        files = self._files

        @get(f"{PREFIX}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
        def static_file(name: Annotated[str, PathParameter(max_length=200)]) -> Response[bytes]:
            found = files.get(name)
            if found is None:
                raise NotFound("no such file")
            content, media_type = found
            return Response(content, media_type=media_type, headers={"cache-control": IMMUTABLE})

        return static_file

"""`Router`: Litestar's, for a router made for one app.

Litestar deep-copies a `Router` as it registers it, so that one router may be registered on
several apps (or twice on one) without their changes to it meeting. Waymark's routers are
made by a feature's route function inside `create_app`, for that app alone, so the copy buys
nothing; it cost about a third of making the app (27 routers, 371 handlers: 0.15-0.4 s), and
the test suite makes an app per test. This one is registered as it is.
"""

from __future__ import annotations

from typing import Any

from litestar import Router as LitestarRouter


class Router(LitestarRouter):
    def __deepcopy__(self, memo: dict[int, Any]) -> Router:
        """This router itself: it was made for the app registering it (the module's
        docstring), which takes it as its owner."""
        if self.owner is not None:  # registered already: a second owner would steal it
            raise RuntimeError(f"router {self.path!r} is already registered")
        return self

"""`@pytest.mark.xdist_group` working again under `--dist loadgroup` (pytest 9, pytest-xdist 3.8).

xdist tags a grouped test by setting `item._nodeid` to `<id>@<group>`, and its scheduler keeps
the tests of one tag on one worker. pytest 9 reads a node's id from `item._id`, so the tag was
lost and every grouped test was scheduled on its own: each worker started its own browser
site, for instance. This copies xdist's tag to where pytest 9 reads it, after xdist's hook;
it does nothing once xdist sets the id pytest reads (then `item.nodeid` already has the tag).
"""

from __future__ import annotations

import pytest
from _pytest.nodeid import coerce_node_id


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        tagged = item.__dict__.get("_nodeid")
        if isinstance(tagged, str) and item.nodeid != tagged:
            item._id = coerce_node_id(tagged)  # type: ignore[attr-defined]

"""What the progress scenarios share: learners signed in through the app, their statuses set
through the app's own API, and the order of changes that makes every write a real one."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bench.scenario import AppContext, Request, fetch
from bench.scenarios._accounts import create_accounts, login
from bench.scenarios._roadmap import ROADMAP_SLUG, fetch_roadmap

PROGRESS_PATH = f"/api/v1/me/progress/{ROADMAP_SLUG}"
PASSWORD = "bench passphrase for progress"  # noqa: S105  (throwaway accounts, throwaway database)
MAX_BATCH = 100  # schemas.MAX_BATCH


def roadmap_json(ctx: AppContext) -> dict[str, Any]:
    """The roadmap as the API shows it: what the limits keep in memory, as the app does."""
    detail: dict[str, Any] = fetch_roadmap(ctx)[0].json()
    return detail


def topic_ids(roadmap: Mapping[str, Any]) -> list[str]:
    return [t["id"] for s in roadmap["sections"] for t in s["topics"]]


def learners(ctx: AppContext, name: str, count: int, *, first_client: int) -> list[tuple[str, str]]:
    """`count` signed-in learners: (email, access token) each, logged in from client
    addresses `first_client`, `first_client + 1`, ... (the login throttle counts per IP)."""
    emails = [f"bench-{name}-{number}@example.org" for number in range(count)]
    create_accounts(ctx, emails, PASSWORD)
    return [
        (email, login(ctx, email, PASSWORD, first_client + number))
        for number, email in enumerate(emails)
    ]


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", **more}


def set_statuses(ctx: AppContext, token: str, statuses: Mapping[str, str]) -> None:
    """Set topics' statuses through the app (`POST .../batch`, all or nothing per batch)."""
    changes = [{"topic_id": topic, "status": status} for topic, status in statuses.items()]
    for start in range(0, len(changes), MAX_BATCH):
        resp = fetch(
            ctx.port,
            Request(
                f"{PROGRESS_PATH}/batch",
                method="POST",
                headers=bearer(token, **{"content-type": "application/json"}),
                body=json.dumps({"changes": changes[start : start + MAX_BATCH]}).encode(),
            ),
        )
        if resp.status != 200:
            raise RuntimeError(f"batch change answered {resp.status}: {resp.body[:300]!r}")


# -- progress-put: every request a change -------------------------------------------------

# Each topic goes round three statuses, from a place of its own (its index modulo 3): every
# request finds the topic at another status, even when the request before it for the same
# topic was lost (sent as a run ended and never served, or refused with an error): a topic
# then still has the status before that one, which also differs from the next. At every
# step a third of the topics or so are `learning`, so the roadmap is never complete (no
# `roadmap_completed` on either side), and the counts mix all three statuses.
CYCLE = ("learning", "done", "skipped")


def _status(index: int, step: int) -> str:
    return CYCLE[(index + step) % len(CYCLE)]


def starting_statuses(topics: Sequence[str]) -> dict[str, str]:
    """Where a learner of `progress-put` starts: each topic where its cycle ends."""
    return {topic: _status(index, -1) for index, topic in enumerate(topics)}


def change_cycle(topics: Sequence[str]) -> list[tuple[str, str]]:
    """(topic, status) for one learner: three passes over the topics in roadmap order, each
    moving every topic one status on. From `starting_statuses`, each one changes the topic's
    status, and the whole cycle ends where it started, so it can run again and again."""
    return [
        (topic, _status(index, step))
        for step in range(len(CYCLE))
        for index, topic in enumerate(topics)
    ]


def mix(topics: Sequence[str], learner: int) -> dict[str, str]:
    """15 done, then 5 learning, then 2 skipped, from a place of the learner's own."""
    shifted = [topics[(5 * learner + i) % len(topics)] for i in range(22)]
    return (
        dict.fromkeys(shifted[:15], "done")
        | dict.fromkeys(shifted[15:20], "learning")
        | dict.fromkeys(shifted[20:], "skipped")
    )

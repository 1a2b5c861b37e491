"""docs/events.md describes every domain event's payload field by field: this test fails
when a payload class gains, loses or renames a field the page does not say."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from waymark.features.accounts.messages import (
    ACCOUNT_DELETED,
    SIGNED_OUT_EVERYWHERE,
    AccountDeleted,
    SignedOutEverywhere,
)
from waymark.features.notifications.messages import (
    NOTIFICATION_CREATED,
    NOTIFICATIONS_READ,
    NotificationCreated,
    NotificationsRead,
)
from waymark.features.progress.messages import (
    PROGRESS_RESTORED,
    ROADMAP_COMPLETED,
    STREAK_ENDED,
    TOPIC_STATUS_CHANGED,
    ProgressRestored,
    RoadmapCompleted,
    StreakEnded,
    TopicStatusChanged,
)
from waymark.features.roadmaps.messages import ROADMAP_PUBLISHED, RoadmapPublished
from waymark.features.teams.messages import (
    MEMBERSHIP_CHANGED,
    TEAM_INVITED,
    TEAM_REMINDED,
    MembershipChanged,
    TeamInvited,
    TeamReminded,
)

PAGE = Path(__file__).parents[2] / "docs" / "events.md"
EVENTS: dict[str, type[msgspec.Struct]] = {
    SIGNED_OUT_EVERYWHERE: SignedOutEverywhere,
    ACCOUNT_DELETED: AccountDeleted,
    ROADMAP_PUBLISHED: RoadmapPublished,
    TOPIC_STATUS_CHANGED: TopicStatusChanged,
    ROADMAP_COMPLETED: RoadmapCompleted,
    PROGRESS_RESTORED: ProgressRestored,
    STREAK_ENDED: StreakEnded,
    TEAM_INVITED: TeamInvited,
    TEAM_REMINDED: TeamReminded,
    NOTIFICATION_CREATED: NotificationCreated,
    NOTIFICATIONS_READ: NotificationsRead,
    MEMBERSHIP_CHANGED: MembershipChanged,
}


def _documented() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in PAGE.read_text().splitlines():
        heading = re.match(r"^## `([^`]+)` \(version (\d+)\)", line)
        if heading:
            current = heading.group(1)
            sections[current] = []
        elif current and (field := re.match(r"^\| `(\w+)` \|", line)):
            sections[current].append(field.group(1))
    return sections


@pytest.mark.parametrize("event", EVENTS)
def test_every_field_of_every_event_is_documented(event: str) -> None:
    documented = _documented()
    assert event in documented, f"{event} has no section in docs/events.md"
    assert documented[event] == list(EVENTS[event].__struct_fields__)


def test_the_page_documents_no_event_that_does_not_exist() -> None:
    assert set(_documented()) == set(EVENTS)

"""Live updates over Socket.IO (the stock npm `socket.io-client`, in Node), and who of a team
is online, against real `waymark serve` processes.

Production-like: two processes sharing PostgreSQL and Redis; a change through one reaches a
client on the other; team channels by `subscribe`, refused to who may not watch; presence
from SSE and Socket.IO alike; forced reconnects resume from the cursor without loss.
Embedded: one process, no Redis; refusals at connect; a client that stops reading cut off.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.live_support import (
    CHANGED,
    PASSWORD,
    TOPICS,
    Listener,
    SocketIo,
    User,
    changes,
    live_env,
    make_changes,
    set_status,
    team_of_three,
    user,
)
from tests.servers import Served, free_port, serving
from waymark.infra.sql.database import Database
from waymark.transport.http.identity import SESSION_COOKIE

pytestmark = pytest.mark.usefixtures("backend_roadmap")

PRESENCE = "presence.changed"


def token(who: User) -> str:
    return who.auth["authorization"].removeprefix("Bearer ")


async def online(api: httpx.AsyncClient, who: User, team: uuid.UUID) -> set[str]:
    response = await api.get(f"/api/v1/teams/{team}/presence", headers=who.auth)
    assert response.status_code == 200, response.text
    return {entry["account_id"] for entry in response.json()["online"]}


@pytest.mark.backend("postgresql")
async def test_socketio_clients_hear_the_other_process_follow_teams_and_resume_without_loss(
    two_servers: tuple[dict[str, str], Served, Served], db: Database
) -> None:
    env, a, b = two_servers
    team, owner, member, stranger = await team_of_three(env, a.base, db)
    ours = f"team:{team}"

    async with SocketIo(a.base) as client, httpx.AsyncClient(base_url=b.base) as api:
        assert (await client.connect({"token": token(owner)}))["type"] == "connected"
        _, ready = await client.event("ready")
        assert ready["channels"] == [f"user:{owner.id}"]
        await set_status(api, owner, TOPICS[0], "done")
        _, mine = await client.event(CHANGED)
        assert mine["channel"] == f"user:{owner.id}"
        assert (mine["data"]["topic_id"], mine["data"]["to_status"]) == (TOPICS[0], "done")
        assert mine["id"] != ready["id"]

        subscribed = await client.ask("subscribe", {"channel": ours})
        assert (subscribed["ok"], subscribed["channel"]) == (True, ours)
        _, present = await client.event(PRESENCE, channel=ours)
        assert (present["data"]["account_id"], present["data"]["online"]) == (str(owner.id), True)

        # A member follows the team over SSE, on the other process: online, and announced.
        async with Listener(b.base, member.auth, params={"team": str(team)}):
            _, joined = await client.event(PRESENCE, channel=ours)
            assert (joined["data"]["account_id"], joined["data"]["online"]) == (
                str(member.id),
                True,
            )
            assert await online(api, member, team) == {str(owner.id), str(member.id)}
        _, left = await client.event(PRESENCE, channel=ours)
        assert (left["data"]["account_id"], left["data"]["online"]) == (str(member.id), False)
        assert await online(api, owner, team) == {str(owner.id)}

        await set_status(api, owner, TOPICS[1], "learning")
        _, theirs = await client.event(CHANGED, channel=ours)
        assert theirs["data"]["account_id"] == str(owner.id)
        assert await client.ask("unsubscribe", {"channel": ours}) == {"ok": True, "channel": ours}

    # Another learner, on process B, with changes made through A: not in the team; then a
    # burst during which the connection drops three times, and the client reconnects by
    # itself, sending the id of the last event it got as `auth.cursor`.
    burst = changes(60)
    got: list[int] = []

    async with SocketIo(b.base) as outsider, httpx.AsyncClient(base_url=a.base) as api:
        connected = await outsider.connect({"token": token(stranger)}, resume=True)
        assert connected["type"] == "connected"
        await outsider.event("ready")
        refused = await outsider.ask("subscribe", {"channel": ours})
        assert refused == {"error": "not-found"}
        assert await outsider.ask("subscribe", {"channel": "user:someone"}) == {
            "error": "validation-failed"
        }
        presence = await api.get(f"/api/v1/teams/{team}/presence", headers=stranger.auth)
        assert presence.status_code == 404

        producer = asyncio.create_task(make_changes(a.base, stranger, burst))
        while len(got) < len(burst):
            name, data = await outsider.event(CHANGED, "resync")
            assert name == CHANGED, data
            got.append(data["data"]["seq"])
            if len(got) in (10, 25, 40):
                await outsider.send(op="drop")
        await producer
    assert outsider.seen["connected"] == 4  # the first connection and three reconnections
    assert got == list(range(1, len(burst) + 1))


@pytest.mark.backend("sqlite")
async def test_the_embedded_profile_serves_socketio_refuses_at_connect_and_cuts_off_the_slow(
    database_url: str, tmp_path: Path
) -> None:
    port = free_port()
    env = live_env(
        tmp_path,
        database_url,
        WAYMARK_PUBLIC_URL=f"http://127.0.0.1:{port}",  # its origin is the one allowed
        WAYMARK_LIVE__SOCKETIO_MAX_BACKLOG="4",
        WAYMARK_LIVE__MAX_CONNECTIONS_PER_ACCOUNT="2",
    )
    with serving(env, tmp_path / "serve.log", port=port) as served:
        learner = await user(env, served.base, "solo@example.org")
        async with SocketIo(served.base) as client, httpx.AsyncClient(base_url=served.base) as api:
            refused = await client.connect({"token": "not-a-token"})
            assert refused["data"]["code"] == "not-authenticated", refused
            anonymous = await client.connect({})
            assert anonymous["data"]["code"] == "not-authenticated"
            bad_team = await client.connect({"token": token(learner), "teams": ["x"]})
            assert bad_team["data"]["code"] == "validation-failed"
            elsewhere = await api.get(
                "/socket.io/",
                params={"EIO": "4", "transport": "polling"},
                headers={"origin": "https://evil.example"},
            )
            assert elsewhere.status_code == 400
            # A browser on the site's own origin, signed in with the session cookie.
            login = {"email": learner.email, "password": PASSWORD, "mode": "session"}
            signed_in = await api.post("/api/v1/auth/login", json=login)
            cookie = signed_in.headers["set-cookie"].split(";")[0]
            assert cookie.startswith(f"{SESSION_COOKIE}=")
            browser = {"cookie": cookie, "origin": served.base}
            by_cookie = await client.connect({}, headers=browser)
            assert by_cookie["type"] == "connected", by_cookie
            connected = await client.connect({"token": token(learner)}, websocket=True)
            assert connected["type"] == "connected"
            await client.event("ready")
            # A flood of subscribes: 30 per 10 s are looked at, the rest refused unread.
            flood = [{"channel": f"team:{uuid.uuid4()}"} for _ in range(31)]
            acks = [await client.ask("subscribe", data) for data in flood]
            assert acks[0] == {"error": "not-found"}
            assert acks[-1] == {"error": "rate-limited"}
            for topic, status in changes(3):
                await set_status(api, learner, topic, status)
            seqs = [(await client.event(CHANGED))[1]["data"]["seq"] for _ in range(3)]
            assert seqs == [1, 2, 3]

            # Engine.IO v4 long-polling by hand: a client that connects, then never polls.
            polling = {"EIO": "4", "transport": "polling"}
            opened = await api.get("/socket.io/", params=polling)
            polling["sid"] = json.loads(opened.text[1:])["sid"]
            joined = await api.post(
                "/socket.io/", params=polling, content=f'40/live,{{"token":"{token(learner)}"}}'
            )
            assert joined.text == "OK"
            for topic, status in changes(11)[3:]:
                await set_status(api, learner, topic, status)
            await asyncio.sleep(2)  # the outbox relays every change meanwhile
            packets = (await api.get("/socket.io/", params=polling)).text.split("\x1e")

            # A message past the cap (16 KiB) ends its session, and the POST is answered at
            # once (400) whether the client polls or not (python-engineio waited for a poll
            # to take the CLOSE packet, and refused a poll made once the session was closed:
            # the POST then hung; `_EngineIo`). A poll in flight at the time ends with the
            # CLOSE packet (`1`), or is refused (400) when it reaches the server after it:
            # the order of two concurrent requests is the client's luck, not the protocol's,
            # and either tells the client its session is gone. A later one is refused.
            for poll_first in (False, True):
                polling = {"EIO": "4", "transport": "polling"}
                opened = await api.get("/socket.io/", params=polling)
                polling["sid"] = json.loads(opened.text[1:])["sid"]
                poll = asyncio.create_task(api.get("/socket.io/", params=polling))
                if not poll_first:
                    poll.cancel()  # never sent
                await asyncio.sleep(0.3)  # a poll made reaches the server meanwhile (mostly)
                posted = await api.post("/socket.io/", params=polling, content="4" + "x" * 20_000)
                assert posted.status_code == 400
                if poll_first:
                    ended = await poll
                    assert ended.text == "1" or ended.status_code == 400, ended.text
                later = await api.get("/socket.io/", params=polling)
                assert later.status_code == 400, later.text

            # Its place is free again. SSE streams and Socket.IO connections count against
            # one cap (2 an account here): the client above, a stream, and no third.
            async with Listener(served.base, learner.auth), SocketIo(served.base) as third:
                over = await third.connect({"token": token(learner)})
                assert over["data"]["code"] == "too-many-streams"
    changed = [p for p in packets if p.startswith(f'42/live,["{CHANGED}"')]
    assert "41/live," in packets  # past 4 packets waiting, the namespace was disconnected
    assert len(changed) < 8

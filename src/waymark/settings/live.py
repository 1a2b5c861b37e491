"""Live updates' settings (`WAYMARK_LIVE__*`): the channels' replay logs, the streams'
caps and timings over SSE, the WebSocket and Socket.IO, presence and tickets (docs/live.md).
Part of `Settings`, kept apart for its size."""

from __future__ import annotations

from pydantic import BaseModel, Field


class LiveSettings(BaseModel):
    replay_length: int = Field(
        default=1000, ge=10, description="Events kept per live channel for clients to resume."
    )
    queue_size: int = Field(
        default=256,
        ge=1,
        description="Events a live subscriber may fall behind before it is "
        "cut off (slow-consumer).",
    )
    poll_interval: float = Field(
        default=0.25,
        gt=0,
        description="Embedded profile: seconds between reads of the live "
        "table for events written by another process.",
    )
    heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="SSE keep-alive comment; WebSocket `ping` message."
    )
    send_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A stream whose client takes longer to accept a write is ended.",
    )
    stream_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="A stream ends (`close`, `expired`) after this long; "
        "the client reconnects with Last-Event-ID and its credentials are checked again.",
    )
    stop_grace_seconds: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="On SIGTERM, how long a process waits for its live streams to have "
        "said `shutdown` and ended before the server stops.",
    )
    retry_ms: int = Field(default=3000, ge=0, description="SSE `retry:` hint to clients.")
    max_connections_per_account: int = Field(
        default=5, ge=1, description="Live streams one account may hold open per process."
    )
    max_connections: int = Field(
        default=2000, ge=1, description="Live streams one process holds open at most."
    )
    max_team_channels: int = Field(
        default=10, ge=0, description="Team channels one stream may follow (`?team=`)."
    )
    presence_ttl_seconds: float = Field(
        default=30.0,
        ge=1,
        description="A connection's presence in a team lapses this long after its process "
        "last refreshed it (every third of it): how long a process that died stays online.",
    )
    socketio_max_message_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Largest Socket.IO message a client may send (larger: disconnected).",
    )
    socketio_max_backlog: int = Field(
        default=256,
        ge=1,
        description="Socket.IO packets a connection may have waiting to be sent before it "
        "is cut off (slow-consumer).",
    )
    ticket_seconds: float = Field(
        default=30.0,
        gt=0,
        le=300,
        description="How long a WebSocket ticket (`POST /api/v1/me/live-tickets`) may wait "
        "to be used, once.",
    )
    tickets_per_minute: int = Field(
        default=60,
        ge=1,
        description="WebSocket tickets an account may ask for per minute (more: 429).",
    )
    gateway_port: int = Field(
        default=8001,
        ge=0,
        le=65535,
        description="The port `waymark live` (the WebSocket gateway) listens on, on "
        "`WAYMARK_HOST`.",
    )
    ws_max_message_bytes: int = Field(
        default=4096,
        ge=256,
        description="A WebSocket client's message larger than this closes the connection (1009).",
    )
    ws_messages_per_second: float = Field(
        default=5.0,
        gt=0,
        description="Messages a WebSocket client may send per second, on average, "
        "before the connection is closed (1008).",
    )
    ws_message_burst: int = Field(
        default=20,
        ge=1,
        description="Messages a WebSocket client may send at once above that rate.",
    )
    ws_pong_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A WebSocket client that does not answer a `ping` (with any message) "
        "within this is closed (4001).",
    )

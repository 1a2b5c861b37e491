// Live updates for a signed-in visitor's pages: ONE EventSource per page on
// `/api/v1/me/events` (the visitor's own channel, and `?team=` for each `[data-live-team]`
// on the page: channels docs/live.md describes), each event handed to the page's scripts as
// a `waymark:live` event on `document` ({kind, channel, data}). They decide what to refetch,
// with the two helpers of `window.waymarkLive`: `latest(work)` (one refetch at a time, and
// one more if asked meanwhile) and `announce(text)` (said politely to screen readers, focus
// never moves). Besides the server's events, `interrupted` (channel "") says the stream
// broke: until the next `ready`, nothing is heard.
//
// Reconnecting is EventSource's own (it sends `Last-Event-ID`, so nothing is lost or
// repeated, or the server says `resync`). Without EventSource, or when the stream is refused
// (signed out, too many tabs), nothing happens: the page is as it was drawn, as without
// script.
"use strict";

(() => {
  const region = document.querySelector("[data-live-announce]");

  function announce(text) {
    if (!region) return;
    // Cleared first, so the same words said twice are said again.
    region.textContent = "";
    window.setTimeout(() => { region.textContent = text; }, 50);
  }

  function latest(work) {
    let running = false;
    let again = false;
    return async function run() {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        await work();
      } catch {
        // The page stays as it is; the next event (or a reload) brings it up to date.
      } finally {
        running = false;
      }
      if (again) {
        again = false;
        run();
      }
    };
  }

  window.waymarkLive = { announce, latest };

  if (!("EventSource" in window)) return;
  const KINDS = [
    "ready",
    "resync",
    "channel-closed",
    "progress.topic_status_changed",
    "progress.roadmap_completed",
    "progress.restored",
    "teams.membership-changed",
    "notifications.created",
    "notifications.read",
    "presence.changed",
  ];

  let refusals = 0;

  function open() {
    const query = new URLSearchParams();
    const teams = new Set([...document.querySelectorAll("[data-live-team]")].map((e) => e.dataset.liveTeam));
    for (const team of teams) query.append("team", team);
    const search = query.toString();
    const url = `/api/v1/me/events${search ? `?${search}` : ""}`;
    const source = new EventSource(url);
    const hand = (kind) => (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      const detail = { kind, channel: frame.channel || "", data: frame.data || frame };
      document.dispatchEvent(new CustomEvent("waymark:live", { detail }));
    };
    for (const kind of KINDS) source.addEventListener(kind, hand(kind));
    // The stream broke (EventSource reconnects by itself, or gives up on a refusal): what a
    // page shows only while it listens (who is online) is taken down until the next `ready`.
    source.addEventListener("error", () => {
      document.dispatchEvent(new CustomEvent("waymark:live", { detail: { kind: "interrupted", channel: "", data: {} } }));
      // A refusal (an answer that is no stream: a 429 while this account's previous page's
      // stream is still being let go, a 503) closes EventSource for good: open again a
      // little later, three times at most; then the page stays as drawn.
      if (source.readyState === EventSource.CLOSED && refusals < 3) {
        refusals += 1;
        setTimeout(open, 2000 * refusals);
      }
    });
    source.addEventListener("ready", () => {
      refusals = 0;
    });
    // `close` (the server ends the stream: expired, shutdown, slow) is followed by
    // EventSource's own reconnect.
  }

  // Once every deferred script has run, so each page's listener hears the first event.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", open);
  else open();
})();

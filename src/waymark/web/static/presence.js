// Who of the team is online now, on its page (live.js): the list is fetched from
// `GET /api/v1/teams/{id}/presence` once the stream follows the team's channel (its `ready`),
// then kept with each `presence.changed` ({account_id, display_name, online}); fetched again
// on the channel's `resync`, and again a little later when a busy server refused it (a 503
// or 429: the list would otherwise stay hidden until the stream reconnects). Events heard
// while the list is being fetched are applied on top of it, in order, so a change made
// meanwhile is not lost.
//
// Only what is heard live is shown: without this script, before the stream is ready, when
// it breaks, or when the team's channel closes, the list is hidden (never a stale "online").
// Comings and goings are not announced (they would be noise): the list is a heading and a
// list in the members' section, read when the visitor goes there.
"use strict";

(() => {
  const box = document.querySelector("[data-presence]");
  if (!box || !window.waymarkLive || !("EventSource" in window)) return;
  const team = box.dataset.presenceTeam;
  const me = box.dataset.presenceMe;
  const channel = `team:${team}`;
  const list = box.querySelector("[data-presence-list]");
  const url = `/api/v1/teams/${encodeURIComponent(team)}/presence`;

  let online = new Map(); // account id -> display name
  let heard = null; // while fetching: the changes heard meanwhile, to apply on top
  let asked = 0; // the latest fetch; an older one's answer is dropped

  // A member without a display name is shown as the members' table names them.
  function nameOf(id, given) {
    if (given) return given;
    const row = document.querySelector(`tr[data-account="${CSS.escape(id)}"]`);
    return row ? row.dataset.name : "A member";
  }

  function draw() {
    const people = [...online]
      .map(([id, given]) => (id === me ? `${nameOf(id, given)} (you)` : nameOf(id, given)))
      .sort((a, b) => a.localeCompare(b));
    list.replaceChildren(...people.map((name) => {
      const item = document.createElement("li");
      item.textContent = name;
      return item;
    }));
    box.hidden = people.length === 0;
  }

  function takeDown() {
    asked += 1;
    heard = null;
    online = new Map();
    draw();
  }

  // The visitor is online while this page listens (its stream holds them in the team): they
  // are shown whatever the fetch said (presence is best effort), and a "gone" about them is
  // an older connection's (another tab's, the page before a reload), which can arrive after
  // the newer one's "online": it is not taken.
  function apply(change) {
    if (change.online) online.set(change.account_id, change.display_name);
    else if (change.account_id !== me) online.delete(change.account_id);
  }

  // A fetch that failed for a while (the network, a 503 or 429 of a busy server) is tried
  // again, after its `Retry-After` or 1, 2, 4... seconds (at most 30), eight times at most;
  // one that was refused (403, 404: no longer allowed) is not.
  function later(answer, tries) {
    const said = Number(answer && answer.headers.get("retry-after"));
    return 1000 * Math.min(30, said > 0 ? said : 2 ** tries);
  }

  async function refetch(tries = 0) {
    const mine = ++asked;
    heard = [];
    let answer;
    let body;
    try {
      answer = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
      if (!answer.ok) throw new Error(`presence: ${answer.status}`);
      body = await answer.json();
    } catch {
      if (mine !== asked) return;
      const passing = !answer || answer.status >= 500 || answer.status === 429;
      if (!passing || tries >= 8) {
        takeDown();
        return;
      }
      // Hidden until then; changes heard meanwhile are kept from the list (`heard` stays
      // a list) since the next answer holds them. A newer fetch or a take-down cancels it.
      online = new Map();
      draw();
      window.setTimeout(() => { if (mine === asked) refetch(tries + 1); }, later(answer, tries));
      return;
    }
    if (mine !== asked) return;
    online = new Map(body.online.map((member) => [member.account_id, member.display_name]));
    if (!online.has(me)) online.set(me, "");
    for (const change of heard) apply(change);
    heard = null;
    draw();
  }

  document.addEventListener("waymark:live", (event) => {
    const { kind, data } = event.detail;
    if (kind === "interrupted") {
      takeDown();
    } else if (kind === "ready") {
      if ((data.channels || []).includes(channel)) refetch();
      else takeDown();
    } else if (event.detail.channel === channel) {
      if (kind === "resync") refetch();
      else if (kind === "channel-closed") takeDown();
      else if (kind === "presence.changed" && heard) heard.push(data);
      else if (kind === "presence.changed") {
        apply(data);
        draw();
      }
    }
  });
})();

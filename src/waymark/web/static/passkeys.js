// Passkeys on the sign-in page ("Sign in with a passkey"), at the two-step challenge ("Use a
// passkey": the assertion is posted with the challenge's own form), at a step-up ("Confirm
// with a passkey", the same with the options of `data-passkey-options`) and in settings ("Add
// a passkey"):
// the options come from the API as JSON, go to `navigator.credentials.get()` / `.create()`,
// and what the authenticator answers goes back to the API, which checks it.
//
// The buttons stay hidden, and the page says passkeys need JavaScript and WebAuthn, unless
// this script runs in a browser that has `PublicKeyCredential`; every other form of the
// page works without it.
"use strict";

(() => {
  const boxes = document.querySelectorAll(
    "[data-passkey-sign-in], [data-passkey-second-factor], [data-passkey-add]",
  );
  if (!boxes.length || !window.PublicKeyCredential || !navigator.credentials) return;

  const fromB64 = (text) => {
    const plain = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = plain + "=".repeat((4 - (plain.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  };
  const toB64 = (buffer) => {
    let text = "";
    for (const byte of new Uint8Array(buffer)) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const descriptors = (list) => (list || []).map((c) => ({ ...c, id: fromB64(c.id) }));

  // The API's JSON as the browser's options (its own parser where it has one).
  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromB64(json.challenge),
      user: { ...json.user, id: fromB64(json.user.id) },
      excludeCredentials: descriptors(json.excludeCredentials),
    };
  }
  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return {
      ...json,
      challenge: fromB64(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    };
  }
  // What the authenticator answered, as JSON for the API.
  function asJSON(credential) {
    if (typeof credential.toJSON === "function") return credential.toJSON();
    const r = credential.response;
    const response = { clientDataJSON: toB64(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64(r.attestationObject);
      response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64(r.authenticatorData);
      response.signature = toB64(r.signature);
      if (r.userHandle) response.userHandle = toB64(r.userHandle);
    }
    return {
      id: credential.id,
      rawId: toB64(credential.rawId),
      type: credential.type,
      response,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment,
    };
  }

  const csrf = document.querySelector('input[name="csrf_token"]');

  async function post(path, body) {
    const headers = { Accept: "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf.value;
    const init = { method: "POST", credentials: "same-origin", headers };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const answer = await fetch(path, init);
    const json = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(json.title || `The server answered ${answer.status}.`);
    return json;
  }

  function failure(error) {
    // The browser's own refusals: the person cancelled, or no passkey was at hand.
    if (error.name === "NotAllowedError") return "Cancelled, or no passkey was at hand. Try again.";
    if (error.name === "InvalidStateError") return "This device already holds a passkey for your account.";
    return error.message || "That did not work. Try again.";
  }

  function wire(box, run) {
    const button = box.querySelector("[data-passkey-action]");
    const status = box.querySelector("[data-passkey-status]");
    box.querySelector("[data-passkey-missing]").hidden = true;
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.classList.remove("is-error");
      status.textContent = "Waiting for your passkey…";
      try {
        await run(box);
      } catch (error) {
        status.textContent = failure(error);
        status.classList.add("is-error");
        button.disabled = false;
        button.focus();
      }
    });
  }

  // A page's form post answered with JSON (the challenge's token is in a cookie the script
  // cannot read; the page checks the form's CSRF token).
  async function postForm(path, form) {
    const body = new URLSearchParams({ csrf_token: form.elements.csrf_token.value });
    const answer = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      body,
    });
    const json = await answer.json().catch(() => ({}));
    if (!answer.ok) throw new Error(json.title || `The server answered ${answer.status}.`);
    return json;
  }

  for (const box of boxes) {
    if (box.matches("[data-passkey-second-factor]")) {
      wire(box, async () => {
        const began = await postForm(box.dataset.passkeyOptions || "/login/mfa/passkey", box);
        const credential = await navigator.credentials.get({
          publicKey: requestOptions(began.publicKey),
        });
        box.elements.credential.value = JSON.stringify(asJSON(credential));
        box.submit();
      });
    } else if (box.matches("[data-passkey-sign-in]")) {
      wire(box, async () => {
        const began = await post("/api/v1/auth/passkey/options");
        const credential = await navigator.credentials.get({
          publicKey: requestOptions(began.publicKey),
        });
        await post("/api/v1/auth/passkey/verify", {
          ceremony: began.ceremony,
          credential: asJSON(credential),
          mode: "session",
        });
        // A path of this site only (the server sent a local one; `//` or `/\` is a host).
        const next = box.dataset.next || "/";
        window.location.assign(/^\/(?![\/\\])/.test(next) ? next : "/");
      });
    } else {
      wire(box, async () => {
        const began = await post("/api/v1/me/passkeys/options");
        const credential = await navigator.credentials.create({
          publicKey: creationOptions(began.publicKey),
        });
        await post("/api/v1/me/passkeys", {
          ceremony: began.ceremony,
          credential: asJSON(credential),
          name: box.querySelector("[data-passkey-name]").value.trim(),
        });
        window.location.assign("/settings?notice=passkey-added#passkeys");
      });
    }
  }
})();

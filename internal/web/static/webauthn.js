// Passkeys and security keys: the browser's part of WebAuthn, which needs
// JavaScript. The server sends the options as JSON (data-options) and takes
// the browser's credential as JSON in a hidden field of a plain form; the
// page says what to do without JavaScript or without WebAuthn.
"use strict";
(function () {
  var boxes = document.querySelectorAll("[data-webauthn]");
  if (!boxes.length) return;
  var PKC = window.PublicKeyCredential;
  var supported = !!(PKC && navigator.credentials && PKC.parseCreationOptionsFromJSON && PKC.parseRequestOptionsFromJSON);

  function say(box, text) {
    var out = box.querySelector("[data-webauthn-error]");
    if (!out) return;
    out.textContent = text;
    out.hidden = !text;
    if (text) out.focus();
  }

  // Why a ceremony ended without a credential, in the page's own words.
  function failure(box, err) {
    if (err && err.name === "AbortError") return ""; // we stopped it ourselves
    if (err && err.name === "InvalidStateError") return box.dataset.msgRegistered || box.dataset.msgFailed;
    if (err && err.name === "NotAllowedError") return box.dataset.msgCancelled;
    return box.dataset.msgFailed;
  }

  function publicKey(json) {
    return json && json.publicKey ? json.publicKey : json;
  }

  function submit(box, credential, token) {
    var form = box.querySelector("form[data-webauthn-form]");
    form.querySelector("input[name=credential]").value = JSON.stringify(credential.toJSON());
    if (token) form.querySelector("input[name=sign_in_token]").value = token;
    form.submit();
  }

  function reveal(box) {
    box.querySelectorAll("[data-webauthn-start]").forEach(function (b) { b.hidden = false; });
  }

  boxes.forEach(function (box) {
    if (!supported) {
      var note = box.querySelector("[data-webauthn-unsupported]");
      if (note) note.hidden = false;
      return;
    }
    var button = box.querySelector("[data-webauthn-start]");
    var kind = box.dataset.webauthn;
    if (kind === "create" || kind === "get") {
      // Registration, or the second step: the options came with the page.
      var options = JSON.parse(box.dataset.options);
      reveal(box);
      button.addEventListener("click", function () {
        say(box, "");
        button.disabled = true;
        var ask = kind === "create"
          ? navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(publicKey(options)) })
          : navigator.credentials.get({ publicKey: PKC.parseRequestOptionsFromJSON(publicKey(options)) });
        ask.then(function (cred) {
          if (!cred) throw new Error("no credential");
          submit(box, cred);
        }).catch(function (err) {
          button.disabled = false;
          say(box, failure(box, err));
        });
      });
      return;
    }
    if (kind !== "passwordless") return;
    // Sign-in without a password: the options come from the server when
    // needed, for a sign-in that only a passkey can finish.
    var begun = null; // {token, options}
    var controller = null; // of the pending request, conditional or not
    var pending = null;
    var turn = 0; // the latest ask: an older one still fetching options gives way
    var leaving = false; // an answer was posted: the page is on its way out
    function begin() {
      // A ceremony lives 5 minutes on the server: a page left open asks anew.
      if (begun && Date.now() - begun.at < 4 * 60 * 1000) return Promise.resolve(begun);
      return fetch(box.dataset.begin, {
        method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: "{}", credentials: "same-origin"
      }).then(function (r) {
        if (!r.ok) throw new Error("begin: " + r.status);
        return r.json();
      }).then(function (j) {
        begun = { token: j.sign_in_token, options: publicKey(j.options), at: Date.now() };
        return begun;
      });
    }
    // Stop the pending request (the autofill's, say) and wait until the
    // browser has let it go: it holds one request at a time, and a page that
    // goes away under a pending one aborts the navigation.
    function stop() {
      if (controller) controller.abort();
      controller = null;
      var p = pending || Promise.resolve();
      pending = null;
      return p.catch(function () {});
    }
    function ask(mediation) {
      var mine = ++turn;
      return stop().then(begin).then(function (b) {
        if (mine !== turn) throw new DOMException("superseded", "AbortError");
        controller = new AbortController();
        var req = { publicKey: PKC.parseRequestOptionsFromJSON(b.options), signal: controller.signal };
        if (mediation) req.mediation = mediation;
        var p = navigator.credentials.get(req);
        pending = p;
        return p.then(function (cred) {
          if (!cred) throw new Error("no credential");
          pending = null;
          // One answer leaves the page: a request the button superseded, or
          // a second one after the page began to leave, is dropped.
          if (mine !== turn || leaving) return;
          leaving = true;
          submit(box, cred, b.token);
        });
      });
    }
    reveal(box);
    button.addEventListener("click", function () {
      if (leaving) return;
      say(box, "");
      button.disabled = true;
      ask(null).catch(function (err) {
        button.disabled = false;
        var text = failure(box, err);
        if (text) say(box, text);
      });
    });
    // Leaving by the password form, or at all: let the autofill's request go first.
    document.querySelectorAll("form:not([data-webauthn-form])").forEach(function (f) {
      f.addEventListener("submit", function () { if (controller) controller.abort(); });
    });
    window.addEventListener("pagehide", function () { if (controller) controller.abort(); });
    // The browser's autofill offers passkeys beside saved passwords
    // (autocomplete="username webauthn" on the e-mail field).
    if (PKC.isConditionalMediationAvailable && box.dataset.autofill !== "off") {
      PKC.isConditionalMediationAvailable().then(function (ok) {
        if (ok) return ask("conditional");
      }).catch(function (err) {
        if (err && (err.name === "AbortError" || err.name === "NotAllowedError")) return; // stopped for the button, or dismissed
        say(box, failure(box, err));
      });
    }
  });
})();

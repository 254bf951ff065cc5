// Comfort only: every page works without this file.
"use strict";

// The reader's time zone, for the server to say times in it (the pages say
// UTC until it knows). Only an IANA name: the server checks it.
(function () {
  var tz = "";
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
  if (!tz || !/^[A-Za-z0-9_\/+-]{1,64}$/.test(tz)) return;
  var value = encodeURIComponent(tz);
  if (document.cookie.split("; ").indexOf("tz=" + value) >= 0) return;
  document.cookie = "tz=" + value + "; path=/; max-age=31536000; samesite=lax" +
    (location.protocol === "https:" ? "; secure" : "");
})();

// Copy buttons: the key of an authenticator app, recovery codes, an app
// password. data-text, when set, is what is copied (the key without the
// spaces that help reading it).
document.querySelectorAll("[data-copy]").forEach(function (button) {
  var source = document.getElementById(button.dataset.copy);
  if (!source || !navigator.clipboard) return;
  button.hidden = false;
  var label = button.textContent;
  button.addEventListener("click", function () {
    var text = button.dataset.text || (source.tagName === "OL"
      ? Array.from(source.querySelectorAll("li")).map(function (li) { return li.textContent.trim(); }).join("\n")
      : source.textContent.trim());
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = button.dataset.done;
      button.dataset.state = "done";
      window.setTimeout(function () {
        button.textContent = label;
        delete button.dataset.state;
      }, 4000);
    });
  });
});

document.querySelectorAll("[data-print]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () { window.print(); });
});

// Resend cooldown: the page already says how long to wait; here the button
// stays disabled and the sentence counts down until a new code may be asked for.
document.querySelectorAll("[data-countdown]").forEach(function (note) {
  var left = parseInt(note.dataset.countdown, 10);
  var button = document.getElementById(note.dataset.button);
  if (!button || !(left > 0)) return;
  button.disabled = true;
  var timer = window.setInterval(function () {
    left -= 1;
    if (left <= 0) {
      window.clearInterval(timer);
      note.hidden = true;
      button.disabled = false;
      button.removeAttribute("aria-describedby");
      return;
    }
    note.textContent = (left === 1 ? note.dataset.singular : note.dataset.plural).replace("{n}", String(left));
  }, 1000);
});
// The phone number's example follows the country chosen (the page as served
// shows the example of the country selected then).
(function () {
  var list = document.getElementById("country");
  var hint = document.getElementById("phone-hint");
  if (!list || !hint || !hint.dataset.example) return;
  list.addEventListener("change", function () {
    var o = list.options[list.selectedIndex];
    hint.textContent = o && o.dataset.national
      ? hint.dataset.example.replace("{n}", o.dataset.national).replace("{i}", o.dataset.international)
      : hint.dataset.any;
  });
})();

// WebOTP: a text message ending with "@host #code" for this site fills the
// code field and sends the form, where the browser supports it (Chrome on
// Android). Leaving the page or sending the form another way stops waiting.
(function () {
  if (!("OTPCredential" in window) || !navigator.credentials) return;
  var input = document.querySelector('input[autocomplete="one-time-code"][inputmode="numeric"]');
  if (!input || !input.form) return;
  var stop = new AbortController();
  input.form.addEventListener("submit", function () { stop.abort(); });
  navigator.credentials.get({ otp: { transport: ["sms"] }, signal: stop.signal }).then(function (otp) {
    if (!otp || !otp.code) return;
    input.value = otp.code;
    if (input.form.requestSubmit) input.form.requestSubmit(); else input.form.submit();
  }).catch(function () { /* no SMS, or the reader typed the code: nothing to do */ });
})();

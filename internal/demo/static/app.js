// The demo page: two steps (number, code) and a verified end state. Every
// request goes to the demo's own backend, which holds otpd's API key.
"use strict";

const $ = (id) => document.getElementById(id);

// otpd's problem codes, in words a person understands.
const messages = {
  invalid_phone_number: "That doesn't look like a phone number. Check it, or start with your country code (+44 …).",
  not_mobile_number: "Please use a mobile number: we can't text landlines.",
  country_not_allowed: "Sorry, we can't send codes to numbers in that country yet.",
  channel_unavailable: "That way of sending the code isn't available right now. Please choose another.",
  rate_limited: "Too many attempts. Please wait {s} and try again.",
  max_send_attempts: "We've sent all the codes we can for this number. Please try again later.",
  max_check_attempts: "Too many wrong codes. Please wait a while, then ask for a new code.",
  wrong_code: "That code isn't right. Check the message and try again.",
  malformed_code: "The code is {n} digits. Check the message and try again.",
  no_phone: "Please enter your mobile number.",
  no_code: "Please enter the code.",
  expired: "This code has expired. Ask for a new one.",
  canceled: "This code is no longer valid. Ask for a new one.",
  approved: "This code was already used. Ask for a new one.",
  not_found: "This code is no longer valid. Ask for a new one.",
  no_verification: "Please ask for a code first.",
  unavailable: "Something went wrong on our side. Please try again in a moment.",
};

function words(code, retryAfter) {
  const s = retryAfter === 1 ? "1 second" : `${retryAfter || "a few"} seconds`;
  return (messages[code] || messages.unavailable).replace("{s}", s).replace("{n}", $("code").maxLength);
}

// The refusals that are about what was typed: the input is marked invalid
// and described by the error until it is edited. The others (a limit, an
// expired code) are not the input's fault.
const inputErrors = new Set(["invalid_phone_number", "not_mobile_number", "country_not_allowed",
  "no_phone", "wrong_code", "malformed_code", "no_code"]);

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
}

// describe adds or removes id from the input's aria-describedby, keeping
// the rest (the code's hint).
function describe(input, id, on) {
  const ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter((x) => x && x !== id);
  if (on) ids.unshift(id);
  if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
  else input.removeAttribute("aria-describedby");
}

// fail shows the words for code in el (a role=alert, so they are read
// out); when they are about the input (null: none), it is marked and
// focused.
function fail(el, input, code, retryAfter) {
  show(el, words(code, retryAfter));
  if (!input || !inputErrors.has(code)) return;
  input.setAttribute("aria-invalid", "true");
  describe(input, el.id, true);
  input.focus();
  if (input.select) input.select();
}

// clear hides el and unmarks the input it described.
function clear(el, input) {
  show(el, "");
  input.removeAttribute("aria-invalid");
  describe(input, el.id, false);
}

async function post(path, body) {
  try {
    const res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    return await res.json();
  } catch {
    return { error: "unavailable" };
  }
}

let phone = "";
let sentBy = ""; // the channel the code last went by
let timer = null;
let webOTP = null;

// How the code went, for the code step's hint and the resend note.
const sentHow = { sms: "texted", whatsapp: "sent on WhatsApp", call: "read out in a call", telegram: "sent on Telegram" };
const sentAgain = {
  sms: "We sent the code again by SMS.",
  whatsapp: "We sent the code again on WhatsApp.",
  call: "We're calling you now with the code.",
  telegram: "We sent the code again on Telegram.",
};

const resendButtons = () => document.querySelectorAll("button.resend");

// The resend buttons (one per channel) count down the seconds before otpd
// allows a resend, which is per number whatever the channel. The button
// of the channel the code last went by resends; the others offer the same
// code another way ("Call me instead").
function countdown(seconds) {
  clearInterval(timer);
  let left = Math.max(0, seconds | 0);
  const tick = () => {
    for (const btn of resendButtons()) {
      const label = btn.dataset.channel === sentBy ? btn.dataset.again : btn.dataset.instead;
      btn.disabled = left > 0;
      btn.textContent = left > 0 ? `${label} (${left}s)` : label;
    }
    if (left-- <= 0) clearInterval(timer);
  };
  tick();
  timer = setInterval(tick, 1000);
}

function channel() {
  const picked = document.querySelector("input[name=channel]:checked");
  return picked ? picked.value : "";
}

// send asks for the code: from the number step (resendBtn absent), or
// again from the code step, on the resend button's channel.
async function send(resendBtn) {
  const errEl = resendBtn ? $("code-error") : $("phone-error");
  clear(errEl, resendBtn ? $("code") : $("phone"));
  $("code-note").textContent = "";
  const btn = resendBtn || $("send");
  btn.disabled = true;
  const r = await post("/api/start", { phone, channel: resendBtn ? resendBtn.dataset.channel : channel() });
  if (r.error) {
    btn.disabled = false;
    fail(errEl, resendBtn ? null : $("phone"), r.error, r.retryAfter);
    if (r.retryAfter && resendBtn) countdown(r.retryAfter);
    return;
  }
  sentBy = r.channel || "sms";
  $("sent-to").textContent = r.to;
  $("sent-how").textContent = sentHow[sentBy] || "sent";
  $("phone-step").hidden = true;
  $("code-step").hidden = false;
  $("send").disabled = false;
  countdown(r.resendAfter);
  // The note is a live region that stays in the page, so it is read out.
  if (resendBtn) $("code-note").textContent = sentAgain[sentBy] || "We sent the code again.";
  $("code").focus();
  listenForSMS();
}

// WebOTP: browsers that have it read the code from the SMS themselves
// (the message's last line must be "@<this site's domain> #<code>",
// which otpd adds with OTP_WEBOTP_DOMAIN).
function listenForSMS() {
  if (!("OTPCredential" in window) || webOTP) return;
  webOTP = new AbortController();
  navigator.credentials
    .get({ otp: { transport: ["sms"] }, signal: webOTP.signal })
    .then((otp) => {
      if (otp && otp.code) {
        $("code").value = otp.code;
        $("code-step").requestSubmit();
      }
    })
    .catch(() => {})
    .finally(() => { webOTP = null; });
}

async function verify() {
  clear($("code-error"), $("code"));
  $("code-note").textContent = "";
  const code = $("code").value.trim();
  if (!code) {
    fail($("code-error"), $("code"), "no_code");
    return;
  }
  $("verify").disabled = true;
  const r = await post("/api/check", { code });
  $("verify").disabled = false;
  if (r.error) {
    fail($("code-error"), $("code"), r.error, r.retryAfter);
    if (!inputErrors.has(r.error)) $("code").select();
    return;
  }
  if (webOTP) webOTP.abort();
  clearInterval(timer);
  $("verified-to").textContent = r.to;
  $("code-step").hidden = true;
  $("done").hidden = false;
  // Focus was on the hidden form's button: moving it to the heading reads
  // the success out, and leaves keyboard users where the page now is.
  $("done-title").focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("phone-step").addEventListener("submit", (e) => {
    e.preventDefault();
    phone = $("phone").value.trim();
    if (!phone) {
      fail($("phone-error"), $("phone"), "no_phone");
      return;
    }
    send();
  });
  $("code-step").addEventListener("submit", (e) => {
    e.preventDefault();
    verify();
  });
  // An input in error is unmarked as soon as it is edited.
  for (const [input, err] of [["phone", "phone-error"], ["code", "code-error"]]) {
    $(input).addEventListener("input", () => {
      if ($(input).getAttribute("aria-invalid") === "true") clear($(err), $(input));
    });
  }
  for (const btn of resendButtons()) btn.addEventListener("click", () => send(btn));
  $("change").addEventListener("click", () => {
    if (webOTP) webOTP.abort();
    clearInterval(timer);
    $("code").value = "";
    clear($("code-error"), $("code"));
    $("code-note").textContent = "";
    $("code-step").hidden = true;
    $("phone-step").hidden = false;
    $("phone").focus();
  });
});

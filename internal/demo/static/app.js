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
  expired: "This code has expired. Ask for a new one.",
  canceled: "This code is no longer valid. Ask for a new one.",
  approved: "This code was already used. Ask for a new one.",
  not_found: "This code is no longer valid. Ask for a new one.",
  no_verification: "Please ask for a code first.",
  unavailable: "Something went wrong on our side. Please try again in a moment.",
};

function words(code, retryAfter) {
  const s = retryAfter === 1 ? "1 second" : `${retryAfter || "a few"} seconds`;
  return (messages[code] || messages.unavailable).replace("{s}", s);
}

function show(el, text) {
  el.textContent = text;
  el.hidden = !text;
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
let timer = null;
let webOTP = null;

// The resend button counts down the seconds before otpd allows a resend.
function countdown(seconds) {
  const btn = $("resend");
  clearInterval(timer);
  let left = Math.max(0, seconds | 0);
  const tick = () => {
    btn.disabled = left > 0;
    btn.textContent = left > 0 ? `Resend code (${left}s)` : "Resend code";
    if (left-- <= 0) clearInterval(timer);
  };
  tick();
  timer = setInterval(tick, 1000);
}

function channel() {
  const picked = document.querySelector("input[name=channel]:checked");
  return picked ? picked.value : "";
}

async function send(resend) {
  const errEl = resend ? $("code-error") : $("phone-error");
  show(errEl, "");
  show($("code-note"), "");
  const btn = resend ? $("resend") : $("send");
  btn.disabled = true;
  const r = await post("/api/start", { phone, channel: channel() });
  if (r.error) {
    btn.disabled = false;
    show(errEl, words(r.error, r.retryAfter));
    if (r.retryAfter && resend) countdown(r.retryAfter);
    return;
  }
  $("sent-to").textContent = r.to;
  $("phone-step").hidden = true;
  $("code-step").hidden = false;
  $("send").disabled = false;
  if (resend) show($("code-note"), "We sent the code again.");
  countdown(r.resendAfter);
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
  show($("code-error"), "");
  show($("code-note"), "");
  $("verify").disabled = true;
  const r = await post("/api/check", { code: $("code").value.trim() });
  $("verify").disabled = false;
  if (r.error) {
    show($("code-error"), words(r.error, r.retryAfter));
    $("code").select();
    return;
  }
  if (webOTP) webOTP.abort();
  clearInterval(timer);
  $("verified-to").textContent = r.to;
  $("code-step").hidden = true;
  $("done").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  $("phone-step").addEventListener("submit", (e) => {
    e.preventDefault();
    phone = $("phone").value.trim();
    if (!phone) {
      show($("phone-error"), "Please enter your mobile number.");
      return;
    }
    send(false);
  });
  $("code-step").addEventListener("submit", (e) => {
    e.preventDefault();
    verify();
  });
  $("resend").addEventListener("click", () => send(true));
  $("change").addEventListener("click", () => {
    if (webOTP) webOTP.abort();
    clearInterval(timer);
    $("code").value = "";
    show($("code-error"), "");
    $("code-step").hidden = true;
    $("phone-step").hidden = false;
    $("phone").focus();
  });
});

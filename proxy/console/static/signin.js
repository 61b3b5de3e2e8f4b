"use strict";
// The key goes in the body of one POST, never in a URL; the answer sets the console's session cookie.
document.getElementById("signin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("signin-error");
  const show = (message) => {
    error.textContent = message;
    error.hidden = false;
  };
  error.hidden = true;
  let response;
  try {
    response = await fetch("/ui/signin", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ key: document.getElementById("key").value }),
    });
  } catch (_) {
    show("The proxy could not be reached: is it still running?");
    return;
  }
  if (response.ok) {
    window.location.replace("/ui");
    return;
  }
  let message = `sign-in failed (${response.status})`;
  try {
    message = (await response.json()).error.message;
  } catch (_) {
    // not JSON: keep the status
  }
  show(message);
});

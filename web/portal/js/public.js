// The party's page: its one case's published steps, clues and messages with the officer.
import { api, beep, el, here, listen, saveSession, sendPhoto, session, wireLogin } from "./common.js";

const $ = (id) => document.getElementById(id);
let caseNumber = null;
let seen = 0;

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

async function refresh() {
  const me = await api("GET", "/api/me");
  caseNumber = me.cases[0] || null;
  if (!caseNumber) {
    $("title").textContent = "Waiting for your case…";
    return;
  }
  const view = await api("GET", `/api/cases/${encodeURIComponent(caseNumber)}`);
  $("title").textContent = view.title ? `${view.case}: ${view.title}` : view.case;
  const steps = $("steps");
  steps.replaceChildren(...view.steps.map((s) => {
    const li = el("li");
    li.append(el("span", s.step, "state"), " ", el("span", when(s.at), "when"));
    if (s.note) li.append(el("div", s.note));
    return li;
  }));
  $("no-steps").hidden = view.steps.length > 0;
  $("clues").replaceChildren(...view.clues.map((c) => {
    const li = el("li");
    li.dataset.clue = c.id;
    li.append(el("span", c.text), " ", el("span", c.state, `state ${c.state}`));
    return li;
  }));
  $("messages").replaceChildren(...view.messages.map((m) => {
    const li = el("li");
    li.append(el("strong", m.from === "officer" ? "Officer" : "You"), ": ", el("span", m.text),
      " ", el("span", when(m.at), "when"));
    return li;
  }));
  const count = view.steps.length + view.messages.filter((m) => m.from === "officer").length;
  if (count > seen && seen > 0) beep();
  seen = count;
}

function show() {
  $("signin").hidden = true;
  $("case").hidden = false;
  refresh();
  listen(() => refresh());
}

$("redeem-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("signin-error").textContent = "";
  try {
    saveSession(await api("POST", "/api/redeem", {
      code: $("redeem-code").value.trim(),
      username: $("redeem-name").value.trim(),
      password: $("redeem-password").value,
    }));
    show();
  } catch (e) {
    $("signin-error").textContent = e.message;
  }
});

$("clue-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { text: $("clue-text").value };
  if ($("clue-here").checked) Object.assign(body, (await here()) || {});
  try {
    const clue = await api("POST", `/api/cases/${encodeURIComponent(caseNumber)}/clues`, body);
    $("clue-text").value = "";
    $("clue-status").textContent = "Sent: received by the portal.";
    const photos = Array.from($("clue-photos").files || []);
    for (const [i, file] of photos.entries()) {
      await sendPhoto(file, { clue: clue.id }, (got, total) => {
        $("clue-status").textContent = `Sending photo ${i + 1} of ${photos.length}: ${Math.floor((got / total) * 100)}%`;
      });
    }
    if (photos.length) $("clue-status").textContent = `Sent with ${photos.length} photo${photos.length === 1 ? "" : "s"}: received by the portal.`;
    $("clue-photos").value = "";
    refresh();
  } catch (e) {
    $("clue-status").textContent = e.message;
  }
});

$("message-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  await api("POST", `/api/cases/${encodeURIComponent(caseNumber)}/messages`,
    { text: $("message-text").value });
  $("message-text").value = "";
  refresh();
});

wireLogin(show);
if (session()) show();

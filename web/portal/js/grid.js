// The grid worker's page: tasks sent to it, answered, replied to and closed from the phone.
import { api, beep, el, here, listen, sendPhoto, session, wireLogin } from "./common.js";

const $ = (id) => document.getElementById(id);
let known = null;

// The task's photo is fetched with the token (never in a URL) and shown from a blob.
function taskPhoto(t) {
  const img = el("img", undefined, "task-photo");
  img.alt = `Photo of ${t.person || "the person"}`;
  const s = session();
  fetch(`/api/tasks/${encodeURIComponent(t.id)}/photo`, { headers: { Authorization: `Bearer ${s ? s.token : ""}` } })
    .then((resp) => (resp.ok ? resp.blob() : null))
    .then((blob) => {
      if (blob) img.src = URL.createObjectURL(blob);
    })
    .catch(() => {});
  return img;
}

function taskCard(t, me) {
  const li = el("li");
  li.dataset.task = t.id;
  if (t.closed) li.classList.add("closed");
  li.append(el("h2", `${t.kind.replace("_", " ")}: ${t.person || ""}`));
  if (t.address) li.append(el("div", `Last known address: ${t.address}`));
  if (t.photo) li.append(taskPhoto(t));
  if (t.what) li.append(el("div", t.what));
  if (t.deadline) li.append(el("div", `By ${t.deadline}`, "when"));
  const answer = t.answers[me];
  li.append(el("div", t.closed ? `Closed: ${t.closed.outcome.replace("_", " ")}`
    : answer === true ? "Accepted" : answer === false ? "Declined" : "Not answered yet", "state"));
  const replies = el("ul", undefined, "replies");
  for (const r of t.replies) replies.append(el("li", `${r.by}: ${r.text}`));
  li.append(replies);
  if (t.closed) return li;
  const act = (label, cls, fn) => {
    const b = el("button", label, cls);
    b.type = "button";
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await fn();
      } finally {
        b.disabled = false;
        refresh();
      }
    });
    li.append(b);
    return b;
  };
  act("Accept", "accept", () => api("POST", `/api/tasks/${t.id}/answer`, { accept: true }));
  act("Decline", "secondary decline", () => api("POST", `/api/tasks/${t.id}/answer`, { accept: false }));
  const text = el("textarea");
  text.rows = 2;
  text.maxLength = 2000;
  text.className = "reply-text";
  text.setAttribute("aria-label", "Reply");
  const withPos = el("input");
  withPos.type = "checkbox";
  withPos.className = "reply-here";
  const lab = el("label", undefined, "inline");
  lab.append(withPos, " With my current position");
  const photos = el("input");
  photos.type = "file";
  photos.accept = "image/*";
  photos.multiple = true;
  photos.className = "reply-photos";
  const photoLab = el("label", "Photos (optional) ");
  photoLab.append(photos);
  const status = el("p", "", "reply-status");
  li.append(text, lab, photoLab, status);
  act("Send reply", "reply", async () => {
    const body = { text: text.value };
    if (withPos.checked) Object.assign(body, (await here()) || {});
    const view = await api("POST", `/api/tasks/${t.id}/replies`, body);
    const mine = view.replies.filter((r) => r.by === me);
    const reply = mine.length ? mine[mine.length - 1].id : undefined;
    const files = Array.from(photos.files || []);
    try {
      for (const [i, file] of files.entries()) {
        await sendPhoto(file, reply ? { task: t.id, reply } : { task: t.id }, (got, total) => {
          status.textContent = `Sending photo ${i + 1} of ${files.length}: ${Math.floor((got / total) * 100)}%`;
        });
      }
      if (files.length) status.textContent = `Sent with ${files.length} photo${files.length === 1 ? "" : "s"}.`;
    } catch (err) {
      status.textContent = `A photo was not sent: ${err.message}`;
    }
    photos.value = "";
  });
  act("Found", "found", () => api("POST", `/api/tasks/${t.id}/close`, { outcome: "found" }));
  act("Not found", "secondary not-found", () => api("POST", `/api/tasks/${t.id}/close`, { outcome: "not_found" }));
  return li;
}

async function refresh() {
  const me = session().name;
  const { tasks } = await api("GET", "/api/tasks");
  const ids = new Set(tasks.map((t) => t.id));
  if (known && [...ids].some((id) => !known.has(id))) beep();
  known = ids;
  $("no-tasks").hidden = tasks.length > 0;
  $("tasks").replaceChildren(...tasks.map((t) => taskCard(t, me)));
}

async function show() {
  $("signin").hidden = true;
  $("work").hidden = false;
  const me = await api("GET", "/api/me");
  $("who").textContent = `${me.name}${me.community ? ` · ${me.community}` : ""}`;
  refresh();
  listen(() => refresh());
}

wireLogin(show);
if (session()) show();

// The chat page: log in with the API token, pick or start a chat, talk.
//
// The token is kept in sessionStorage: this tab only, gone when it closes, never in a URL or a
// cookie. Every call sends it as `Authorization: Bearer`, so the API needs no cookie handling
// and no CSRF defence (a cross-site page can make the browser send cookies, never this header).
// The price is that script running in the page could read it; the page runs only its own files
// (Content-Security-Policy) and never puts a message's HTML in the page unsanitized.

import { Api, ApiError } from "./api.js";
import { ChatView } from "./chat.js";
import { drawGroups, groupTitle, loadGroups } from "./groups.js";

const TOKEN_KEY = "claw.token";
const NAME_KEY = "claw.name";
const GROUP_LIST_REFRESH_MS = 30000;

const $ = (id) => document.getElementById(id);

let api = null;
let chat = null;
let groups = [];
let refreshTimer = null;

function senderName() {
  return localStorage.getItem(NAME_KEY) || "me";
}

function showLogin(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  if (chat) chat.close();
  chat = null;
  api = null;
  clearInterval(refreshTimer);
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  $("login-name").value = localStorage.getItem(NAME_KEY) || "";
  $("login-token").value = "";
  $("login-token").focus();
}

function refused() {
  showLogin("claw no longer accepts this token: log in again.");
}

async function logIn(event) {
  event.preventDefault();
  const token = $("login-token").value.trim();
  const name = $("login-name").value.trim();
  $("login-submit").disabled = true;
  try {
    await new Api(token).groups();
  } catch (error) {
    $("login-error").hidden = false;
    $("login-error").textContent =
      error instanceof ApiError && error.status === 401
        ? "That token was refused. Use CLAW_API_TOKEN, or the api_token file in CLAW_HOME."
        : `Could not log in: ${error.message}`;
    return;
  } finally {
    $("login-submit").disabled = false;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  if (name) localStorage.setItem(NAME_KEY, name);
  start(token);
}

function start(token) {
  api = new Api(token);
  $("login").hidden = true;
  $("app").hidden = false;
  chat = new ChatView({
    api,
    sender: senderName(),
    elements: {
      title: $("chat-title"),
      connection: $("connection"),
      messages: $("messages"),
      typing: $("typing"),
      composer: $("composer"),
      readOnly: $("read-only"),
    },
    onUnauthorized: refused,
    onActivity: noteActivity,
  });
  refreshGroups().then(openFromLocation);
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => {
    if (!document.hidden) refreshGroups();
  }, GROUP_LIST_REFRESH_MS);
}

async function refreshGroups() {
  if (!api) return;
  try {
    groups = await loadGroups(api);
    $("groups-error").hidden = true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return refused();
    $("groups-error").hidden = false;
    $("groups-error").textContent = `Could not load the chats: ${error.message}`;
    return;
  }
  redrawGroups();
}

function openId() {
  return chat && chat.group ? chat.group.id : null;
}

function redrawGroups() {
  drawGroups($("groups"), groups, openId(), (id) => {
    location.hash = encodeURIComponent(id);
  });
}

/** A message in a chat (sent or delivered): that chat moves to the top with it as its last. */
function noteActivity(groupId, message) {
  const found = groups.find((group) => group.id === groupId);
  if (!found) {
    refreshGroups();
    return;
  }
  found.last = message;
  groups = [found, ...groups.filter((group) => group !== found)];
  redrawGroups();
}

/** The open chat is in the URL's fragment (#web%3Ateam): reloads and the back button keep it. */
function openFromLocation() {
  if (!chat) return;
  let id = "";
  try {
    id = decodeURIComponent(location.hash.slice(1));
  } catch {
    id = ""; // a fragment typed by hand that is not percent-encoding: the list
  }
  if (!id) {
    chat.close();
    $("chat-title").textContent = "Pick a chat, or start one";
    $("messages").replaceChildren();
    $("composer").hidden = true;
    $("read-only").hidden = true;
    document.body.classList.remove("chat-open");
    redrawGroups();
    return;
  }
  if (openId() === id) return;
  const known = groups.find((group) => group.id === id);
  const colon = id.indexOf(":");
  const channel = colon > 0 ? id.slice(0, colon) : "";
  const group = known || { id, channel, chat_id: id.slice(colon + 1), exists: false };
  chat.open(group, known ? groupTitle(known) : id);
  document.body.classList.add("chat-open");
  redrawGroups();
  $("composer-text").focus();
}

function startNewChat(event) {
  event.preventDefault();
  const name = $("new-chat-name").value.trim();
  // the API's rule for a chat id: printable, at most 200 characters
  if (!name || /[\u0000-\u001f\u007f]/.test(name)) return;
  $("new-chat-name").value = "";
  location.hash = encodeURIComponent(`web:${name}`);
}

function sendFromComposer(event) {
  event.preventDefault();
  const text = $("composer-text").value;
  if (!text.trim() || !chat || !chat.group) return;
  $("composer-text").value = "";
  chat.send(text);
}

function composerKeys(event) {
  // Enter sends, Shift+Enter is a new line (on a phone the keyboard's return key is a new line too)
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && !matchMedia("(pointer: coarse)").matches) {
    sendFromComposer(event);
  }
}

$("login-form").addEventListener("submit", logIn);
$("logout").addEventListener("click", () => showLogin(""));
$("new-chat").addEventListener("submit", startNewChat);
$("composer").addEventListener("submit", sendFromComposer);
$("composer-text").addEventListener("keydown", composerKeys);
$("back").addEventListener("click", () => {
  location.hash = "";
});
window.addEventListener("hashchange", openFromLocation);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved);
else showLogin("");

// One open conversation: its recent history, then everything claw delivers to it, live.
//
// Order of things when a chat opens: the event stream first, then, once the API says it is
// listening, the history. A delivery between the two is in both and shown once (by its
// message id); one in neither cannot happen. After a reconnect the stream itself sends what
// was missed.

import { ApiError } from "./api.js";
import { renderMarkdown, renderPlain } from "./markdown.js";
import { GroupStream } from "./stream.js";

const HISTORY = 50;
// a turn announces itself again while its text streams; a long silence means it ended unseen
const TYPING_SHOWN_MS = 60000;
// a send that cannot reach claw (restarting) is tried again for this long
const SEND_RETRY_MS = 60000;
const SEND_RETRY_EVERY_MS = 2000;
const SENDABLE_CHANNELS = new Set(["web", "http", "terminal"]);

const STATE_TEXT = {
  idle: "",
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  waiting: "new chat",
};

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function clockTime(iso) {
  const when = new Date(iso);
  return Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** Names one send, so a retried send is stored once. (Not crypto.randomUUID: that needs
 * https or localhost, and a phone reaches claw over plain http on the local network.) */
function newExternalId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

export class ChatView {
  /** elements: {title, connection, messages, typing, composer, text, readOnly}. */
  constructor({ api, elements, sender, onUnauthorized, onActivity }) {
    this.api = api;
    this.el = elements;
    this.sender = sender;
    this.onUnauthorized = onUnauthorized;
    this.onActivity = onActivity;
    this.group = null;
    this.stream = null;
    this.typingTimer = null;
  }

  /** group: an entry of GET /v1/groups, or {id, channel, chat_id, exists: false} for a new chat. */
  open(group, title) {
    this.close();
    this.group = group;
    this.shown = new Set();
    this.historyNewestId = 0;
    this.historyLoaded = false;
    this.early = [];
    this.el.messages.replaceChildren();
    this.el.title.textContent = title;
    const sendable = SENDABLE_CHANNELS.has(group.channel);
    this.el.composer.hidden = !sendable;
    this.el.readOnly.hidden = sendable;
    if (group.exists === false) {
      this.historyLoaded = true;
      this.setState("waiting");
      this.el.readOnly.hidden = true;
      this.note(sendable ? "A new chat: it starts with your first message." : "There is no such chat.",
                "new-chat-note");
    } else {
      this.listen(null);
    }
  }

  close() {
    if (this.stream) this.stream.close();
    this.stream = null;
    this.group = null;
    this.setTyping(false);
    this.setState("idle");
  }

  listen(lastEventId) {
    const group = this.group;
    this.stream = new GroupStream({
      groupId: group.id,
      token: this.api.token,
      lastEventId,
      handlers: {
        onSubscribed: () => this.subscribed(group),
        onReply: (data) => this.reply(data),
        onTyping: () => this.setTyping(true),
        onState: (state) => this.setState(state),
        onUnauthorized: () => this.onUnauthorized(),
      },
    });
  }

  async subscribed(group) {
    if (this.historyLoaded || this.historyLoading) return;
    this.historyLoading = true;
    let messages = [];
    try {
      messages = await this.api.recentMessages(group.id, HISTORY);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return this.onUnauthorized();
      this.note(`Could not load the history: ${error.message}`);
    } finally {
      this.historyLoading = false;
    }
    if (this.group !== group) return;
    for (const message of messages) this.showMessage(message);
    this.historyNewestId = messages.length ? messages[messages.length - 1].id : 0;
    this.historyLoaded = true;
    const early = this.early;
    this.early = [];
    for (const data of early) this.reply(data);
    this.scrollToEnd(true);
  }

  /** A delivery from the stream: an answer, a reminder, a notice, a message from code. */
  reply(data) {
    if (!this.historyLoaded) {
      this.early.push(data);
      return;
    }
    if (this.shown.has(data.message_id) || data.message_id <= this.historyNewestId) return;
    const message = {
      id: data.message_id,
      role: "assistant",
      kind: data.kind,
      sender: "claw",
      text: data.text,
      created_at: data.delivered_at,
    };
    this.setTyping(false);
    this.showMessage(message);
    this.onActivity(this.group.id, message);
  }

  showMessage(message) {
    if (this.shown.has(message.id)) return;
    this.shown.add(message.id);
    const fromClaw = message.role === "assistant";
    const item = this.messageItem(fromClaw ? "claw" : message.sender, message.created_at);
    item.dataset.messageId = String(message.id);
    item.classList.add(fromClaw ? "from-claw" : "from-person");
    if (message.kind === "notice") item.classList.add("notice");
    if (!fromClaw && message.sender === this.sender) item.classList.add("from-me");
    const body = item.querySelector(".body");
    body.append(fromClaw ? renderMarkdown(message.text) : renderPlain(message.text));
    this.append(item);
    return item;
  }

  messageItem(who, createdAt) {
    const item = document.createElement("li");
    item.className = "message";
    const meta = document.createElement("div");
    meta.className = "meta";
    const name = document.createElement("span");
    name.className = "who";
    name.textContent = who;
    const time = document.createElement("time");
    time.textContent = clockTime(createdAt);
    if (createdAt) time.dateTime = createdAt;
    meta.append(name, " ", time);
    const body = document.createElement("div");
    body.className = "body";
    item.append(meta, body);
    return item;
  }

  /** A line of the page's own (not a message): shown, never stored. */
  note(text, kind = "") {
    const item = document.createElement("li");
    item.className = `page-note ${kind}`.trim();
    item.textContent = text;
    this.append(item);
  }

  append(item) {
    const atEnd = this.nearEnd();
    this.el.messages.append(item);
    this.scrollToEnd(atEnd);
  }

  nearEnd() {
    const list = this.el.messages;
    return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  }

  scrollToEnd(really) {
    if (really) this.el.messages.scrollTop = this.el.messages.scrollHeight;
  }

  setTyping(on) {
    clearTimeout(this.typingTimer);
    this.el.typing.hidden = !on;
    if (on) this.typingTimer = setTimeout(() => this.setTyping(false), TYPING_SHOWN_MS);
  }

  setState(state) {
    this.el.connection.dataset.state = state;
    this.el.connection.textContent = STATE_TEXT[state] ?? state;
  }

  /** Sends a message; a send claw cannot take yet (restarting) is tried again for a while. */
  async send(text) {
    const group = this.group;
    const item = this.messageItem(this.sender, new Date().toISOString());
    item.classList.add("from-person", "from-me", "pending");
    item.querySelector(".body").append(renderPlain(text));
    const status = document.createElement("div");
    status.className = "send-status";
    status.textContent = "sending…";
    item.append(status);
    this.append(item);
    this.scrollToEnd(true);

    const body = { chat_id: group.chat_id, channel: group.channel, sender: this.sender, text, external_id: newExternalId() };
    const deadline = Date.now() + SEND_RETRY_MS;
    for (;;) {
      try {
        const accepted = await this.api.post("/v1/messages", body);
        item.classList.remove("pending");
        item.dataset.messageId = String(accepted.message_id);
        this.shown.add(accepted.message_id);
        status.remove();
        this.sent(group, accepted, text);
        return;
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
        if (error.status === 401) return this.onUnauthorized();
        if (error.status !== 0 && error.status < 500) {
          item.classList.replace("pending", "failed");
          status.textContent = `not sent: ${error.message}`;
          return;
        }
        if (Date.now() > deadline) {
          item.classList.replace("pending", "failed");
          status.textContent = "not sent: cannot reach claw";
          return;
        }
        status.textContent = "cannot reach claw (restarting?); trying again…";
        await sleep(SEND_RETRY_EVERY_MS);
      }
    }
  }

  sent(group, accepted, text) {
    this.onActivity(group.id, { role: "user", sender: this.sender, text, created_at: new Date().toISOString() });
    if (group.exists === false && this.group === group) {
      // the group exists from its first message on: everything it was sent since is its log
      group.exists = true;
      this.el.messages.querySelector(".new-chat-note")?.remove();
      this.listen("0");
    }
  }
}

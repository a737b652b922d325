// A group's event stream (GET /v1/groups/{id}/events), kept open across API restarts.
//
// The browser's own EventSource cannot send the Authorization header, and the token must not
// go in the URL; the vendored `eventsource` package is the same WHATWG EventSource over fetch,
// so the header is added to each of its requests. It reconnects by itself when the stream ends
// or the API cannot be reached, sending the last event id it saw as `Last-Event-ID`: the API
// then sends what was delivered meanwhile. An HTTP error ends its retries (as the standard
// says); this wrapper opens a new one after a pause, resuming from the last id seen, unless
// the answer was final (401: the token is refused; 404: the group does not exist yet).
//
// The stream's first block, `: subscribed` with an id, says the API is listening: from then on
// nothing is missed. EventSource keeps comments and ids to itself, so the fetch given to it
// watches for that block: it is when the page loads the group's history (onSubscribed), and
// its id is where a new EventSource resumes.

import { EventSource } from "./vendor/eventsource/index.js";

const RETRY_AFTER_ERROR_MS = 3000;

/** The response with a body that calls `onFirstBlock(text)` once its first event block is in. */
function watchFirstBlock(response, onFirstBlock) {
  const decoder = new TextDecoder();
  let head = "";
  let done = false;
  const watch = new TransformStream({
    transform(chunk, controller) {
      controller.enqueue(chunk);
      if (done) return;
      head += decoder.decode(chunk, { stream: true });
      const end = head.search(/\r?\n\r?\n/);
      if (end >= 0) {
        done = true;
        onFirstBlock(head.slice(0, end));
      }
    },
  });
  return new Response(response.body.pipeThrough(watch), {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

export class GroupStream {
  /**
   * handlers: onSubscribed(), onReply(data, eventId), onTyping(data), onState(state) with state
   * one of "connecting" | "live" | "reconnecting" | "waiting" (no such group yet),
   * onUnauthorized(). lastEventId: where to resume ("0": everything the group's log holds), or
   * null: from now.
   */
  constructor({ groupId, token, lastEventId = null, handlers }) {
    this.groupId = groupId;
    this.token = token;
    this.handlers = handlers;
    this.lastEventId = lastEventId;
    this.closed = false;
    this.source = null;
    this.timer = null;
    this.open();
  }

  url() {
    const base = `/v1/groups/${encodeURIComponent(this.groupId)}/events`;
    // read on each EventSource's first request only: it sends Last-Event-ID itself after that
    return this.lastEventId === null ? base : `${base}?last_event_id=${encodeURIComponent(this.lastEventId)}`;
  }

  fetchWithToken = async (input, init) => {
    const resumeFrom = init.headers && init.headers["Last-Event-ID"];
    if (resumeFrom) this.lastEventId = resumeFrom;
    const response = await fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${this.token}` } });
    if (response.status !== 200 || !response.body) return response;
    return watchFirstBlock(response, (block) => this.subscribed(block));
  };

  subscribed(block) {
    if (this.closed) return;
    const id = /^id: ?(.*)$/m.exec(block);
    if (id) this.lastEventId = id[1];
    this.handlers.onState("live");
    this.handlers.onSubscribed();
  }

  open() {
    this.handlers.onState(this.source === null ? "connecting" : "reconnecting");
    const source = new EventSource(this.url(), { fetch: this.fetchWithToken });
    this.source = source;
    source.addEventListener("reply", (event) => {
      if (this.closed) return;
      if (event.lastEventId) this.lastEventId = event.lastEventId;
      this.handlers.onReply(JSON.parse(event.data), event.lastEventId);
    });
    source.addEventListener("typing", (event) => {
      if (!this.closed) this.handlers.onTyping(JSON.parse(event.data));
    });
    source.addEventListener("error", (event) => this.failed(source, event));
  }

  failed(source, event) {
    if (this.closed || source !== this.source) return;
    if (source.readyState === source.CONNECTING) {
      this.handlers.onState("reconnecting"); // it tries again by itself
      return;
    }
    if (event.code === 401) {
      this.close();
      this.handlers.onUnauthorized();
      return;
    }
    if (event.code === 404) {
      this.close();
      this.handlers.onState("waiting");
      return;
    }
    if (event.code === 422) this.lastEventId = null; // an id the API does not take: from now
    this.handlers.onState("reconnecting");
    this.timer = setTimeout(() => {
      if (!this.closed) this.open();
    }, RETRY_AFTER_ERROR_MS);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.source) this.source.close();
  }
}

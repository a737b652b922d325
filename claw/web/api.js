// The HTTP API as the page uses it: every call carries the token in the Authorization header
// (never in a URL), and every failure becomes an ApiError whose message a person can read.

export class ApiError extends Error {
  /** status 0: claw could not be reached at all (stopped, restarting, no network). */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.token}`, ...extra };
  }

  async request(method, path, body) {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: this.headers(body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch {
      throw new ApiError(0, "cannot reach claw (is it running?)");
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      payload = null;
    }
    if (!response.ok) {
      const said = payload && typeof payload.error === "string" ? payload.error : response.statusText;
      throw new ApiError(response.status, said || `HTTP ${response.status}`);
    }
    return payload;
  }

  get(path) {
    return this.request("GET", path);
  }

  post(path, body) {
    return this.request("POST", path, body);
  }

  groups() {
    return this.get("/v1/groups").then((page) => page.groups);
  }

  /** The newest `limit` messages of a group, oldest first. */
  recentMessages(groupId, limit) {
    const id = encodeURIComponent(groupId);
    return this.get(`/v1/groups/${id}/messages?newest=true&limit=${limit}`).then((page) => page.messages);
  }
}

/** Runs `work` over `items`, at most `width` at a time (the group list's last messages). */
export async function inBatches(items, width, work) {
  const results = new Array(items.length);
  let next = 0;
  async function lane() {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, lane));
  return results;
}

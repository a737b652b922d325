"""claw_ipc: ask the claw host for actions from inside the sandbox (file IPC).

    import claw_ipc
    claw_ipc.send_message("the report is ready")          # to this group
    claw_ipc.send_message("hello", to="http:other")       # only a main group may do this
    claw_ipc.request("save_memory", {...})                # any action the host allows
    claw_ipc.web_fetch("https://example.org")["text"]    # the page's text, fetched by the host
    claw_ipc.web_search("python release")["results"]     # titles, urls, snippets

A request is a JSON file written to $CLAW_IPC_DIR/requests under a temporary name and renamed
into place, so the host never reads half a request; the host answers the same way in
$CLAW_IPC_DIR/responses/<id>.json (read-only here: the host clears it). The host decides who you are from where the file was found:
a request cannot name its group. Errors come back as IpcError with the host's reason.

Imported automatically into every Python process of the sandbox (sitecustomize), it also
writes a heartbeat file every second; the host kills a sandbox whose heartbeat stops.
"""

# Imported by every Python process in the sandbox: only cheap modules at the top (json pulls
# in re and enum, threading a few more; together they tripled Python's start-up time).
import _thread
import atexit
import os
import time

IPC_DIR = os.environ.get("CLAW_IPC_DIR", "/ipc")
HEARTBEAT_INTERVAL = float(os.environ.get("CLAW_HEARTBEAT_INTERVAL", "1.0"))
DEFAULT_TIMEOUT = 30.0

__all__ = ["IpcError", "request", "send_message", "schedule_task", "save_memory", "web_fetch", "web_search"]


class IpcError(Exception):
    """The host refused or failed the request; the message says why."""


def request(action, args=None, *, wait=True, timeout=DEFAULT_TIMEOUT):
    """Send one request; with ``wait`` return the host's result or raise IpcError."""
    import json

    request_id = os.urandom(16).hex()
    body = json.dumps({"id": request_id, "action": action, "args": args or {}})
    requests = os.path.join(IPC_DIR, "requests")
    temporary = os.path.join(requests, "." + request_id + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(body)
    os.rename(temporary, os.path.join(requests, request_id + ".json"))
    if not wait:
        return None
    return _wait_response(request_id, timeout)


def _wait_response(request_id, timeout):
    import json

    path = os.path.join(IPC_DIR, "responses", request_id + ".json")
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            with open(path, encoding="utf-8") as handle:
                data = handle.read()
            break
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise IpcError("no answer from the host within %.0f s" % timeout) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
    try:
        os.unlink(path)
    except OSError:
        pass
    response = json.loads(data)
    if not response.get("ok"):
        raise IpcError(response.get("error") or "refused")
    return response.get("result")


def send_message(text, to=None, **options):
    """Post ``text`` to this group (or, from a main group, to the group ``to``)."""
    args = {"text": text}
    if to is not None:
        args["to"] = to
    return request("send_message", args, **options)


def schedule_task(**args):
    return request("schedule_task", args)


def save_memory(**args):
    return request("save_memory", args)


#: the host's fetch or search may take up to its CLAW_WEB_TIMEOUT (at most 120 s)
WEB_TIMEOUT = 130.0


def web_fetch(url, timeout=WEB_TIMEOUT):
    """The page at ``url`` as text (the host fetches it; the sandbox has no network)."""
    return request("web_fetch", {"url": url}, timeout=timeout)


def web_search(query, count=5, timeout=WEB_TIMEOUT):
    """Search results from the host's configured provider: {"results": [{title, url, snippet}]}."""
    return request("web_search", {"query": query, "count": count}, timeout=timeout)


# ---- heartbeat ---------------------------------------------------------------------------

_heartbeat_started = False


def _beat(path):
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w") as handle:
        handle.write("%.3f\n" % time.time())
    os.replace(temporary, path)


def _heartbeat_loop(path):
    while True:
        try:
            _beat(path)
        except OSError:
            pass
        time.sleep(HEARTBEAT_INTERVAL)


def _stop_heartbeat(path, pid):
    # A process that ends normally takes its heartbeat with it: the host then stops watching
    # (any other live Python process writes it again within a second).
    if os.getpid() == pid:
        try:
            os.unlink(path)
        except OSError:
            pass


def _start_heartbeat():
    global _heartbeat_started
    folder = os.path.join(IPC_DIR, "heartbeat")
    if _heartbeat_started or not os.path.isdir(folder):
        return
    _heartbeat_started = True
    path = os.path.join(folder, "beat")
    _thread.start_new_thread(_heartbeat_loop, (path,))
    atexit.register(_stop_heartbeat, path, os.getpid())

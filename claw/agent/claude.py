"""Claude through the official ``anthropic`` SDK, streamed, with prompt caching.

Prompt caching: the API caches a request's prefix (tools → system → messages) up to each
``cache_control`` breakpoint, at most four, and a later request that starts with exactly the
same bytes reads it back at a tenth of the input price. The four breakpoints here:

    the last tool            tools stay cached when the system prompt changes (memory edits)
    the system prompt        personality and memory: stable across turns
    the end of the history   the next turn's history starts with the same bytes (the window
                             moves in steps, claw/agent/transcript.py), and the API finds this
                             entry by looking back from that turn's own history breakpoint
    the last message         the next call of the same tool loop starts with all of this

Everything that changes every turn (the new messages, the clock) comes after the history
breakpoint. Message contents always go out as lists of blocks, so a message is the same bytes
whether or not it carries a breakpoint this time.

The SDK already retries 408/409/429/5xx/529 and connection failures with exponential backoff
(honouring the server's ``retry-after`` headers), so nothing here retries by hand: once the SDK
gives up, the failure becomes a `ProviderError` whose ``retryable`` flag tells the turn whether
trying again later can help (overload, outage) or not (a bad key, an unknown model).
"""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2

from claw.agent.base import Block, ModelRequest, ModelStep, ProviderError, TokenUsage

#: answer length cap per model call; the loop calls again after tool results
MAX_TOKENS = 4096
#: marks the end of the cached prefix; the API caches everything up to and including it
CACHE = {"type": "ephemeral"}
#: error types that mean "the service is struggling", also when they arrive inside a stream
TRANSIENT_ERRORS = {"overloaded_error", "api_error", "rate_limit_error", "timeout_error"}


class ClaudeProvider:
    name = "anthropic"

    def __init__(self, *, model: str, api_key: str | None, base_url: str | None = None,
                 max_retries: int = 4, timeout: float = 120.0) -> None:
        """``api_key``/``base_url`` None let the SDK read ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL."""
        self.model = model
        self.max_retries = max_retries
        self.timeout = timeout
        self._api_key = api_key
        self._base_url = base_url
        self._client: anthropic.Anthropic | None = None

    @property
    def client(self) -> anthropic.Anthropic:
        """Built on first use: a broken SDK profile then fails a step, not the process start."""
        if self._client is None:
            self._client = anthropic.Anthropic(api_key=self._api_key, base_url=self._base_url,
                                               max_retries=self.max_retries, timeout=self.timeout)
        return self._client

    def step(self, request: ModelRequest) -> ModelStep:
        """One model call; text deltas go to ``request.on_text`` as they stream in."""
        try:
            client = self.client
            if not (client.api_key or client.auth_token or client.credentials):
                # No key, token or profile: the SDK would raise a bare TypeError mid-request.
                raise ProviderError("no Anthropic API key: set ANTHROPIC_API_KEY", retryable=False)
            with client.messages.stream(model=self.model, max_tokens=MAX_TOKENS,
                                        messages=self._messages(request),
                                        **self._prefix(request)) as stream:
                for delta in stream.text_stream:
                    if request.on_text is not None:
                        request.on_text(delta)
                message = stream.get_final_message()
        except anthropic.APIError as exc:
            raise self._error(exc) from exc
        except anthropic.AnthropicError as exc:
            # Not an HTTP failure: e.g. a CredentialsError for a missing or broken SDK profile.
            raise self._fail(f"Anthropic credentials unusable ({exc}): set ANTHROPIC_API_KEY",
                             False) from exc
        except httpx2.TransportError as exc:
            # The SDK wraps (and retries) transport failures only until the stream starts; a
            # stall or a dropped connection while reading it surfaces as the raw httpx2 error.
            broke = f"the Anthropic stream broke off ({type(exc).__name__})"
            raise self._fail(broke, True) from exc
        # Dumped, not rebuilt: blocks go back verbatim next step, and tool_use ids must match.
        content: list[Block] = [block.model_dump(mode="json", exclude_none=True)
                                for block in message.content]
        usage = message.usage
        return ModelStep(
            content=content,
            usage=TokenUsage(self.model, usage.input_tokens, usage.output_tokens,
                             usage.cache_read_input_tokens or 0,
                             usage.cache_creation_input_tokens or 0),
            stop_reason=message.stop_reason or "end_turn",
        )

    @staticmethod
    def _prefix(request: ModelRequest) -> dict[str, Any]:
        """System prompt and tools, each ending in a cache breakpoint.

        The API caches the prefix in the order tools → system → messages, so the breakpoint on
        the system block covers both; the one on the last tool keeps the tools cached when the
        system prompt changes (it carries the group's memory). The clock is never here: it
        would change the prefix every turn (claw/agent/clock.py).
        """
        prefix: dict[str, Any] = {}
        if request.system:  # the API refuses an empty text block
            prefix["system"] = [{"type": "text", "text": request.system, "cache_control": CACHE}]
        if request.tools:
            tools = [{"name": t.name, "description": t.description, "input_schema": t.input_schema}
                     for t in request.tools]
            tools[-1]["cache_control"] = CACHE
            prefix["tools"] = tools
        return prefix

    @staticmethod
    def _messages(request: ModelRequest) -> list[dict[str, Any]]:
        """The conversation as block lists, breakpoints on the history's end and the last message.

        Copies: the loop sends ``request.messages`` again next step, unmarked where it moved on.
        """
        messages = [{"role": m["role"], "content": _blocks(m["content"])} for m in request.messages]
        marks = {len(messages) - 1}
        if request.history_end > 0:
            marks.add(min(request.history_end, len(messages)) - 1)
        for index in marks:
            content = messages[index]["content"]
            if content:
                content[-1] = {**content[-1], "cache_control": CACHE}
        return messages

    def _error(self, exc: anthropic.APIError) -> ProviderError:
        """A message a group member or operator can act on, and whether retrying later may help."""
        retries = f"after {self.max_retries} retries"
        if isinstance(exc, anthropic.APITimeoutError):
            return self._fail(f"Claude did not answer within {self.timeout:g}s ({retries})", True)
        if isinstance(exc, anthropic.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
            return self._fail(f"could not reach the Anthropic API at {self.client.base_url} "
                              f"({cause}, {retries})", True)
        if not isinstance(exc, anthropic.APIStatusError):
            return self._fail(f"unexpected answer from the Anthropic API: {exc.message}", False)
        status, detail = exc.status_code, exc.api_message or exc.message
        ref = f"HTTP {status}" + (f", request {exc.request_id}" if exc.request_id else "")
        if isinstance(exc, anthropic.AuthenticationError):
            return self._fail(f"Anthropic rejected the API key ({ref}): check ANTHROPIC_API_KEY",
                              False)
        if isinstance(exc, anthropic.PermissionDeniedError):
            return self._fail(f"this API key may not use {self.model!r} ({ref}): {detail}", False)
        if isinstance(exc, anthropic.NotFoundError):
            return self._fail(f"Anthropic does not know model {self.model!r} ({ref}): {detail}; "
                              "check CLAW_MODEL", False)
        if isinstance(exc, anthropic.BadRequestError):
            return self._fail(f"Anthropic rejected the request ({ref}): {detail}", False)
        if isinstance(exc, anthropic.RateLimitError):
            return self._fail(f"Anthropic rate limit still exceeded {retries} ({ref})", True)
        if status >= 500 or exc.type in TRANSIENT_ERRORS:
            # An error event inside a stream arrives with status 200; the SDK never retries it.
            when = retries if status >= 500 else "mid-stream"
            return self._fail(f"Claude is overloaded or unavailable ({ref}, {when}): {detail}",
                              True)
        return self._fail(f"Anthropic API error ({ref}): {detail}", False)

    def _fail(self, message: str, retryable: bool) -> ProviderError:
        # Error bodies are not ours to trust: never echo the key (a real key is long, and a
        # short test key would shred the message).
        if self._api_key and len(self._api_key) >= 16:
            message = message.replace(self._api_key, "[redacted]")
        return ProviderError(message, retryable=retryable)


def _blocks(content: str | list[Block]) -> list[Block]:
    """A message's content as a list of blocks; a string is one text block (as the API reads it)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)

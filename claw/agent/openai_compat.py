"""Any OpenAI-compatible server (Ollama, vLLM, LM Studio, OpenAI) through the ``openai`` SDK.

The canonical conversation (Anthropic content blocks, see ``base.py``) is translated to Chat
Completions messages on the way out and the answer back to blocks, so the agent loop never
sees the wire format. Requests are not streamed: many compatible servers stream tool calls
badly or not at all, and a turn only needs the final answer.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import openai

from claw.agent.base import Block, ChatMessage, ModelRequest, ModelStep, ProviderError, TokenUsage


class OpenAIProvider:
    name = "openai"

    def __init__(self, *, model: str, base_url: str, api_key: str | None,
                 max_retries: int = 4, timeout: float = 120.0) -> None:
        self.model = model
        self.base_url = base_url
        self._api_key = api_key  # kept only to scrub it from server messages
        # Local servers need no key, but the SDK refuses to start without one.
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed",
                                    max_retries=max_retries, timeout=timeout)

    def step(self, request: ModelRequest) -> ModelStep:
        """One model call; the SDK has already retried 429/5xx/timeouts when this raises."""
        arguments: dict[str, Any] = {"model": self.model, "messages": to_chat_messages(request)}
        if request.tools:
            arguments["tools"] = [
                {"type": "function", "function": {"name": t.name, "description": t.description,
                                                  "parameters": t.input_schema}}
                for t in request.tools
            ]
        try:
            response = self.client.chat.completions.create(**arguments)
        except openai.OpenAIError as exc:
            raise self._provider_error(exc) from exc
        if not response.choices:
            raise ProviderError(f"the model server at {self.base_url} returned no answer")
        choice = response.choices[0]
        content: list[Block] = []
        if choice.message.content:
            content.append({"type": "text", "text": choice.message.content})
        for call in choice.message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is None:  # "custom" tool calls: claw only declares function tools
                continue
            content.append({"type": "tool_use", "id": call.id or f"call_{uuid.uuid4().hex[:12]}",
                            "name": function.name, "input": _parse_arguments(function.arguments)})
        if request.on_text and choice.message.content:
            request.on_text(choice.message.content)
        if any(block["type"] == "tool_use" for block in content):
            stop_reason = "tool_use"
        else:
            stop_reason = "max_tokens" if choice.finish_reason == "length" else "end_turn"
        return ModelStep(content, self._usage(response.usage), stop_reason)

    def _usage(self, usage: Any) -> TokenUsage:
        if usage is None:  # some servers leave usage out; zero is honest, not a guess
            return TokenUsage(self.model)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
        return TokenUsage(self.model, usage.prompt_tokens or 0, usage.completion_tokens or 0,
                          cached, 0)

    def _provider_error(self, exc: openai.OpenAIError) -> ProviderError:
        """A message that says what to fix; OpenAI echoes part of a wrong key, so scrub it."""
        where = f"the model server at {self.base_url}"
        if isinstance(exc, openai.APITimeoutError):
            return ProviderError(f"{where} did not answer in time", retryable=True)
        if isinstance(exc, openai.APIConnectionError):
            return ProviderError(f"cannot reach {where}: is it running?", retryable=True)
        if isinstance(exc, openai.AuthenticationError):
            return ProviderError(f"{where} rejected the API key (HTTP 401): "
                                 "check CLAW_OPENAI_API_KEY", retryable=False)
        detail = self._scrub(getattr(exc, "message", "") or type(exc).__name__)
        if isinstance(exc, openai.PermissionDeniedError):
            return ProviderError(f"{where} refused access (HTTP 403): {detail}", retryable=False)
        if isinstance(exc, openai.NotFoundError):
            return ProviderError(f"{where} does not know model {self.model!r} or the Chat "
                                 f"Completions route (HTTP 404): check CLAW_MODEL and "
                                 f"CLAW_OPENAI_BASE_URL; {detail}", retryable=False)
        if isinstance(exc, openai.BadRequestError):
            return ProviderError(f"{where} rejected the request (HTTP 400): {detail}",
                                 retryable=False)
        status = getattr(exc, "status_code", None)
        if isinstance(exc, openai.RateLimitError):
            return ProviderError(f"{where} is rate limiting us (HTTP 429): {detail}")
        retryable = status is None or status >= 500 or status in (408, 409)
        return ProviderError(f"{where} failed (HTTP {status or '?'}): {detail}",
                             retryable=retryable)

    def _scrub(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text


def to_chat_messages(request: ModelRequest) -> list[ChatMessage]:
    """The canonical conversation as Chat Completions messages, system prompt first."""
    messages: list[ChatMessage] = [{"role": "system", "content": request.system}]
    for message in request.messages:
        content = message["content"]
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
        elif message["role"] == "assistant":
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
            calls = [{"id": b["id"], "type": "function",
                      "function": {"name": b["name"],
                                   "arguments": json.dumps(b.get("input") or {})}}
                     for b in content if b.get("type") == "tool_use"]
            assistant: ChatMessage = {"role": "assistant", "content": text or None}
            if calls:
                assistant["tool_calls"] = calls
            messages.append(assistant)
        else:
            # Tool messages must directly follow the assistant message that asked for them.
            for block in content:
                if block.get("type") == "tool_result":
                    result = _result_text(block.get("content"))
                    if block.get("is_error"):  # the Chat API has no is_error flag
                        result = f"ERROR: {result}"
                    messages.append({"role": "tool", "tool_call_id": block["tool_use_id"],
                                     "content": result})
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text")
            if text:
                messages.append({"role": "user", "content": text})
    return messages


def _result_text(content: Any) -> str:
    if isinstance(content, list):  # Anthropic also allows a list of text blocks here
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))
    return "" if content is None else str(content)


def _parse_arguments(arguments: str | None) -> dict[str, Any]:
    """Arguments as a dict; invalid JSON goes to the loop raw, so the model sees its mistake."""
    if not arguments or not arguments.strip():
        return {}  # some servers send "" for a tool without parameters
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        return {"_raw_arguments": arguments}
    return parsed if isinstance(parsed, dict) else {"_raw_arguments": arguments}

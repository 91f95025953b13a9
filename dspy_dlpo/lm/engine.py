"""Small helpers for DSPy 3.4 custom engines (``dspy.LM(..., engine=...)``).

An engine receives one canonical ``dspy.lm15.Request`` and returns one ``Response``.
:class:`FunctionEngine` adapts a plain ``messages -> text`` function to that contract; the
embedded llama.cpp engine and the scripted test LMs build on it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dspy
from dspy.lm15 import Message, Response, TextPart, Usage, response_to_events

ChatMessages = list[dict[str, str]]


def request_to_messages(request: Any) -> ChatMessages:
    """Flatten a ``dspy.lm15.Request`` into OpenAI-style ``[{"role", "content"}]`` messages."""
    messages: ChatMessages = []
    if request.system is not None:
        system = request.system if isinstance(request.system, str) else "".join(p.text for p in request.system)
        messages.append({"role": "system", "content": system})
    messages.extend({"role": m.role, "content": m.text or ""} for m in request.messages)
    return messages


def request_options(request: Any) -> dict[str, Any]:
    """The generation options of a request that a local backend understands."""
    config = request.config
    return {"max_tokens": config.max_tokens, "temperature": config.temperature, "stop": list(config.stop or ())}


def make_response(text: str, *, model: str, input_tokens: int | None = None,
                  output_tokens: int | None = None, finish_reason: str = "stop") -> Response:
    """Build a canonical text response with the token counts the backend reports."""
    return Response(id=None, model=model, message=Message.assistant([TextPart(text)]),
                    finish_reason=finish_reason,
                    usage=Usage(input_tokens=input_tokens, output_tokens=output_tokens))


class FunctionEngine:
    """A DSPy engine backed by ``fn(messages, options) -> str``.

    Token counts are approximated as whitespace-separated words so that accounting code
    sees non-zero usage; real backends report their own counts.
    """

    def __init__(self, fn: Callable[[ChatMessages, dict[str, Any]], str], *, model: str = "function") -> None:
        self.fn = fn
        self.model = model

    def complete(self, request: Any) -> Response:
        messages = request_to_messages(request)
        text = self.fn(messages, request_options(request))
        words_in = sum(len(m["content"].split()) for m in messages)
        return make_response(text, model=self.model, input_tokens=words_in, output_tokens=len(text.split()))

    def stream(self, request: Any):
        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


def function_lm(fn: Callable[[ChatMessages, dict[str, Any]], str], *, name: str = "function",
                cache: bool = False) -> dspy.LM:
    """A ``dspy.LM`` whose replies come from ``fn(messages, options)``; handy for scripted tests."""
    return dspy.LM(f"custom/{name}", engine=FunctionEngine(fn, model=name), cache=cache)

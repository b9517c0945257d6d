"""Image parts of OpenAI's chat request mapped to the syscall's content parts, without a server: the order of
text and images kept, and every source the endpoint cannot take refused naming its field."""

from __future__ import annotations

from typing import Any

import pytest

from aios.api.openai_wire import ChatCompletionRequest, WireError, to_syscall
from aios.kernel.syscalls import ImagePart, ImageSource, LLMSyscall, Message, TextPart

URL = "data:image/png;base64,iVBORw0KGgo="


def syscall(*messages: dict[str, Any]) -> LLMSyscall:
    body = ChatCompletionRequest.model_validate({"model": "eyes", "messages": list(messages)})
    return to_syscall(body, model="eyes", last_step=True)


def refused(*messages: dict[str, Any]) -> WireError:
    with pytest.raises(WireError) as caught:
        syscall(*messages)
    return caught.value


def look(image_url: Any) -> dict[str, Any]:
    return {
        "role": "user",
        "content": [{"type": "text", "text": "Look:"}, {"type": "image_url", "image_url": image_url}],
    }


def test_a_user_messages_text_and_images_keep_their_order_and_detail() -> None:
    content = [
        {"type": "text", "text": "First"},
        {"type": "image_url", "image_url": {"url": URL, "detail": "high"}},
        {"type": "text", "text": "then"},
        {"type": "image_url", "image_url": URL},
        {"type": "image_url", "image_url": {"url": URL, "detail": None}},
    ]
    call = syscall({"role": "system", "content": "Describe."}, {"role": "user", "content": content})
    assert call.messages == (
        Message(role="system", content="Describe."),
        Message(
            role="user",
            content=(
                TextPart(text="First"),
                ImagePart(image_url=ImageSource(url=URL, detail="high")),
                TextPart(text="then"),
                ImagePart(image_url=ImageSource(url=URL)),
                ImagePart(image_url=ImageSource(url=URL)),
            ),
        ),
    )


def test_text_parts_alone_stay_one_string() -> None:
    [message] = syscall(
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ).messages
    assert message.content == "a\nb"


@pytest.mark.parametrize(
    ("image_url", "param", "problem"),
    [
        ({"url": "https://example.com/cat.png"}, "url", "this endpoint fetches no remote images"),
        ("HTTP://example.com/cat.png", "url", "this endpoint fetches no remote images"),
        ({"url": "file:///etc/passwd"}, "url", "an image needs a data: URL"),
        ({"detail": "low"}, "url", "an image needs a data: URL"),
        (
            {"path": "shots/screen.png"},
            "path",
            "names a file in an agent's work folder; an API client has none",
        ),
        ({"url": URL, "path": "screen.png"}, "path", "an API client has none"),
        ({"url": URL, "detail": "max"}, "detail", "must be 'auto', 'low' or 'high'"),
        (["not", "an", "object"], None, "must be an object with a url"),
    ],
)
def test_an_image_the_endpoint_cannot_take_is_refused_naming_its_field(
    image_url: Any, param: str | None, problem: str
) -> None:
    error = refused(look(image_url))
    where = "messages[0].content[1].image_url"
    assert error.param == (f"{where}.{param}" if param else where)
    assert problem in str(error) and str(error).startswith(where)
    if param in ("url", "path"):
        assert "send the image inline as a data: URL" in str(error)


@pytest.mark.parametrize("role", ["system", "developer", "assistant", "tool"])
def test_images_go_in_user_messages_only(role: str) -> None:
    message = {**look({"url": URL}), "role": role, "tool_call_id": "call_1"}
    error = refused({"role": "user", "content": "Hi"}, message)
    assert error.param == "messages[1].content[1]"
    assert f"images go in user messages only, not in {role} messages" in str(error)

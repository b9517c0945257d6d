"""Memory and images: a page keeps a message's text and a mention of each image, never the image, and the
memories paged in go before the last user turn's parts."""

from __future__ import annotations

from aios.kernel.syscalls import Message, TextPart
from aios.memory import context
from aios.sdk import user

DATA_URL = "data:image/png;base64,iVBORw0KGgo="


def test_a_page_mentions_images_without_their_bytes() -> None:
    look = user("What is on screen?", {"path": "shot.png"}, "other.png")
    text = context.page_text([look, Message(role="assistant", content="A terminal.")])
    assert text == "user: What is on screen? [an image] [an image]\nassistant: A terminal."
    inline = Message.model_validate(
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": DATA_URL}}]}
    )
    assert context.page_text([inline]) == "user:  [an image]"
    assert "base64" not in context.page_text([inline])
    assert (
        context.message_tokens(look)
        == context.estimate_tokens("What is on screen?") + 2 * context.IMAGE_TOKENS
    )


def test_memories_go_before_the_last_user_turns_parts() -> None:
    look = user("And now?", "shot.png")
    [turn] = context.assemble([look], "Memories: the user likes xterm.", [])
    assert isinstance(turn.content, tuple)
    assert turn.content[0] == TextPart(text="Memories: the user likes xterm.")
    assert turn.content[1:] == look.content

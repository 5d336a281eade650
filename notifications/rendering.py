"""Turning a template's words into an e-mail's subject and parts.

The subject and the plain-text part are rendered with autoescape off (they are not HTML: an
apostrophe in a name must not arrive as `&#x27;`); the HTML part escapes every variable. Staff
edit these words, so they are Django template language only: no Python, and variables come
from the sender's context alone.
"""
from django.conf import settings
from django.template import TemplateSyntaxError, engines

_PLAIN = "{%% autoescape off %%}%s{%% endautoescape %%}"


def _compile(part: str, source: str):
    engine = engines["django"]
    return engine.from_string(source if part == "html_body" else _PLAIN % source)


def render(sources: dict[str, str], context: dict) -> dict[str, str]:
    rendered = {part: _compile(part, source).render(context) for part, source in sources.items()}
    # One line: a header never carries a newline (Django would refuse it).
    rendered["subject"] = " ".join(rendered["subject"].split())
    return rendered


def compose(sources: dict[str, str], context: dict, *, category: str, unsubscribe_url: str = "") -> dict[str, str]:
    """An e-mail's subject and parts: the template rendered, and for a stoppable category the
    unsubscribe link (also in `unsubscribe_url` for the HTML footer) appended to the text part
    here, so an edited template cannot drop it. The sender and the admin's preview both use it."""
    context = {"product": "Groundstation", "base_url": settings.PUBLIC_BASE_URL, **context}
    if unsubscribe_url:
        context["unsubscribe_url"] = unsubscribe_url
    parts = render(sources, context)
    if unsubscribe_url:
        parts["text_body"] = (f"{parts['text_body'].rstrip()}\n\n--\n"
                              f"Stop {category} e-mail from {context['product']}: {unsubscribe_url}\n")
    return parts


def syntax_errors(sources: dict[str, str]) -> dict[str, str]:
    """Parts that do not compile, with the reason (the admin form shows them)."""
    errors = {}
    for part, source in sources.items():
        try:
            _compile(part, source)
        except TemplateSyntaxError as exc:
            errors[part] = str(exc)
    return errors

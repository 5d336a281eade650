"""Route patterns for metering and logs: `/api/v1/nodes/{id}`, whatever the URL syntax."""
import re
from functools import lru_cache

_REGEX_PARAM = re.compile(r"\(\?P<(\w+)>(?:[^()]|\([^()]*\))*\)")
_PATH_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
UNMATCHED = "(unmatched)"


@lru_cache(maxsize=1024)
def normalise(route: str) -> str:
    def name(match: re.Match) -> str:
        return "{id}" if match.group(1) == "pk" else "{" + match.group(1) + "}"

    text = _PATH_PARAM.sub(name, _REGEX_PARAM.sub(name, route))
    text = text.replace("^", "").replace("$", "").replace("/?", "/").replace("\\", "")
    text = re.sub(r"/+", "/", "/" + text)
    return text.rstrip("/") or "/"


def route_pattern(request) -> str:
    match = getattr(request, "resolver_match", None)
    return normalise(match.route) if match is not None and match.route else UNMATCHED

"""Request parsers: cluster definitions may be posted as raw YAML."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from core.api.exceptions import PayloadTooLarge
from orchestration.definition_yaml import MAX_BYTES


class YAMLDefinitionParser(BaseParser):
    """`application/yaml` body → `{"definition": <text>}`; parsing happens in validation, under caps."""

    media_type = "application/yaml"

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_BYTES + 1) if stream is not None else b""
        if len(raw) > MAX_BYTES:
            raise PayloadTooLarge(f"the definition is larger than {MAX_BYTES // 1024} KiB")
        try:
            return {"definition": raw.decode("utf-8")}
        except UnicodeDecodeError:
            raise ParseError("the YAML body is not valid UTF-8")


class XYAMLDefinitionParser(YAMLDefinitionParser):
    media_type = "application/x-yaml"


class TextYAMLDefinitionParser(YAMLDefinitionParser):
    media_type = "text/yaml"

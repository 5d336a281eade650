"""The API's JSON parser: DRF's, made safe against hostile nesting.

`json.loads` recurses once per nesting level, so a body like `[[[[…]]]]` a few thousand levels
deep raises `RecursionError`, which DRF's parser does not catch (it is not a `ValueError`) and
which would surface as a 500. It is a malformed request: answer 400 like any other.
"""
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type=media_type, parser_context=parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.")

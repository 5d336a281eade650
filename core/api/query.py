"""Validating query strings with serializers."""
from rest_framework import serializers


class QueryParamsSerializer(serializers.Serializer):
    """For `?from=&to=`-style parameters: an empty or repeated parameter is an error, not "absent".

    DRF reads form-style input leniently (an empty value means "not given"); for a query string
    that hides client mistakes, so each declared parameter must be given once, with a value.
    """

    def to_internal_value(self, data):
        errors = {}
        for name in self.fields:
            if hasattr(data, "getlist") and len(data.getlist(name)) > 1:
                errors[name] = ["Give this parameter once."]
            elif name in data and data.get(name) == "":
                errors[name] = ["Give a value or leave the parameter out."]
        if errors:
            raise serializers.ValidationError(errors)
        return super().to_internal_value(data)

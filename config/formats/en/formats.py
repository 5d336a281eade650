"""Dates and times as the console shows them: ISO-like, 24-hour, with the zone ("2026-12-02
18:45 UTC"), the same on every page as on the dashboard. DRF's API formats are ISO 8601 and
unaffected."""
DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i T"
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"

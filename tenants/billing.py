"""Billing details of a tenant: one validator for the API, the admin and the services."""
import re

from rest_framework.exceptions import ValidationError

# ISO 3166-1 alpha-2, officially assigned codes.
_COUNTRY_TABLE = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
    BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE
    EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM
    HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC
    LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO
    TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
    """
ISO_COUNTRIES = frozenset(_COUNTRY_TABLE.split())  # noqa: SIM905 - a table reads better
TAX_TYPES = ("vat", "gst", "ein")
FIELDS = ("company_name", "company_address", "tax_number_type", "tax_number", "country")
MAX_LENGTHS = {"company_name": 200, "company_address": 500, "tax_number": 32}

_TAX_PATTERNS = {
    # EU style: optional country prefix (Greece writes EL), then 2–13 letters/digits.
    "vat": re.compile(r"^(?:[A-Z]{2})?[0-9A-Z]{2,13}$"),
    "gst": re.compile(r"^[0-9A-Z]{6,15}$"),
    "ein": re.compile(r"^\d{2}-?\d{7}$"),  # US Employer Identification Number
}


def clean_billing_account(value) -> dict:
    """Normalise and validate a billing account; raises a field-keyed ValidationError."""
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ValidationError({"billing_account": ["Must be an object."]})
    unknown = set(value) - set(FIELDS)
    errors: dict[str, list[str]] = {key: ["Unknown field."] for key in sorted(unknown)}
    cleaned: dict[str, str] = {}
    for field in FIELDS:
        raw = value.get(field, "")
        if raw is None:
            raw = ""
        if not isinstance(raw, str):
            errors[field] = ["Must be a string."]
            continue
        cleaned[field] = raw.strip()
        limit = MAX_LENGTHS.get(field)
        if limit and len(cleaned[field]) > limit:
            errors[field] = [f"At most {limit} characters."]

    country = cleaned.get("country", "").upper()
    cleaned["country"] = country
    if country and country not in ISO_COUNTRIES:
        errors["country"] = ["Not an ISO 3166-1 alpha-2 country code."]

    tax_type = cleaned.get("tax_number_type", "").lower()
    cleaned["tax_number_type"] = tax_type
    tax_number = re.sub(r"[\s.]", "", cleaned.get("tax_number", "")).upper()
    cleaned["tax_number"] = tax_number
    if tax_type and tax_type not in TAX_TYPES:
        errors["tax_number_type"] = [f"One of: {', '.join(TAX_TYPES)}."]
    elif tax_number and not tax_type:
        errors["tax_number_type"] = ["Required with a tax number."]
    elif tax_type and not tax_number:
        errors["tax_number"] = ["Required with a tax number type."]
    elif tax_type and not _TAX_PATTERNS[tax_type].match(tax_number):
        errors["tax_number"] = [f"Not a valid {tax_type.upper()} number."]
    elif tax_type == "vat" and country and tax_number[:2].isalpha():
        expected = "EL" if country == "GR" else country
        if tax_number[:2] != expected:
            errors["tax_number"] = [f"A VAT number for {country} starts with {expected}."]
    if tax_type == "ein" and country and country != "US":
        errors["tax_number_type"] = ["An EIN is a US tax number."]

    if errors:
        raise ValidationError({"billing_account": errors})
    return cleaned

"""The fields of a lead as the API, the import mapping and templates name them, and how a value
given for each is cleaned: lengths, URLs, tags, country codes, the timezone inferred from
country or phone."""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

import phonenumbers
from phonenumbers import timezone as phone_timezones

from salescopilot.errors import ValidationFailed

#: Column name -> (API name, maximum length).
TEXT_FIELDS: dict[str, tuple[str, int]] = {
    "first_name": ("firstName", 100),
    "last_name": ("lastName", 100),
    "company": ("company", 200),
    "title": ("title", 200),
    "phone": ("phone", 50),
    "website": ("website", 500),
    "linkedin_url": ("linkedinUrl", 500),
    "timezone": ("timezone", 64),
    "country": ("country", 100),
}
#: What an import column can map to, besides "custom:<key>" and "ignore".
IMPORT_TARGETS = ("email", *TEXT_FIELDS, "tags", "status")
MAX_CUSTOM_FIELDS = 50
MAX_CUSTOM_VALUE = 2000
MAX_TAGS = 50
_CUSTOM_KEY = re.compile(r"[^a-z0-9_]+")

#: Header spellings recognised when an import's mapping is first suggested.
_HEADER_ALIASES = {
    "email": ("email", "e-mail", "emailaddress", "mail", "workemail", "businessemail"),
    "first_name": ("firstname", "first", "givenname", "forename", "vorname", "prenom"),
    "last_name": ("lastname", "last", "surname", "familyname", "nachname", "nom"),
    "company": ("company", "companyname", "organization", "organisation", "account", "firma"),
    "title": ("title", "jobtitle", "position", "role"),
    "phone": ("phone", "phonenumber", "telephone", "mobile", "tel"),
    "website": ("website", "url", "web", "companywebsite", "domain"),
    "linkedin_url": ("linkedin", "linkedinurl", "linkedinprofile"),
    "timezone": ("timezone", "tz", "timezoneiana"),
    "country": ("country", "countrycode", "land", "pays"),
    "tags": ("tags", "tag", "labels"),
    "status": ("status", "leadstatus"),
}


def custom_key(name: str) -> str:
    """A custom field's key from a column name: `Industry Segment` -> `industry_segment`."""
    key = _CUSTOM_KEY.sub("_", name.strip().lower()).strip("_")
    return key[:64] or "field"


def suggest_target(column: str) -> str:
    """The lead field a column name most likely means, else a custom field named after it."""
    squashed = re.sub(r"[^a-z]", "", column.lower())
    for target, aliases in _HEADER_ALIASES.items():
        if squashed in aliases:
            return target
    return "custom:" + custom_key(column)


_CONTROL = dict.fromkeys(c for c in range(32) if c != 9)


def clean_text(value: Any, limit: int) -> str:
    text = "" if value is None else str(value)
    if not text.isprintable():
        # Control characters have no place in a name or a title (and break CSV and headers).
        text = text.translate(_CONTROL)
    return text.strip()[:limit]


def clean_url(value: Any, limit: int = 500) -> str:
    text = clean_text(value, limit)
    if text and not re.match(r"^https?://", text, re.IGNORECASE):
        if re.match(r"^[a-z][a-z0-9+.-]*:", text, re.IGNORECASE) and not re.match(r"^[\w.-]+:\d", text):
            return ""  # javascript:, data:, ... are never stored as a link
        text = "https://" + text
    return text[:limit]


def clean_tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = re.split(r"[;,|]", value)
    tags = []
    for tag in value or []:
        tag = clean_text(tag, 50).lower()
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS]


def clean_custom(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValidationFailed("customFields must be an object.", details={"field": "customFields"})
    cleaned: dict[str, str] = {}
    for key, item in value.items():
        if len(cleaned) >= MAX_CUSTOM_FIELDS:
            break
        cleaned[custom_key(str(key))] = clean_text(item, MAX_CUSTOM_VALUE)
    return cleaned


#: English names of the countries leads most often come from (codes work for every country).
#: Not from phonenumbers' geocoder: its data costs seconds to load and over 100 MB of memory.
COUNTRY_NAMES = {
    "argentina": "AR", "australia": "AU", "austria": "AT", "belgium": "BE", "brazil": "BR",
    "bulgaria": "BG", "canada": "CA", "chile": "CL", "china": "CN", "colombia": "CO",
    "croatia": "HR", "czech republic": "CZ", "czechia": "CZ", "denmark": "DK", "egypt": "EG",
    "estonia": "EE", "finland": "FI", "france": "FR", "germany": "DE", "deutschland": "DE",
    "greece": "GR", "hong kong": "HK", "hungary": "HU", "iceland": "IS", "india": "IN",
    "indonesia": "ID", "ireland": "IE", "israel": "IL", "italy": "IT", "japan": "JP",
    "kenya": "KE", "latvia": "LV", "lithuania": "LT", "luxembourg": "LU", "malaysia": "MY",
    "mexico": "MX", "morocco": "MA", "netherlands": "NL", "the netherlands": "NL",
    "new zealand": "NZ", "nigeria": "NG", "norway": "NO", "pakistan": "PK", "peru": "PE",
    "philippines": "PH", "poland": "PL", "portugal": "PT", "romania": "RO", "saudi arabia": "SA",
    "serbia": "RS", "singapore": "SG", "slovakia": "SK", "slovenia": "SI", "south africa": "ZA",
    "south korea": "KR", "korea": "KR", "spain": "ES", "sweden": "SE", "switzerland": "CH",
    "taiwan": "TW", "thailand": "TH", "turkey": "TR", "türkiye": "TR", "ukraine": "UA",
    "united arab emirates": "AE", "uae": "AE", "united kingdom": "GB", "uk": "GB",
    "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "united states": "US", "united states of america": "US", "usa": "US", "us": "US",
    "vietnam": "VN",
}


@functools.lru_cache(maxsize=4096)
def country_code(value: str) -> str:
    """ISO alpha-2 for a code or an English country name; the text as given otherwise."""
    text = value.strip()
    if len(text) == 2 and text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    return COUNTRY_NAMES.get(text.lower(), text)


@functools.lru_cache(maxsize=512)
def zone_for_country(code: str) -> str:
    """The country's zone when it has exactly one (Germany, France, Japan); "" otherwise."""
    if len(code) != 2:
        return ""
    zones = set()
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
        example = phonenumbers.example_number_for_type(code, kind)
        if example is not None:
            zones.update(phone_timezones.time_zones_for_number(example))
    zones.discard("Etc/Unknown")
    return zones.pop() if len(zones) == 1 and valid_zone(next(iter(zones))) else ""


#: (international?, first 8 digits, country) -> zone: zones follow the leading digits (country
#: and area code), which the rows of an import repeat; parsing a number is the slow part.
_PHONE_ZONES: dict[tuple[bool, str, str], str] = {}


def zone_for_phone(phone: str, country: str = "") -> str:
    """The zone a phone number's prefix belongs to, when it names exactly one."""
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    key = (phone.lstrip().startswith("+"), digits[:8], country)
    zone = _PHONE_ZONES.get(key)
    if zone is None:
        zone = _parse_zone(phone, country)
        if len(_PHONE_ZONES) < 100_000:
            _PHONE_ZONES[key] = zone
    return zone


def _parse_zone(phone: str, country: str) -> str:
    try:
        number = phonenumbers.parse(phone, country if len(country) == 2 else None)
    except phonenumbers.NumberParseException:
        return ""
    zones = [z for z in phone_timezones.time_zones_for_number(number) if z != "Etc/Unknown"]
    return zones[0] if len(zones) == 1 and valid_zone(zones[0]) else ""


@functools.lru_cache(maxsize=1024)
def valid_zone(name: str) -> bool:
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def infer_timezone(country: str, phone: str) -> str:
    return zone_for_country(country) or zone_for_phone(phone, country)

"""The return date stated in an out-of-office text, in English, German, French, Spanish,
Portuguese, Dutch and Swedish (and Italian month names, which cost nothing).

Dates are written as ISO (2026-12-03), numerically (03.12.2026, 3/12/2026, "3.12."), or with a
month name ("3 December", "December 3rd, 2026", "3. Dezember", "3 de diciembre de 2026",
"le 3 décembre"). Numeric dates are day first except in English, where an ambiguous one is read
month first (US) unless only the other order lies ahead — "13/12" is unambiguous either way.

Which date is the return: a date right after a return cue ("until", "back on", "bis",
"jusqu'au", "hasta", "até", "tot en met", "till och med", ...) wins; otherwise the latest date that
is not before the message was sent ("from 20 to 30 December" gives the 30th). A weekday after a
return cue ("back on Monday", "bis Freitag") counts when no date does: the first such day after
the message. A date without a year takes the year that puts it nearest after the message date.
The result is the date as stated, not the day after: "out until 3 December" gives 3 December.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_MONTHS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "january jan januar janv janvier enero ene janeiro januari gennaio",
        "february feb februar fevr février fevrier febrero fevereiro fev februari febbraio",
        "march mar märz maerz marz mars marzo março marco maart mrt",
        "april apr avril avr abril abr aprile",
        "may mai mayo maio mei maj maggio",
        "june jun juni juin junio junho giugno",
        "july jul juli juillet juil julio julho luglio",
        "august aug août aout agosto ago augusti augustus",
        "september sep sept septembre septiembre setiembre setembro settembre",
        "october oct okt oktober octobre octubre outubro ottobre",
        "november nov novembre noviembre novembro",
        "december dec dez dezember décembre decembre déc diciembre dic dezembro desember dicembre",
    ),
    start=1,
):
    for _name in _names.split():
        _MONTHS[_name] = _number

_ENGLISH_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
_MONTH_NAMES = "|".join(sorted((re.escape(n) for n in _MONTHS), key=len, reverse=True))
_ENGLISH_MONTH_NAMES = "|".join(sorted(_ENGLISH_MONTHS, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th|er|ère|e|º|°|a|o)?"
_YEAR = r"(?:\s*,?\s*(?:de\s+|del\s+)?(\d{4}))?"

_ISO = re.compile(r"\b(20\d\d)-(\d{1,2})-(\d{1,2})\b")
_NUMERIC = re.compile(r"(?<![\d.:/-])(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?![\d.:/-]?\d)")
_NUMERIC_NO_YEAR = re.compile(r"(?<![\d.:/-])(\d{1,2})\.(\d{1,2})\.(?!\d)")
_DAY_MONTH = re.compile(
    rf"(?<![\w/])(\d{{1,2}}){_ORDINAL}\.?\s*(?:de\s+|of\s+|-)?({_MONTH_NAMES})\b\.?{_YEAR}",
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    rf"\b({_ENGLISH_MONTH_NAMES})\.?\s+(\d{{1,2}}){_ORDINAL}\b(?!\s*[:.]\d){_YEAR}", re.IGNORECASE
)

#: Words that put the return (or the last day away) right before a date.
_RETURN_CUE = re.compile(
    r"""(?ix)\b(?:
      until|till|through|thru|back\ (?:in\ the\ office\ )?on|back|return(?:ing)?(?:\ on)?
    | bis(?:\ zum|\ einschließlich|\ einschl\.)?|zurück(?:\ am)?|ab(?:\ dem)?
    | wieder(?:\ im\ büro)?(?:\ am|\ ab)?
    | jusqu'(?:au|à|a)|de\ retour(?:\ le)?|retour\ le|dès\ le|à\ partir\ du
    | hasta(?:\ el)?|regreso(?:\ el)?|volveré(?:\ el)?|de\ vuelta(?:\ el)?|a\ partir\ del
    | até(?:\ (?:o\ )?dia)?|retorno(?:\ em|\ no\ dia)?|regresso(?:\ em|\ a)?|voltarei(?:\ em|\ a)?
    | tot\ en\ met|t/m|tot|terug(?:\ op)?|weer\ aanwezig(?:\ op)?|vanaf
    | till\ och\ med|t\.o\.m\.?|tillbaka(?:\ den)?|åter(?:\ den)?|från\ och\ med
    | fino\ al|rientro(?:\ il)?|di\ ritorno(?:\ il)?
    )\W{0,3}(?:\w+\W{1,3}){0,3}$""",
)
#: Weekday names (Monday = 0), full forms only: abbreviations are ordinary words too ("sun").
_WEEKDAYS: dict[str, int] = {}
for _number, _names in enumerate(
    (
        "monday montag lundi lunes segunda segunda-feira maandag måndag",
        "tuesday dienstag mardi martes terça terça-feira terca terca-feira dinsdag tisdag",
        "wednesday mittwoch mercredi miércoles miercoles quarta quarta-feira woensdag onsdag",
        "thursday donnerstag jeudi jueves quinta quinta-feira donderdag torsdag",
        "friday freitag vendredi viernes sexta sexta-feira vrijdag fredag",
        "saturday samstag sonnabend samedi sábado sabado zaterdag lördag",
        "sunday sonntag dimanche domingo zondag söndag",
    )
):
    for _name in _names.split():
        _WEEKDAYS[_name] = _number
_WEEKDAY = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _WEEKDAYS), key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_CUE_WINDOW = 40
#: A yearless date more than this many days before the message means next year's.
_PAST_SLACK_DAYS = 14
_MAX_DATES = 24


def _ascii_fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _month(name: str) -> int | None:
    key = name.lower().rstrip(".")
    return _MONTHS.get(key) or _MONTHS.get(_ascii_fold(key))


def _year(text: str | None, day: int, month: int, reference: dt.date | None) -> int | None:
    if text:
        year = int(text)
        return year + 2000 if year < 100 else year
    if reference is None:
        return None
    candidate_year = reference.year
    try:
        candidate = dt.date(candidate_year, month, day)
    except ValueError:
        return None
    if candidate < reference - dt.timedelta(days=_PAST_SLACK_DAYS):
        candidate_year += 1
    return candidate_year


def _make(year: int | None, month: int | None, day: int) -> dt.date | None:
    if year is None or month is None:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _numeric(first: int, second: int, year: str | None, reference: dt.date | None,
             month_first: bool) -> dt.date | None:
    """A numeric date: unambiguous when one part is over 12; otherwise the preferred order,
    unless only the other order gives a date that is not in the past (a British "04/12/2026"
    in an English text written in November is 4 December)."""
    readings = [(second, first), (first, second)] if month_first else [(first, second),
                                                                      (second, first)]
    dates = [_make(_year(year, d, m, reference), m, d) for d, m in readings if m <= 12]
    dates = [d for d in dates if d is not None]
    if reference is not None:
        upcoming = [d for d in dates if d >= reference - dt.timedelta(days=_PAST_SLACK_DAYS)]
        dates = upcoming or dates
    return dates[0] if dates else None


def find_dates(text: str, reference: dt.date | None, *, month_first: bool = False):
    """(position, date) of each date written in `text`, in order of position."""
    found: dict[int, dt.date] = {}
    taken: list[tuple[int, int]] = []

    def add(match: re.Match, value: dt.date | None) -> None:
        span = match.span()
        if value is None or any(s < span[1] and span[0] < e for s, e in taken):
            return
        taken.append(span)
        found[span[0]] = value

    for m in _ISO.finditer(text):
        add(m, _make(int(m[1]), int(m[2]), int(m[3])))
    for m in _DAY_MONTH.finditer(text):
        day, month = int(m[1]), _month(m[2])
        if month is not None:
            add(m, _make(_year(m[3], day, month, reference), month, day))
    for m in _MONTH_DAY.finditer(text):
        day, month = int(m[2]), _month(m[1])
        if month is not None:
            add(m, _make(_year(m[3], day, month, reference), month, day))
    for m in _NUMERIC.finditer(text):
        add(m, _numeric(int(m[1]), int(m[3]), m[4], reference, month_first))
    for m in _NUMERIC_NO_YEAR.finditer(text):
        day, month = int(m[1]), int(m[2])
        add(m, _make(_year(None, day, month, reference), month, day))
        if len(found) >= _MAX_DATES:
            break
    return sorted(found.items())


def return_date(
    text: str, reference: dt.date | None, *, month_first: bool = False
) -> dt.date | None:
    """The return date an out-of-office `text` states (see the module docstring), or None.

    Precedence: a date right after a return cue; else a weekday right after one ("back on
    Monday": the first such day after the message); else the latest date not in the past."""
    dates = find_dates(text, reference, month_first=month_first)
    cued = [value for position, value in dates if _cued(text, position)]
    if reference is not None:
        horizon = reference - dt.timedelta(days=_PAST_SLACK_DAYS)
        cued = [d for d in cued if d >= horizon]
        dates = [(p, d) for p, d in dates if d >= horizon]
    if cued:
        return max(cued)
    weekday = _cued_weekday(text, reference)
    if weekday is not None:
        return weekday
    if dates:
        return max(d for _, d in dates)
    return None


def _cued(text: str, position: int) -> bool:
    return bool(_RETURN_CUE.search(text[max(0, position - _CUE_WINDOW):position]))


def _cued_weekday(text: str, reference: dt.date | None) -> dt.date | None:
    """The first day after `reference` named by a weekday that follows a return cue."""
    if reference is None:
        return None
    for match in _WEEKDAY.finditer(text):
        if _cued(text, match.start()):
            weekday = _WEEKDAYS[match[1].lower()]
            return reference + dt.timedelta(days=(weekday - reference.weekday()) % 7 or 7)
    return None

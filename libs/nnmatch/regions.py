"""Every country's UN M49 region (Africa, Americas, Asia, Europe, Oceania), for region filters.

Covers every ISO 3166-1 alpha-2 code that profiles accept except Antarctica (AQ), which M49
puts in no region; Taiwan (TW), absent from M49's list, is placed in Asia.
"""

from __future__ import annotations

from collections.abc import Mapping

_MEMBERS: Mapping[str, str] = {
    "Africa": (
        "DZ EG LY MA SD TN EH "  # Northern Africa
        "IO BI KM DJ ER ET TF KE MG MW MU YT MZ RE RW SC SO SS UG TZ ZM ZW "  # Eastern
        "AO CM CF TD CG CD GQ GA ST "  # Middle
        "BW SZ LS NA ZA "  # Southern
        "BJ BF CV CI GM GH GN GW LR ML MR NE NG SH SN SL TG"  # Western
    ),
    "Americas": (
        "AI AG AW BS BB BQ VG KY CU CW DM DO GD GP HT JM MQ MS PR BL KN LC MF VC SX TT TC VI "
        "BZ CR SV GT HN MX NI PA "  # Central America
        "AR BO BV BR CL CO EC FK GF GY PY PE GS SR UY VE "  # South America
        "BM CA GL PM US"  # Northern America
    ),
    "Asia": (
        "KZ KG TJ TM UZ "  # Central
        "CN HK MO KP JP MN KR TW "  # Eastern
        "BN KH ID LA MY MM PH SG TH TL VN "  # South-eastern
        "AF BD BT IN IR MV NP PK LK "  # Southern
        "AM AZ BH CY GE IQ IL JO KW LB OM QA SA PS SY TR AE YE"  # Western
    ),
    "Europe": (
        "BY BG CZ HU PL MD RO RU SK UA "  # Eastern
        "AX DK EE FO FI GG IS IE IM JE LV LT NO SJ SE GB "  # Northern
        "AL AD BA HR GI GR VA IT MT ME MK PT SM RS SI ES "  # Southern
        "AT BE FR DE LI LU MC NL CH"  # Western
    ),
    "Oceania": (
        "AU CX CC HM NZ NF "  # Australia and New Zealand
        "FJ NC PG SB VU "  # Melanesia
        "GU KI MH FM NR MP PW UM "  # Micronesia
        "AS CK PF NU PN WS TK TO TV WF"  # Polynesia
    ),
}

REGION_OF_COUNTRY: Mapping[str, str] = {
    code: region for region, codes in _MEMBERS.items() for code in codes.split()
}
REGIONS: tuple[str, ...] = tuple(_MEMBERS)


def region_of(country: str | None) -> str | None:
    """The M49 region of an ISO 3166-1 alpha-2 code, or None (unknown, Antarctica, unset)."""
    return REGION_OF_COUNTRY.get(country.upper()) if country else None

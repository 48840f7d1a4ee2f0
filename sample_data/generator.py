"""Deterministic, realistic and messy sample data for the two source tables.

`generate()` fills `customer_360` (one row per customer) and
`unified_itemized_transactions` (one row per order line) in a DuckDB file.
Everything random comes from numpy generators seeded by (seed, table, start, chunk),
so the same arguments (including `as_of`) always write the same rows in the same order.
Columns are built as whole numpy/Arrow arrays and bulk-inserted through Arrow, chunk by chunk.

The data looks like a real CDP export: customers mostly in the US, the rest in CA, GB,
DE, FR, CH, JP and a few others; names in several scripts; emails, phones, states,
postal codes and countries written every way people and systems write them, some
invalid or NULL. Orders carry returns, cancellations, mixed NULL/false flags, zero-priced
lines, repeated products and customers missing from Customer 360.
"""
from __future__ import annotations

import numbers
import re
import string
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Sequence

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sample_data.schema import DEFAULT_SOURCE_SCHEMA, create_source_tables, quote_identifier

# Chunk sizes are part of the output: each chunk has its own random stream.
CUSTOMER_CHUNK = 100_000
ORDER_CHUNK = 100_000
ORDER_PREFIX = "ORD-"
ORDER_NUMBER_WIDTH = 8
MAX_ROWS = 100_000_000

# Seed-sequence tags, one per random stream.
_CUSTOMERS, _ORDER_TIMES, _ORDERS, _CATALOG = 1, 2, 3, 4

NULL = None

# --------------------------------------------------------------------------------------
# Reference vocabulary
# --------------------------------------------------------------------------------------

# Names per culture: "Display=slug:g" (slug = ASCII form used in emails, default the
# lowercased display; g = f/m for given names).
_CULTURES: dict[str, tuple[str, str]] = {
    "anglo": (
        "Mary:f James:m Jennifer:f John:m Linda:f Robert:m Elizabeth:f Michael:m Sarah:f William:m "
        "Jessica:f David:m Emily:f Richard:m Zoë=zoe:f Joseph:m Olivia:f Thomas:m Emma:f Christopher:m "
        "Madison:f Daniel:m Kayleigh:f Matthew:m Siobhan:f Liam:m Niamh:f Noah:m Renée=renee:f Seán=sean:m "
        "Mary-Kate=marykate:f Billy_Bob=billybob:m Anne_Marie=annemarie:f D'Andre=dandre:m Grace:f Oliver:m",
        "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore Jackson "
        "Martin Lee Thompson White Harris Clark Lewis Walker Hall Young O'Connor=oconnor O'Brien=obrien "
        "McDonald=mcdonald MacLeod=macleod Smith-Jones=smithjones Fitzgerald St._John=stjohn "
        "Van_Buren=vanburen Ó_Briain=obriain",
    ),
    "hispanic": (
        "María=maria:f José=jose:m Lucía=lucia:f Juan:m Sofía=sofia:f Luis:m Ana:f Carlos:m "
        "Guadalupe:f Jesús=jesus:m Ximena:f Alejandro:m Camila:f Ángel=angel:m María_José=mariajose:f",
        "García=garcia Rodríguez=rodriguez Martínez=martinez Hernández=hernandez López=lopez "
        "González=gonzalez Pérez=perez Sánchez=sanchez Ramírez=ramirez Núñez=nunez Peña=pena "
        "de_la_Cruz=delacruz García-Márquez=garciamarquez",
    ),
    "french": (
        "Zoë=zoe:f Valéry=valery:m Amélie=amelie:f François=francois:m Hélène=helene:f Benoît=benoit:m "
        "Chloé=chloe:f Jérôme=jerome:m Camille:f Loïc=loic:m Léa=lea:f Théo=theo:m Élodie=elodie:f "
        "Jean-Luc=jeanluc:m Anaïs=anais:f Gaël=gael:m Marie-Claire=marieclaire:f Étienne=etienne:m",
        "Martin Bernard Dubois Durand Lefèvre=lefevre Moreau Laurent Girard Bonnet Dupont Fontaine "
        "Lemaître=lemaitre de_Villepin=devillepin L'Écuyer=lecuyer",
    ),
    "german": (
        "Jürgen=juergen:m Anna:f Günther=guenther:m Lena:f Jörg=joerg:m Käthe=kaethe:f Uwe:m Leonie:f "
        "Lukas:m Sophie:f Björn=bjoern:m Marie:f Hans-Peter=hanspeter:m Jana:f Maximilian:m",
        "Müller=mueller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schröder=schroeder "
        "Schäfer=schaefer Köhler=koehler Groß=gross von_Bülow=vonbuelow Zimmermann Weiß=weiss",
    ),
    "italian": (
        "Giulia:f Alessandro:m Francesca:f Matteo:m Chiara:f Lorenzo:m Niccolò=niccolo:m Sofia:f",
        "Rossi Russo Ferrari Esposito Bianchi Romano Colombo D'Angelo=dangelo Di_Stefano=distefano "
        "Dell'Acqua=dellacqua",
    ),
    "japanese": (
        "太郎=taro:m 花子=hanako:f 翔太=shota:m 陽菜=hina:f 健=ken:m 美咲=misaki:f 大輔=daisuke:m 由美=yumi:f "
        "Taro:m Hanako:f Shota:m Yūki=yuki:m Misaki:f Daisuke:m",
        "山田=yamada 佐藤=sato 鈴木=suzuki 高橋=takahashi 田中=tanaka 伊藤=ito 渡辺=watanabe 中村=nakamura "
        "Yamada Satō=sato Suzuki Takahashi Tanaka Itō=ito",
    ),
    "korean": (
        "민준=minjun:m 서연=seoyeon:f 지훈=jihun:m 하은=haeun:f Min-jun=minjun:m Seo-yeon=seoyeon:f Ji-hoon=jihoon:m",
        "김=kim 이=lee 박=park 정=jung 최=choi Kim Lee Park Jung",
    ),
    "chinese": (
        "伟=wei:m 芳=fang:f 娜=na:f 磊=lei:m Wei:m Xiaoming:m Mei:f Jing:f",
        "王=wang 李=li 张=zhang 刘=liu Wang Li Zhang Chen Nguyễn=nguyen Trần=tran",
    ),
    "russian": (
        "Дмитрий=dmitry:m Анна=anna:f Сергей=sergey:m Наталья=natalya:f Алексей=aleksey:m Ольга=olga:f Dmitri:m",
        "Иванов=ivanov Смирнов=smirnov Кузнецов=kuznetsov Попов=popov Соколова=sokolova Петрова=petrova Ivanova",
    ),
    "indian": (
        "Aarav:m Priya:f Rohan:m Ananya:f Vikram:m Deepika:f",
        "Sharma Patel Singh Iyer Reddy Gupta",
    ),
}


@dataclass(frozen=True)
class _City:
    names: tuple[str, ...]          # spellings of the city
    states: tuple[str | None, ...]  # spellings of its state / province / region (None = NULL)
    postal_keys: tuple[str, ...]    # leading part of its postal codes
    areas: tuple[str, ...]          # North American area codes (US/CA only)


@dataclass(frozen=True)
class _Country:
    code: str
    weight: float
    currency: str
    spellings: tuple[tuple[str, float], ...]
    cultures: tuple[tuple[str, float], ...]
    cities: tuple[_City, ...]
    postal: tuple[tuple[str | None, float], ...]
    # (area codes, weight, templates); areas "city" = the city's area codes
    phones: tuple[tuple[str, float, tuple[tuple[str, float], ...]], ...]
    domains: tuple[str, ...]


def _nanp_states(spec: str) -> tuple[str | None, ...]:
    """'California/CA' -> spellings seen in CDP data (full name, code, lowercase code, ...)."""
    full, code, *aliases = spec.split("/")
    return (full, full, code, code, code, code.lower(), full.upper(), f" {code}", None, *aliases)


def _cities(spec: str, nanp: bool = False) -> tuple[_City, ...]:
    """One city per line: 'names|... ; states|... ; postal keys ; area codes' ('~' = NULL)."""
    out = []
    for line in spec.strip().splitlines():
        names, states, keys, areas = (part.strip() for part in line.split(";"))
        state_spellings = (_nanp_states(states) if nanp else
                           tuple(None if s == "~" else s for s in states.split("|")))
        out.append(_City(tuple(names.split("|")), state_spellings, tuple(keys.split()), tuple(areas.split())))
    return tuple(out)


_NANP_PHONES = ("city", 1.0, (
    ("+1 ({a}) {x3}-{d4}", 10), ("({a}) {x3}-{d4}", 18), ("({a}){x3}-{d4}", 3), ("{a}.{x3}.{d4}", 8),
    ("{a}-{x3}-{d4}", 18), ("1-{a}-{x3}-{d4}", 6), ("1 ({a}) {x3}-{d4}", 2), ("{a}{x3}{d4}", 12),
    ("+1{a}{x3}{d4}", 8), ("+1 {a} {x3} {d4}", 4), ("{a} {x3} {d4}", 3), ("001 {a} {x3} {d4}", 1),
    ("{a}-{x3}-{d4} x{d3}", 2), ("+1 ({a}) {x3}-{d4} ext. {d2}", 1),
))

_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "US", 0.56, "USD",
        (("US", 30), ("USA", 14), ("United States", 14), ("U.S.", 4), ("us", 5), ("United States of America", 5),
         ("usa", 3), ("U.S.A.", 2), ("UNITED STATES", 2), ("united states", 1)),
        (("anglo", 75), ("hispanic", 13), ("chinese", 4), ("korean", 2), ("indian", 3), ("russian", 1), ("japanese", 2)),
        _cities("""
            San Francisco|San Francisco|SF|san francisco ; California/CA ; 941 ; 415 628
            Los Angeles|Los Angeles|L.A. ; California/CA/Calif. ; 900 ; 213 310 323
            Palo Alto ; California/CA ; 943 ; 650
            San José|San Jose|San José ; California/CA ; 951 ; 408
            New York|New York|New York City|NYC|new york ; New York/NY ; 100 ; 212 646 917
            Brooklyn ; New York/NY ; 112 ; 718 347
            Chicago ; Illinois/IL ; 606 ; 312 773
            Austin ; Texas/TX ; 787 ; 512
            Houston ; Texas/TX ; 770 ; 713 832
            Seattle ; Washington/WA ; 981 ; 206
            Boston ; Massachusetts/MA/Mass. ; 021 ; 617
            Miami ; Florida/FL/Fla. ; 331 ; 305 786
            St. Louis|St. Louis|Saint Louis|St Louis ; Missouri/MO ; 631 ; 314
            Winston-Salem ; North Carolina/NC ; 271 ; 336
            Coeur d'Alene ; Idaho/ID ; 838 ; 208
            Washington|Washington|Washington, D.C. ; District of Columbia/DC/D.C. ; 200 ; 202
            Salt Lake City ; Utah/UT ; 841 ; 801
            Denver ; Colorado/CO ; 802 ; 303 720
            Portland ; Oregon/OR ; 972 ; 503
            Atlanta ; Georgia/GA ; 303 ; 404
            Honolulu ; Hawaii/HI ; 968 ; 808
            Anchorage ; Alaska/AK ; 995 ; 907
            Phoenix ; Arizona/AZ ; 850 ; 602
            Minneapolis ; Minnesota/MN ; 554 ; 612
            Philadelphia ; Pennsylvania/PA ; 191 ; 215
            Las Vegas ; Nevada/NV ; 891 ; 702
        """, nanp=True),
        (("{pk}{d2}", 72), ("{pk}{d2}-{d4}", 15), ("{pk}{d2}{d4}", 2), (NULL, 8), ("{d4}", 1), ("00000", 0.5)),
        (_NANP_PHONES,),
        ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net"),
    ),
    _Country(
        "CA", 0.08, "CAD",
        (("CA", 40), ("CAN", 10), ("Canada", 35), ("canada", 5), ("CANADA", 3)),
        (("anglo", 60), ("french", 25), ("chinese", 8), ("indian", 5), ("korean", 2)),
        _cities("""
            Toronto ; Ontario/ON/Ont. ; M5V M4C M6K ; 416 647
            Vancouver ; British Columbia/BC/B.C. ; V6B V5K ; 604 778
            Montréal|Montréal|Montreal|MONTREAL ; Québec/QC/Quebec/PQ ; H2X H3B ; 514 438
            Québec|Québec|Quebec City|Ville de Québec ; Québec/QC/Quebec ; G1R ; 418
            Calgary ; Alberta/AB/Alta. ; T2P ; 403 587
            Ottawa ; Ontario/ON ; K1P ; 613
            Halifax ; Nova Scotia/NS ; B3H ; 902
            Winnipeg ; Manitoba/MB ; R3C ; 204
            St. John's ; Newfoundland and Labrador/NL ; A1C ; 709
        """, nanp=True),
        (("{pk} {d1}{L1}{d1}", 65), ("{pk}{d1}{L1}{d1}", 20), (NULL, 12), ("{pk}", 3)),
        (_NANP_PHONES,),
        ("gmail.com", "yahoo.ca", "hotmail.com", "outlook.com", "shaw.ca", "videotron.ca"),
    ),
    _Country(
        "GB", 0.10, "GBP",
        (("GB", 25), ("UK", 20), ("United Kingdom", 25), ("Great Britain", 8), ("GBR", 5), ("gb", 3),
         ("England", 5), ("U.K.", 2)),
        (("anglo", 85), ("indian", 8), ("french", 2), ("german", 2), ("chinese", 3)),
        _cities("""
            London|London|LONDON|london ; England|Greater London|London|~|~ ; SW1A EC1A W1D N1 SE1 E14 ; -
            Manchester ; England|Greater Manchester|~ ; M1 M4 ; -
            Edinburgh ; Scotland|City of Edinburgh|~ ; EH1 EH3 ; -
            Cardiff|Cardiff|Caerdydd ; Wales|~ ; CF10 ; -
            Birmingham ; England|West Midlands|~ ; B1 B2 ; -
            Belfast ; Northern Ireland|Co. Antrim|~ ; BT1 ; -
            Newcastle upon Tyne|Newcastle upon Tyne|Newcastle ; England|Tyne and Wear|~ ; NE1 ; -
            Stratford-upon-Avon ; Warwickshire|England|~ ; CV37 ; -
            King's Lynn ; Norfolk|~ ; PE30 ; -
        """),
        (("{pk} {d1}{L2}", 78), ("{pk}{d1}{L2}", 10), (NULL, 12)),
        (("20", 4, (("020 {x4} {d4}", 30), ("+44 (0)20 {x4} {d4}", 15), ("+44 20 {x4} {d4}", 15),
                    ("0044 20 {x4} {d4}", 5), ("(020) {x4} {d4}", 8), ("020{x4}{d4}", 10), ("+4420{x4}{d4}", 8))),
         ("161 131 121 117 191", 3, (("0{a} {x3} {d4}", 40), ("+44 {a} {x3} {d4}", 25), ("+44 (0){a} {x3}{d4}", 15),
                                     ("0{a}{x3}{d4}", 20))),
         ("7700 7911 7801 7400 7557", 5, (("0{a} {d6}", 40), ("+44 {a} {d6}", 20), ("+44 (0){a} {d3} {d3}", 10),
                                          ("44{a}{d6}", 5), ("0{a}{d6}", 25)))),
        ("gmail.com", "hotmail.co.uk", "yahoo.co.uk", "btinternet.com", "outlook.com"),
    ),
    _Country(
        "DE", 0.07, "EUR",
        (("DE", 40), ("DEU", 10), ("Germany", 30), ("Deutschland", 10), ("germany", 3)),
        (("german", 85), ("russian", 5), ("anglo", 3), ("italian", 4), ("french", 3)),
        _cities("""
            Berlin ; Berlin|BE|~ ; 10 12 13 ; -
            München|München|Munchen|Muenchen|Munich ; Bayern|Bavaria|BY|~ ; 80 81 ; -
            Hamburg ; Hamburg|HH|~ ; 20 22 ; -
            Köln|Köln|Koeln|Cologne ; Nordrhein-Westfalen|NRW|~ ; 50 51 ; -
            Frankfurt am Main|Frankfurt am Main|Frankfurt a. M.|Frankfurt ; Hessen|Hesse|HE|~ ; 60 ; -
            Düsseldorf|Düsseldorf|Dusseldorf ; Nordrhein-Westfalen|NRW|~ ; 40 ; -
            Stuttgart ; Baden-Württemberg|BW|~ ; 70 ; -
        """),
        (("{pk}{d3}", 85), ("D-{pk}{d3}", 3), (NULL, 12)),
        (("30 89 40 69 221 711", 6, (("0{a} {x3}{d4}", 30), ("+49 {a} {x3}{d4}", 20), ("0049 {a} {x3}{d4}", 8),
                                     ("+49 (0){a} {x3} {d4}", 10), ("0{a}/{x3}{d4}", 12), ("0{a}-{x3}{d2}-{d2}", 5),
                                     ("+49{a}{x3}{d4}", 10))),
         ("151 160 170 176", 4, (("0{a} {x4}{d4}", 45), ("+49 {a} {x4}{d4}", 30), ("0{a}/{x4}{d4}", 10),
                                 ("0049{a}{x4}{d4}", 5), ("+49 ({a}) {x4} {d4}", 10)))),
        ("gmail.com", "web.de", "gmx.de", "t-online.de", "gmx.net"),
    ),
    _Country(
        "FR", 0.06, "EUR",
        (("FR", 45), ("FRA", 10), ("France", 40), ("france", 3)),
        (("french", 90), ("anglo", 3), ("hispanic", 3), ("italian", 4)),
        _cities("""
            Paris|Paris|PARIS|Paris 8e ; Île-de-France|Ile-de-France|IDF|~ ; 750 ; -
            Lyon ; Auvergne-Rhône-Alpes|Rhône|~ ; 690 ; -
            Marseille ; Provence-Alpes-Côte d'Azur|PACA|~ ; 130 ; -
            Aix-en-Provence ; Provence-Alpes-Côte d'Azur|Bouches-du-Rhône|~ ; 131 ; -
            Saint-Étienne|Saint-Étienne|St-Etienne|Saint Etienne ; Loire|~ ; 420 ; -
            Bordeaux ; Nouvelle-Aquitaine|Gironde|~ ; 330 ; -
            Lille ; Hauts-de-France|Nord|~ ; 590 ; -
        """),
        (("{pk}{d2}", 85), ("F-{pk}{d2}", 3), (NULL, 12)),
        (("1 2 3 4 5 6 7 9", 1, (("0{a} {d2} {d2} {d2} {d2}", 35), ("+33 {a} {d2} {d2} {d2} {d2}", 20),
                                 ("+33 (0){a} {d2} {d2} {d2} {d2}", 10), ("0033 {a} {d2} {d2} {d2} {d2}", 5),
                                 ("0{a}{d2}{d2}{d2}{d2}", 15), ("0{a}.{d2}.{d2}.{d2}.{d2}", 10),
                                 ("+33{a}{d2}{d2}{d2}{d2}", 5))),),
        ("gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr"),
    ),
    _Country(
        "CH", 0.03, "CHF",
        (("CH", 40), ("CHE", 10), ("Switzerland", 35), ("Schweiz", 5), ("Suisse", 5)),
        (("german", 55), ("french", 25), ("italian", 15), ("anglo", 5)),
        _cities("""
            Zürich|Zürich|Zurich|Zuerich ; Zürich|ZH|Zurich|~ ; 80 ; -
            Genève|Genève|Geneva|Geneve ; Genève|GE|Geneva|~ ; 12 ; -
            Bern|Bern|Berne ; Bern|BE|~ ; 30 ; -
            Basel ; Basel-Stadt|BS|~ ; 40 ; -
            Lausanne ; Vaud|VD|~ ; 10 ; -
            Biel/Bienne ; Bern|BE|~ ; 25 ; -
        """),
        (("{pk}{d2}", 80), ("CH-{pk}{d2}", 8), (NULL, 12)),
        (("44 43 31 22 61 21 79 78 76 77", 1, (("0{a} {x3} {d2} {d2}", 40), ("+41 {a} {x3} {d2} {d2}", 25),
                                               ("0041 {a} {x3} {d2} {d2}", 8), ("+41 (0){a} {x3} {d2} {d2}", 8),
                                               ("0{a}{x3}{d2}{d2}", 12), ("+41{a}{x3}{d2}{d2}", 7))),),
        ("gmail.com", "bluewin.ch", "gmx.ch", "sunrise.ch"),
    ),
    _Country(
        "JP", 0.05, "JPY",
        (("JP", 40), ("JPN", 10), ("Japan", 40), ("日本", 3), ("japan", 3)),
        (("japanese", 95), ("anglo", 5)),
        _cities("""
            Tokyo|Tokyo|東京|東京都|Tokyo-to|Shibuya-ku ; Tokyo|東京都|Tokyo-to|~ ; 100 150 160 ; -
            Osaka|Osaka|Ōsaka|大阪市 ; Osaka|大阪府|~ ; 530 540 ; -
            Kyoto|Kyoto|京都市 ; Kyoto|京都府|~ ; 600 604 ; -
            Yokohama|Yokohama|横浜市 ; Kanagawa|神奈川県|~ ; 220 231 ; -
            Sapporo|Sapporo|札幌市 ; Hokkaido|北海道|~ ; 060 ; -
        """),
        (("{pk}-{d4}", 70), ("〒{pk}-{d4}", 8), ("{pk}{d4}", 10), (NULL, 12)),
        (("3 6", 4, (("0{a}-{x4}-{d4}", 45), ("+81 {a}-{x4}-{d4}", 15), ("+81 (0){a} {x4} {d4}", 8),
                     ("0081 {a} {x4} {d4}", 4), ("0{a}{x4}{d4}", 18), ("(0{a}) {x4}-{d4}", 10))),
         ("45 52 75 92", 2, (("0{a}-{x3}-{d4}", 60), ("+81 {a}-{x3}-{d4}", 25), ("0{a}{x3}{d4}", 15))),
         ("90 80 70", 5, (("0{a}-{x4}-{d4}", 50), ("+81 {a}-{x4}-{d4}", 20), ("+81{a}{x4}{d4}", 10),
                          ("0{a} {x4} {d4}", 10), ("0{a}{x4}{d4}", 10)))),
        ("gmail.com", "yahoo.co.jp", "docomo.ne.jp", "ezweb.ne.jp", "icloud.com"),
    ),
    _Country(
        "AU", 0.015, "AUD",
        (("AU", 40), ("AUS", 15), ("Australia", 45)),
        (("anglo", 85), ("chinese", 10), ("indian", 5)),
        _cities("""
            Sydney ; New South Wales|NSW|~ ; 20 ; -
            Melbourne ; Victoria|VIC|~ ; 30 ; -
            Brisbane ; Queensland|QLD|~ ; 40 ; -
        """),
        (("{pk}{d2}", 88), (NULL, 12)),
        (("2 3 7 8", 1, (("(0{a}) {x4} {d4}", 40), ("+61 {a} {x4} {d4}", 30), ("0{a} {x4} {d4}", 30))),
         ("4", 1, (("0{a}{d2} {d3} {d3}", 60), ("+61 {a}{d2} {d3} {d3}", 40)))),
        ("gmail.com", "bigpond.com", "outlook.com"),
    ),
    _Country(
        "MX", 0.01, "MXN",
        (("MX", 40), ("MEX", 10), ("Mexico", 35), ("México", 15)),
        (("hispanic", 100),),
        _cities("""
            Ciudad de México|Ciudad de México|CDMX|Mexico City ; CDMX|Ciudad de México|~ ; 06 11 ; -
            Guadalajara ; Jalisco|Jal.|~ ; 44 ; -
            Monterrey ; Nuevo León|NL|~ ; 64 ; -
        """),
        (("{pk}{d3}", 88), (NULL, 12)),
        (("55 33 81", 1, (("+52 {a} {x4} {d4}", 40), ("{a} {x4} {d4}", 40), ("01 {a} {x4} {d4}", 20))),),
        ("gmail.com", "hotmail.com", "prodigy.net.mx"),
    ),
    _Country(
        "IT", 0.01, "EUR",
        (("IT", 40), ("ITA", 10), ("Italy", 35), ("Italia", 15)),
        (("italian", 100),),
        _cities("""
            Roma|Roma|Rome ; Lazio|RM|~ ; 001 ; -
            Milano|Milano|Milan ; Lombardia|MI|~ ; 201 ; -
            Firenze|Firenze|Florence ; Toscana|FI|~ ; 501 ; -
        """),
        (("{pk}{d2}", 88), (NULL, 12)),
        (("2 6 55", 1, (("+39 0{a} {x3} {d4}", 50), ("0{a} {x3}{d4}", 50))),
         ("3", 1, (("{a}{d2} {x3} {d4}", 50), ("+39 {a}{d2} {x3}{d4}", 50)))),
        ("gmail.com", "libero.it", "virgilio.it"),
    ),
    _Country(
        "ES", 0.01, "EUR",
        (("ES", 40), ("ESP", 10), ("Spain", 35), ("España", 15)),
        (("hispanic", 100),),
        _cities("""
            Madrid ; Madrid|Comunidad de Madrid|~ ; 280 ; -
            Barcelona ; Cataluña|Catalunya|~ ; 080 ; -
            A Coruña|A Coruña|La Coruña ; Galicia|~ ; 150 ; -
        """),
        (("{pk}{d2}", 88), (NULL, 12)),
        (("9 6", 1, (("+34 {a}{d2} {d3} {d3}", 50), ("{a}{d2} {d2} {d2} {d2}", 50))),),
        ("gmail.com", "hotmail.es", "telefonica.es"),
    ),
    _Country(
        "KR", 0.01, "KRW",
        (("KR", 40), ("KOR", 10), ("South Korea", 30), ("Korea, Republic of", 10), ("Korea", 10)),
        (("korean", 100),),
        _cities("""
            Seoul|Seoul|서울|서울특별시 ; Seoul|서울특별시|~ ; 03 04 ; -
            Busan|Busan|부산 ; Busan|부산광역시|~ ; 48 ; -
        """),
        (("{pk}{d3}", 88), (NULL, 12)),
        (("10", 2, (("0{a}-{x4}-{d4}", 60), ("+82 {a}-{x4}-{d4}", 40))),
         ("2", 1, (("0{a}-{x3}-{d4}", 60), ("+82 {a} {x4} {d4}", 40)))),
        ("gmail.com", "naver.com", "daum.net"),
    ),
    _Country(
        "IN", 0.01, "INR",
        (("IN", 40), ("IND", 10), ("India", 50)),
        (("indian", 100),),
        _cities("""
            Mumbai|Mumbai|Bombay ; Maharashtra|MH|~ ; 400 ; -
            Bengaluru|Bengaluru|Bangalore ; Karnataka|KA|~ ; 560 ; -
        """),
        (("{pk}{d3}", 70), ("{pk} {d3}", 18), (NULL, 12)),
        (("9 8 7", 1, (("+91 {a}{d4} {d5}", 40), ("0{a}{d4}{d5}", 30), ("{a}{d4} {d5}", 30))),),
        ("gmail.com", "rediffmail.com", "yahoo.co.in"),
    ),
    _Country(
        "BR", 0.01, "BRL",
        (("BR", 40), ("BRA", 10), ("Brazil", 35), ("Brasil", 15)),
        (("hispanic", 100),),
        _cities("""
            São Paulo|São Paulo|Sao Paulo ; SP|São Paulo|~ ; 01 04 ; -
            Rio de Janeiro ; RJ|Rio de Janeiro|~ ; 20 22 ; -
        """),
        (("{pk}{d3}-{d3}", 88), (NULL, 12)),
        (("11 21", 1, (("+55 {a} 9{d4}-{d4}", 40), ("({a}) 9{d4}-{d4}", 40), ("+55 ({a}) 9{d4}-{d4}", 20))),),
        ("gmail.com", "uol.com.br", "bol.com.br"),
    ),
)

# Country values that are neither a code nor a name, and phone values that are not a number.
_COUNTRY_GARBAGE = ("XX", "N/A", "--", "Unknown", "123", "Earth", "")
_PHONE_GARBAGE = (("n/a", 2), ("N/A", 1), ("0000000000", 2), ("555-1212", 2), ("123", 1),
                  ("1234567890123456789", 1), ("none", 1), ("+", 0.5), ("(000) 000-0000", 1), ("call store", 0.5),
                  ("{d5}", 1), ("+1 (650) 555-12", 1), ("{x3}-{d4}", 2))

_EMAIL_TEMPLATES: tuple[tuple[str | None, float], ...] = (
    ("{g}.{s}@{dom}", 30), ("{g}{s}@{dom}", 12), ("{gi}{s}@{dom}", 12), ("{g}_{s}{d2}@{dom}", 6),
    ("{s}.{g}@{dom}", 5), ("{g}{d4}@{dom}", 8), ("{g}.{s}{d2}@{dom}", 10), ("{gi}.{s}{d3}@{dom}", 4),
    (NULL, 7),
    ("{g}.{s}.{dom}", 1.0),      # no @
    ("{g} {s}@{dom}", 0.8),      # space inside
    ("{g}.{s}@{root}", 0.8),     # no top-level domain
    ("{g}@@{dom}", 0.3),
    ("", 0.3),
)

_GENDERS = {
    "f": (("F", 30), ("f", 10), ("Female", 20), ("female", 8), ("FEMALE", 2), (" F ", 1), ("Woman", 1)),
    "m": (("M", 30), ("m", 10), ("Male", 20), ("male", 8), ("MALE", 2), (" m", 1), ("Man", 1)),
    "other": (("other", 3), ("U", 3), ("unknown", 2), ("X", 2), ("Non-binary", 1), ("N/A", 1), ("?", 1)),
}

_CHANNELS = (("store", 64), ("online", 22), ("mobile_app", 6), ("call_center", 5), ("marketplace", 3))
_BRANDS = (("Northwind", 50), ("Contoso Outdoor", 30), ("Fabrikam Kids", 20))
_LINES_PER_ORDER = (20, 22, 20, 16, 12, 10)                       # 1..6 lines, mean ~3.08
_QUANTITIES = ((1, 74), (2, 14), (3, 5), (4, 2.5), (5, 1.5), (6, 1), (8, 1), (10, 0.5), (12, 0.5))
_CURRENCY_UNITS = {"USD": 1.0, "CAD": 1.35, "GBP": 0.79, "EUR": 0.92, "CHF": 0.88, "JPY": 150.0, "AUD": 1.5,
                   "MXN": 17.0, "KRW": 1300.0, "INR": 83.0, "BRL": 5.0}
_WHOLE_UNIT_CURRENCIES = {"JPY", "KRW"}
_CURRENCY_GARBAGE = ("$", "US$", "EURO", "usd ", "€")
_PRODUCTS = 4_000
_STORES = 600
# Relative order volume per local hour of day (stores open 9-21).
_HOUR_WEIGHTS = np.array([2, 1, 1, 1, 1, 2, 4, 8, 15, 40, 70, 85, 100, 95, 85, 80, 85, 95, 100, 90, 60, 30, 10, 4],
                         dtype=float) / 100
_LOCAL_UTC_OFFSET_HOURS = -6


# --------------------------------------------------------------------------------------
# Vectorized building blocks
# --------------------------------------------------------------------------------------

def _rng(seed: int, *tags: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *tags])))


def _choose(rng: np.random.Generator, weights: Sequence[float], n: int) -> np.ndarray:
    """n indices drawn with the given relative weights."""
    cdf = np.cumsum(np.asarray(weights, dtype=float))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _choose_per_group(rng: np.random.Generator, group: np.ndarray, weights_per_group: Sequence[Sequence[float]],
                      offsets: Sequence[int]) -> np.ndarray:
    """For each row, an index into a flat option list: offsets[g] + a weighted pick among group g's options."""
    out = np.zeros(len(group), dtype=np.int64)
    for g, weights in enumerate(weights_per_group):
        rows = np.flatnonzero(group == g)
        if len(rows):
            out[rows] = offsets[g] + _choose(rng, weights, len(rows))
    return out


class _Ragged:
    """Groups of values of different lengths; picks one value of a row's group uniformly."""

    def __init__(self, groups: Sequence[Sequence]):
        counts = np.array([len(g) for g in groups], dtype=np.int64)
        self.counts = np.maximum(counts, 1)
        self.offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        flat = [v for g in groups for v in g]
        self.values = pa.array(flat, pa.string()) if flat and isinstance(flat[0], (str, type(None))) else np.array(flat)

    def pick_index(self, rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
        return self.offsets[group] + (rng.random(len(group)) * self.counts[group]).astype(np.int64)

    def pick(self, rng: np.random.Generator, group: np.ndarray):
        index = self.pick_index(rng, group)
        return self.values.take(index) if isinstance(self.values, pa.Array) else self.values[index]


def _ascii(matrix: np.ndarray) -> pa.StringArray:
    """An (n, k) matrix of ASCII bytes -> n strings of length k (zero-copy into Arrow)."""
    n, k = matrix.shape
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    offsets = np.arange(0, (n + 1) * k, k, dtype=np.int32) if n else np.zeros(1, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _random_chars(rng: np.random.Generator, kind: str, k: int, n: int) -> np.ndarray:
    """d: digits, x: digits not starting with 0/1 (exchange codes), L: upper-case letters."""
    if kind == "L":
        return rng.integers(ord("A"), ord("Z") + 1, (n, k), dtype=np.uint8)
    out = rng.integers(ord("0"), ord("9") + 1, (n, k), dtype=np.uint8)
    if kind == "x":
        out[:, 0] = rng.integers(ord("2"), ord("9") + 1, n, dtype=np.uint8)
    return out


def _numbers(values: np.ndarray, width: int, prefix: str = "") -> pa.StringArray:
    """Zero-padded decimal numbers with a prefix, e.g. ORD-00000042."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    digits = ((values.astype(np.int64)[:, None] // powers) % 10 + ord("0")).astype(np.uint8)
    head = np.broadcast_to(np.frombuffer(prefix.encode(), dtype=np.uint8), (len(values), len(prefix)))
    return _ascii(np.hstack([head, digits]))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_HEX_COLUMNS = [i for i in range(36) if i not in (8, 13, 18, 23)]


def _uuids(rng: np.random.Generator, n: int) -> pa.StringArray:
    """n random version-4 UUIDs in lowercase hex, like Amperity IDs."""
    raw = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, _UUID_HEX_COLUMNS] = hexed
    return _ascii(out)


_RANDOM_FIELD = re.compile(r"^([dxL])(\d+)$")


def _render(rng: np.random.Generator, templates: Sequence[str | None], choice: np.ndarray,
            keys: dict[str, pa.Array]) -> pa.Array:
    """Row i = templates[choice[i]] with {key} taken from keys[key][i] and {d4}/{x3}/{L2}
    random digits/exchange digits/letters; a None template gives NULL."""
    n = len(choice)
    if n == 0:
        return pa.array([], pa.string())
    order = np.argsort(choice, kind="stable")
    counts = np.bincount(choice, minlength=len(templates))
    parts, start = [], 0
    for t, count in enumerate(counts):
        if not count:
            continue
        rows = order[start:start + count]
        start += count
        template = templates[t]
        if template is None:
            parts.append(pa.nulls(count, pa.string()))
            continue
        segments: list = []
        for literal, field, _, _ in string.Formatter().parse(template):
            if literal:
                segments.append(literal)
            if field is None:
                continue
            random_field = _RANDOM_FIELD.match(field)
            if random_field:
                segments.append(_ascii(_random_chars(rng, random_field[1], int(random_field[2]), count)))
            else:
                segments.append(keys[field].take(rows))
        if any(isinstance(s, pa.Array) for s in segments):
            parts.append(pc.binary_join_element_wise(*segments, ""))
        else:
            parts.append(pa.array(["".join(segments)], pa.string()).take(np.zeros(count, dtype=np.int64)))
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return pa.concat_arrays(parts).take(inverse)


def _vary(rng: np.random.Generator, values: pa.Array, *, null: float = 0, upper: float = 0, lower: float = 0,
          title: float = 0, pad: float = 0, trail: float = 0, digit: float = 0, initial: float = 0) -> pa.Array:
    """Make a share of the rows messy: NULL, UPPER, lower, Title, ' padded ', 'trailing  ',
    a stray digit ('John3') or an initial ('J.')."""
    kinds = {
        "null": (null, lambda v: pa.nulls(len(v), pa.string())),
        "upper": (upper, pc.utf8_upper),
        "lower": (lower, pc.utf8_lower),
        "title": (title, pc.utf8_title),
        "pad": (pad, lambda v: pc.binary_join_element_wise(" ", v, " ", "")),
        "trail": (trail, lambda v: pc.binary_join_element_wise(v, "  ", "")),
        "digit": (digit, lambda v: pc.binary_join_element_wise(v, _ascii(_random_chars(rng, "d", 1, len(v))), "")),
        "initial": (initial, lambda v: pc.binary_join_element_wise(pc.utf8_slice_codeunits(v, 0, 1), ".", "")),
    }
    rates = [rate for rate, _ in kinds.values()]
    kind = _choose(rng, [1 - sum(rates), *rates], len(values))
    out = values
    for code, (rate, make) in enumerate(kinds.values(), start=1):
        if rate:
            mask = kind == code
            if mask.any():
                out = pc.replace_with_mask(out, pa.array(mask), make(values.filter(pa.array(mask))))
    return out


def _flat_options(per_country: Sequence[Sequence[tuple]]) -> tuple[list, list[list[float]], list[int]]:
    """Flatten per-country (value, weight, ...) options: values, weights per country, offsets."""
    values, weights, offsets = [], [], []
    for options in per_country:
        offsets.append(len(values))
        values.extend(o[0] for o in options)
        weights.append([o[1] for o in options])
    return values, weights, offsets


# --------------------------------------------------------------------------------------
# Precomputed lookup tables
# --------------------------------------------------------------------------------------

def _parse_names(spec: str, given: bool) -> list[tuple[str, str, str]]:
    out = []
    for token in spec.split():
        token, _, gender = token.partition(":") if given else (token, "", "")
        display, _, slug = token.partition("=")
        display = display.replace("_", " ")
        slug = slug or display.lower().replace(" ", "")
        out.append((display, slug, gender))
    return out


_CULTURE_NAMES = list(_CULTURES)
_GIVEN = [_parse_names(g, True) for g, _ in _CULTURES.values()]
_SURNAMES = [_parse_names(s, False) for _, s in _CULTURES.values()]
_GIVEN_DISPLAY = _Ragged([[d for d, _, _ in names] for names in _GIVEN])
_GIVEN_SLUG = pa.array([s for names in _GIVEN for _, s, _ in names], pa.string())
_GIVEN_IS_FEMALE = np.array([g == "f" for names in _GIVEN for _, _, g in names])
_SURNAME_DISPLAY = _Ragged([[d for d, _, _ in names] for names in _SURNAMES])
_SURNAME_SLUG = pa.array([s for names in _SURNAMES for _, s, _ in names], pa.string())

_COUNTRY_WEIGHTS = [c.weight for c in _COUNTRIES]
_COUNTRY_INDEX = {c.code: i for i, c in enumerate(_COUNTRIES)}
_CULTURE_OPTIONS = [[(_CULTURE_NAMES.index(name), w) for name, w in c.cultures] for c in _COUNTRIES]

_ALL_CITIES = [city for c in _COUNTRIES for city in c.cities]
_CITIES_BY_COUNTRY = _Ragged([[i for i, city in enumerate(_ALL_CITIES) if city in c.cities] for c in _COUNTRIES])
_CITY_NAMES = _Ragged([city.names for city in _ALL_CITIES])
_CITY_STATES = _Ragged([city.states for city in _ALL_CITIES])
_CITY_POSTAL_KEYS = _Ragged([city.postal_keys for city in _ALL_CITIES])
_CITY_AREAS = _Ragged([city.areas if city.areas != ("-",) else ("",) for city in _ALL_CITIES])
_DOMAINS = _Ragged([c.domains for c in _COUNTRIES])

_COUNTRY_SPELLINGS, _COUNTRY_SPELLING_WEIGHTS, _COUNTRY_SPELLING_OFFSETS = _flat_options(
    [(*c.spellings, (None, 4.0), *((g, 1.2 / len(_COUNTRY_GARBAGE)) for g in _COUNTRY_GARBAGE)) for c in _COUNTRIES])
_POSTAL_TEMPLATES, _POSTAL_WEIGHTS, _POSTAL_OFFSETS = _flat_options([c.postal for c in _COUNTRIES])


def _phone_options() -> tuple[list[str | None], list[list[float]], list[int], list[tuple[str, ...]], np.ndarray]:
    per_country, areas, uses_city = [], [], []
    for c in _COUNTRIES:
        plan_total = sum(w for _, w, _ in c.phones)
        options = [(None, 8.0)]
        areas.append(("",))
        uses_city.append(False)
        garbage_total = sum(w for _, w in _PHONE_GARBAGE)
        for template, w in _PHONE_GARBAGE:
            options.append((template, 2.5 * w / garbage_total))
            areas.append(("",))
            uses_city.append(False)
        for plan_areas, plan_weight, templates in c.phones:
            template_total = sum(w for _, w in templates)
            for template, w in templates:
                options.append((template, 89.5 * plan_weight / plan_total * w / template_total))
                areas.append(("",) if plan_areas == "city" else tuple(plan_areas.split()))
                uses_city.append(plan_areas == "city")
        per_country.append(options)
    templates, weights, offsets = _flat_options(per_country)
    return templates, weights, offsets, areas, np.array(uses_city)


_PHONE_TEMPLATES, _PHONE_WEIGHTS, _PHONE_OFFSETS, _PHONE_AREA_LISTS, _PHONE_USES_CITY_AREAS = _phone_options()
_PHONE_AREAS = _Ragged(_PHONE_AREA_LISTS)

_CURRENCIES = sorted(_CURRENCY_UNITS)
_COUNTRY_CURRENCY = np.array([_CURRENCIES.index(c.currency) for c in _COUNTRIES])
_CURRENCY_DISPLAY = pa.array(_CURRENCIES + [c.lower() for c in _CURRENCIES] + list(_CURRENCY_GARBAGE), pa.string())
_CURRENCY_FACTOR = np.array([_CURRENCY_UNITS[c] for c in _CURRENCIES])
_CURRENCY_WHOLE = np.array([c in _WHOLE_UNIT_CURRENCIES for c in _CURRENCIES])

_GENDER_VALUES, _GENDER_WEIGHTS, _GENDER_OFFSETS = _flat_options([_GENDERS["f"], _GENDERS["m"], _GENDERS["other"]])

# Lowercased spelling -> country index, to read back the country of existing customers (--append).
_SPELLING_TO_COUNTRY = {}
for _i, _c in enumerate(_COUNTRIES):
    for _s, _ in _c.spellings:
        _SPELLING_TO_COUNTRY.setdefault(_s.strip().lower(), _i)


# --------------------------------------------------------------------------------------
# Customer 360
# --------------------------------------------------------------------------------------

def _customer_chunk(rng: np.random.Generator, n: int, as_of: datetime) -> tuple[pa.Table, np.ndarray]:
    """n customers: the Arrow table in customer_360 column order, and each one's country index."""
    country = _choose(rng, _COUNTRY_WEIGHTS, n)
    city = _CITIES_BY_COUNTRY.pick(rng, country)

    culture = np.zeros(n, dtype=np.int64)
    for c, options in enumerate(_CULTURE_OPTIONS):
        rows = np.flatnonzero(country == c)
        if len(rows):
            culture[rows] = np.array([o[0] for o in options])[_choose(rng, [o[1] for o in options], len(rows))]
    given_index = _GIVEN_DISPLAY.pick_index(rng, culture)
    surname_index = _SURNAME_DISPLAY.pick_index(rng, culture)
    given_slug = _GIVEN_SLUG.take(given_index)
    surname_slug = _SURNAME_SLUG.take(surname_index)
    given_name = _vary(rng, _GIVEN_DISPLAY.values.take(given_index), null=0.02, upper=0.04, lower=0.03,
                       pad=0.03, trail=0.02, digit=0.005, initial=0.005)
    surname = _vary(rng, _SURNAME_DISPLAY.values.take(surname_index), null=0.02, upper=0.05, lower=0.03,
                    pad=0.02, trail=0.03, digit=0.005)

    domain = _DOMAINS.pick(rng, country)
    email_keys = {
        "g": given_slug, "s": surname_slug, "gi": pc.utf8_slice_codeunits(given_slug, 0, 1),
        "dom": domain, "root": pc.replace_substring_regex(domain, r"\..*$", ""),
    }
    email = _render(rng, [t for t, _ in _EMAIL_TEMPLATES], _choose(rng, [w for _, w in _EMAIL_TEMPLATES], n),
                    email_keys)
    email = _vary(rng, email, upper=0.03, title=0.07, pad=0.04, trail=0.02)

    phone_option = _choose_per_group(rng, country, _PHONE_WEIGHTS, _PHONE_OFFSETS)
    area = pc.if_else(pa.array(_PHONE_USES_CITY_AREAS[phone_option]),
                      _CITY_AREAS.pick(rng, city), _PHONE_AREAS.pick(rng, phone_option))
    phone = _render(rng, _PHONE_TEMPLATES, phone_option, {"a": area})

    born_days_ago = rng.integers(18 * 365, 90 * 365, n)
    as_of_day = (as_of.date() - date(1970, 1, 1)).days
    birthdate = as_of_day - born_days_ago
    bad = _choose(rng, [97.2, 0.5, 0.3, 0.3, 0.3, 0.5, 0.4, 0.5], n)
    for code, day in enumerate([date(1800, 1, 1), date(1899, 12, 31), date(1850, 6, 15), date(1900, 1, 1),
                                date(2099, 12, 31)], start=1):
        birthdate[bad == code] = (day - date(1970, 1, 1)).days
    future = bad == 6
    birthdate[future] = as_of_day + rng.integers(1, 3650, int(future.sum()))
    birthdate[bad == 7] = as_of_day - rng.integers(0, 365 * 5, int((bad == 7).sum()))  # a toddler: likely a typo
    birthdate_array = pa.array(birthdate.astype(np.int32), pa.date32(), mask=rng.random(n) < 0.12)

    gender_group = np.where(rng.random(n) < 0.06, 2, np.where(_GIVEN_IS_FEMALE[given_index], 0, 1))
    gender = pa.array(_GENDER_VALUES, pa.string()).take(
        _choose_per_group(rng, gender_group, _GENDER_WEIGHTS, _GENDER_OFFSETS))
    gender = _vary(rng, gender, null=0.15)

    city_name = _vary(rng, _CITY_NAMES.pick(rng, city), null=0.05, upper=0.04, lower=0.03, pad=0.01, trail=0.03)
    state = _vary(rng, _CITY_STATES.pick(rng, city), null=0.03, lower=0.02, pad=0.02)
    postal = _render(rng, _POSTAL_TEMPLATES, _choose_per_group(rng, country, _POSTAL_WEIGHTS, _POSTAL_OFFSETS),
                     {"pk": _CITY_POSTAL_KEYS.pick(rng, city)})
    postal = _vary(rng, postal, lower=0.03, pad=0.02, trail=0.02)
    country_text = pa.array(_COUNTRY_SPELLINGS, pa.string()).take(
        _choose_per_group(rng, country, _COUNTRY_SPELLING_WEIGHTS, _COUNTRY_SPELLING_OFFSETS))
    country_text = _vary(rng, country_text, lower=0.02, upper=0.01, pad=0.02)

    table = pa.table({
        "amperity_id": _uuids(rng, n), "email": email, "phone": phone, "given_name": given_name,
        "surname": surname, "birthdate": birthdate_array, "gender": gender, "city": city_name,
        "state": state, "postal": postal, "country": country_text,
    })
    return table, country.astype(np.int16)


# --------------------------------------------------------------------------------------
# Unified Itemized Transactions
# --------------------------------------------------------------------------------------

@dataclass
class _Catalog:
    product_ids: pa.Array
    product_cents: np.ndarray      # list price in US cents
    product_brand: pa.Array
    store_ids: pa.Array
    stores_by_country: _Ragged     # store index per country


def _catalog(seed: int) -> _Catalog:
    rng = _rng(seed, _CATALOG)
    numbers = np.sort(rng.choice(90_000, _PRODUCTS, replace=False)) + 10_000
    cents = np.exp(rng.normal(np.log(2_500), 0.9, _PRODUCTS))
    cents = np.maximum(np.round(cents / 100) * 100 - 1, 99).astype(np.int64)   # $x.99 price points
    brand = pa.array([b for b, _ in _BRANDS], pa.string()).take(_choose(rng, [w for _, w in _BRANDS], _PRODUCTS))
    store_country = np.concatenate([np.full(max(2, round(_STORES * c.weight)), i) for i, c in enumerate(_COUNTRIES)])
    store_numbers = np.sort(rng.choice(9_000, len(store_country), replace=False)) + 100
    return _Catalog(
        product_ids=_numbers(numbers, 5, "SKU-"),
        product_cents=cents,
        product_brand=brand,
        store_ids=_numbers(store_numbers, 4, "ST"),
        stores_by_country=_Ragged([np.flatnonzero(store_country == i).tolist() for i in range(len(_COUNTRIES))]),
    )


def _order_times(rng: np.random.Generator, n: int, days: int, as_of_s: int) -> np.ndarray:
    """n order times (unix seconds) in [as_of - days, as_of), busier in store hours, sorted."""
    out = np.empty(n, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(50):
        if not len(todo):
            break
        t = as_of_s - rng.integers(1, days * 86_400 + 1, len(todo))
        hour = ((t // 3600) + _LOCAL_UTC_OFFSET_HOURS) % 24
        keep = rng.random(len(todo)) < _HOUR_WEIGHTS[hour]
        out[todo[keep]] = t[keep]
        todo = todo[~keep]
    if len(todo):
        out[todo] = as_of_s - rng.integers(1, days * 86_400 + 1, len(todo))
    return np.sort(out)


@dataclass
class _Pool:
    """The customers orders may belong to: ids and country index (-1 unknown)."""
    ids: pa.Array
    country: np.ndarray


def _decimal_cents(cents: np.ndarray) -> pa.Array:
    """Integer cents -> DECIMAL(18, 2), exactly (via the 128-bit unscaled value)."""
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words)])


def _transaction_chunk(rng: np.random.Generator, first_number: int, width: int, times: np.ndarray, pool: _Pool,
                       catalog: _Catalog, as_of_s: int) -> pa.Table:
    """Order lines for len(times) orders numbered from first_number."""
    n = len(times)
    lines = _choose(rng, _LINES_PER_ORDER, n) + 1
    total = int(lines.sum())
    line_order = np.repeat(np.arange(n), lines)
    starts = np.concatenate([[0], np.cumsum(lines)[:-1]])
    line_no = np.arange(total) - starts[line_order]

    # customer: skewed towards repeat buyers; ~2% unknown to Customer 360
    customer = np.minimum((len(pool.ids) * rng.random(n) ** 1.3).astype(np.int64), len(pool.ids) - 1)
    missing = rng.random(n) < 0.02
    order_customer = pc.if_else(pa.array(missing), _uuids(rng, n), pool.ids.take(customer))
    country = np.where(missing, -1, pool.country[customer])
    country = np.where(country < 0, _COUNTRY_INDEX["US"], country)

    currency = _COUNTRY_CURRENCY[country]
    currency = np.where(rng.random(n) < 0.05, _CURRENCIES.index("USD"), currency)   # cross-border, in USD
    spelling = _choose(rng, [93.5, 3, 3, 0.5], n)
    shown = np.where(spelling == 1, currency + len(_CURRENCIES), currency)
    shown = np.where(spelling == 3, 2 * len(_CURRENCIES) + rng.integers(0, len(_CURRENCY_GARBAGE), n), shown)
    currency_text = pc.if_else(pa.array(spelling == 2), pa.nulls(n, pa.string()), _CURRENCY_DISPLAY.take(shown))

    channel = _choose(rng, [w for _, w in _CHANNELS], n)
    store = catalog.store_ids.take(catalog.stores_by_country.pick(rng, country))
    is_store = channel == 0
    web = pa.array(["WEB-001"] * 1, pa.string()).take(np.zeros(n, dtype=np.int64))
    call_center = pa.array(["CC-01"], pa.string()).take(np.zeros(n, dtype=np.int64))
    nulls = pa.nulls(n, pa.string())
    u = rng.random(n)
    store = pc.if_else(pa.array(is_store & (u < 0.02)), nulls, store)
    store = pc.if_else(pa.array(~is_store & (channel != 3)), pc.if_else(pa.array(u < 0.4), web, nulls), store)
    store = pc.if_else(pa.array(channel == 3), pc.if_else(pa.array(u < 0.7), call_center, nulls), store)

    product = np.minimum((_PRODUCTS * rng.random(total) ** 1.6).astype(np.int64), _PRODUCTS - 1)
    repeat = (lines >= 2) & (rng.random(n) < 0.07)
    product[starts[repeat] + lines[repeat] - 1] = product[starts[repeat]]
    quantity = np.array([q for q, _ in _QUANTITIES])[_choose(rng, [w for _, w in _QUANTITIES], total)]

    line_currency = currency[line_order]
    price = catalog.product_cents[product] * _CURRENCY_FACTOR[line_currency]
    price = np.where(_CURRENCY_WHOLE[line_currency], np.round(price / 100) * 100, np.round(price)).astype(np.int64)
    price[rng.random(total) < 0.01] = 0                                       # free gifts

    r = rng.random(n)
    returned_line = np.floor(rng.random(n) * lines).astype(np.int64)
    is_return_line = (r < 0.008)[line_order] | (((r >= 0.008) & (r < 0.035))[line_order]
                                                & (line_no == returned_line[line_order]))
    c = rng.random(n)
    cancelled_line = np.floor(rng.random(n) * lines).astype(np.int64)
    is_cancel_line = (c < 0.015)[line_order] | (((c >= 0.015) & (c < 0.025))[line_order]
                                                & (line_no == cancelled_line[line_order]))
    stray_negative = ~is_return_line & (rng.random(total) < 0.002)             # negative, but not flagged
    quantity = np.where(is_return_line | stray_negative, -quantity, quantity)

    flag_u = rng.random(total)
    is_return = pa.array(is_return_line, pa.bool_(), mask=~is_return_line & (flag_u < 0.3))
    is_cancellation = pa.array(is_cancel_line, pa.bool_(), mask=~is_cancel_line & (rng.random(total) < 0.4))

    line_time = times[line_order].copy()
    late = (lines >= 2) & (rng.random(n) < 0.01)                              # a line booked a bit later
    last_lines = starts[late] + lines[late] - 1
    line_time[last_lines] = np.minimum(line_time[last_lines] + rng.integers(60, 3600, int(late.sum())), as_of_s - 1)

    order_ids = _numbers(first_number + np.arange(n), width, ORDER_PREFIX)
    return pa.table({
        "amperity_id": order_customer.take(line_order),
        "order_id": order_ids.take(line_order),
        "product_id": catalog.product_ids.take(product),
        "item_quantity": pa.array(quantity.astype(np.int32)),
        "item_revenue": _decimal_cents(quantity * price),
        "order_datetime": pa.array(line_time * 1_000_000, pa.timestamp("us")),
        "currency": currency_text.take(line_order),
        "purchase_channel": pa.array([ch for ch, _ in _CHANNELS], pa.string()).take(channel[line_order]),
        "purchase_brand": catalog.product_brand.take(product),
        "store_id": store.take(line_order),
        "is_return": is_return,
        "is_cancellation": is_cancellation,
    })


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------

def as_of_utc(value: datetime | str | None) -> datetime:
    """A datetime or ISO-8601 text (offset or 'Z' converted to UTC; naive taken as UTC) ->
    aware UTC datetime truncated to whole seconds; None -> now. ValueError if unparsable."""
    if value is None:
        value = datetime.now(timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        if text[-1:] in ("Z", "z"):
            text = text[:-1] + "+00:00"
        value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0)


def _check(customers: int, orders: int, days: int, seed: int) -> None:
    for name, value, low in (("customers", customers, 0), ("orders", orders, 0), ("days", days, 1),
                             ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{name} must be at least {low}, got {value}")
        if name != "seed" and value > MAX_ROWS:
            raise ValueError(f"{name} must be at most {MAX_ROWS:,}, got {value:,}")
    if days > 36_500:
        raise ValueError(f"days must be at most 36500, got {days}")


def _existing_pool(con: duckdb.DuckDBPyConnection, table: str) -> _Pool:
    rows = con.sql(f"SELECT amperity_id, min(country) FROM {table} WHERE amperity_id IS NOT NULL "
                   f"GROUP BY amperity_id ORDER BY amperity_id").to_arrow_table()
    keys = pa.array(list(_SPELLING_TO_COUNTRY), pa.string())
    found = pc.index_in(pc.utf8_lower(pc.utf8_trim_whitespace(rows.column(1).combine_chunks())), value_set=keys)
    index = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    lookup = np.array(list(_SPELLING_TO_COUNTRY.values()), dtype=np.int16)
    country = np.where(index < 0, -1, lookup[np.maximum(index, 0)])
    return _Pool(rows.column(0).combine_chunks(), country.astype(np.int16))


def generate(con_or_path: duckdb.DuckDBPyConnection | str | Path, customers: int, orders: int, days: int,
             seed: int = 42, schema: str = DEFAULT_SOURCE_SCHEMA, as_of: datetime | str | None = None,
             append: bool = False) -> dict:
    """Write `customers` customers and `orders` orders (spread over the `days` days before
    `as_of`) into `schema`.customer_360 and `schema`.unified_itemized_transactions.

    Without append, both tables are recreated; with append, rows are added after the
    existing ones (new order numbers continue after the highest ORD- number, new orders
    also go to existing customers). Each chunk is committed as it is written, so a run
    that fails midway leaves the rows written so far. Returns rows written per table,
    orders, as_of and seconds. Raises ValueError for bad arguments.
    """
    started = time.perf_counter()
    _check(customers, orders, days, seed)
    customers, orders, days, seed = int(customers), int(orders), int(days), int(seed)
    if orders and not customers and not append:
        raise ValueError("orders need customers: pass customers >= 1 (or append to a customer_360 that has rows)")
    q_schema = quote_identifier(schema)
    as_of_dt = as_of_utc(as_of)
    as_of_s = int(as_of_dt.timestamp())

    own_connection = not isinstance(con_or_path, duckdb.DuckDBPyConnection)
    if own_connection:
        path = Path(con_or_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
    else:
        con = con_or_path
    customer_table = f"{q_schema}.customer_360"
    transaction_table = f"{q_schema}.unified_itemized_transactions"
    try:
        create_source_tables(con, schema, replace=not append)
        customer_start, order_start = 0, 0
        pool_ids: list[pa.Array] = []
        pool_country: list[np.ndarray] = []
        if append:
            # fetchall: DuckDB 2.x refuses a query after a result not read to its end
            customer_start = con.execute(f"SELECT count(*) FROM {customer_table}").fetchall()[0][0]
            order_start = con.execute(
                f"SELECT coalesce(max(TRY_CAST(regexp_extract(order_id, '^{ORDER_PREFIX}([0-9]+)$', 1) AS BIGINT)), 0) "
                f"FROM {transaction_table}").fetchall()[0][0]
            existing = _existing_pool(con, customer_table)
            pool_ids.append(existing.ids)
            pool_country.append(existing.country)
        if orders and not customers and not sum(len(p) for p in pool_ids):
            raise ValueError("orders need customers: pass customers >= 1 (or append to a customer_360 that has rows)")

        # Each chunk is its own INSERT (autocommit): one transaction around all of them would
        # keep every chunk's Arrow strings alive until the commit.
        for chunk, start in enumerate(range(0, customers, CUSTOMER_CHUNK)):
            table, country = _customer_chunk(_rng(seed, _CUSTOMERS, customer_start, chunk),
                                             min(CUSTOMER_CHUNK, customers - start), as_of_dt)
            _insert(con, customer_table, table)
            pool_ids.append(table.column("amperity_id").combine_chunks())
            pool_country.append(country)
            del table

        lines = 0
        if orders:
            pool = _Pool(pa.concat_arrays(pool_ids), np.concatenate(pool_country))
            del pool_ids, pool_country
            catalog = _catalog(seed)
            times = _order_times(_rng(seed, _ORDER_TIMES, order_start), orders, days, as_of_s)
            width = max(ORDER_NUMBER_WIDTH, len(str(order_start + orders)))
            for chunk, start in enumerate(range(0, orders, ORDER_CHUNK)):
                table = _transaction_chunk(_rng(seed, _ORDERS, order_start, chunk), order_start + start + 1, width,
                                           times[start:start + ORDER_CHUNK], pool, catalog, as_of_s)
                _insert(con, transaction_table, table)
                lines += table.num_rows
                del table
    finally:
        if own_connection:
            con.close()
    return {
        "customer_360": customers,
        "unified_itemized_transactions": lines,
        "orders": orders,
        "as_of": as_of_dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.perf_counter() - started, 3),
    }


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> None:
    """Bulk-insert an Arrow table, in row-group-sized batches (DuckDB scans them in parallel, in order)."""
    rows = pa.Table.from_batches(rows.to_batches(max_chunksize=122_880), schema=rows.schema)
    con.register("_sample_data_chunk", rows)
    try:
        con.execute(f"INSERT INTO {table} SELECT * FROM _sample_data_chunk")
    finally:
        con.unregister("_sample_data_chunk")

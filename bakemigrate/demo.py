"""A realistic sample bake-tracker v0.6 database, to try the migration on without real data.

The database has the app's full v0.6 schema, executed verbatim from the shipped DDL, and a small
bakery in it: recipes, finished units, ingredients, products, purchases, inventory, events,
recipients, packages and as many production runs as asked, with their ingredient consumptions.
Values are stored the way the app stores them (DATETIME as ``YYYY-MM-DD HH:MM:SS.ffffff`` text,
NUMERIC as REAL or INTEGER, unrounded costs from ``record_batch_production``), and the first runs
cover the edge cases a migration must survive: losses, over-yield, empty and exotic notes, zero
costs, zero and eight consumptions, shared timestamps.

The same seed gives the same rows in every table.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from math import gcd
from pathlib import Path
from typing import Any

from .errors import MigrationError
from .files import rename_over, temporary_beside
from .paths import app_database, refuse_output_over
from .progress import progress_bar
from .tables import app_schema_statements, user_tables

CHUNK_RUNS = 20_000
"""Runs generated and inserted per batch, so memory stays bounded whatever the number of runs."""

PROGRESS_THRESHOLD = 50_000
"""From this many runs on, a progress bar is shown (on a terminal, see `progress_bar`)."""

PERIOD_START = datetime(2023, 9, 1)
"""Production runs are spread from this moment (produced_at) up to `PERIOD_END`."""
PERIOD_END = datetime(2026, 1, 1)
"""The end of the period production runs are spread over."""

AUDIT_DELAY = timedelta(seconds=41.25)
"""The app's audit timestamps of production rows are produced_at plus this delay."""

CATALOGUE_EPOCH = datetime(2023, 9, 1, 9, 0)
"""Catalogue rows (everything but production) are dated this moment plus their id in minutes."""

LONG_NOTE = ("Long note: " + "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 40).rstrip()


@dataclass(frozen=True)
class DemoSummary:
    """What [demo][bakemigrate.demo.demo] made: where, from which seed, rows per table."""

    path: Path
    runs: int
    consumptions: int
    seed: int
    table_counts: dict[str, int] = field(default_factory=dict)

    def summary_line(self) -> str:
        """One line for a person, e.g. ``demo database demo.db: 200 production runs, ...``."""
        return (
            f"demo database {self.path}: {self.runs} production runs, {self.consumptions} consumptions, "
            f"{self.table_counts.get('recipes', 0)} recipes, {self.table_counts.get('events', 0)} events "
            f"(seed {self.seed})"
        )


# ---------------------------------------------------------------------------------------------
# The bakery catalogue (fixed names; ids, uuids, prices and counts come from the seed)
# ---------------------------------------------------------------------------------------------

UNITS: tuple[tuple[str, str, str, str, str | None, int], ...] = (
    ("oz", "ounce", "oz", "weight", "ONZ", 0),
    ("lb", "pound", "lb", "weight", "LBR", 1),
    ("g", "gram", "g", "weight", "GRM", 2),
    ("kg", "kilogram", "kg", "weight", "KGM", 3),
    ("tsp", "teaspoon", "tsp", "volume", None, 0),
    ("tbsp", "tablespoon", "tbsp", "volume", None, 1),
    ("cup", "cup", "cup", "volume", None, 2),
    ("ml", "milliliter", "ml", "volume", "MLT", 3),
    ("l", "liter", "l", "volume", "LTR", 4),
    ("fl oz", "fluid ounce", "fl oz", "volume", "OZA", 5),
    ("pt", "pint", "pt", "volume", "PTI", 6),
    ("qt", "quart", "qt", "volume", "QTI", 7),
    ("gal", "gallon", "gal", "volume", "GLL", 8),
    ("each", "each", "ea", "count", "EA", 0),
    ("count", "count", "ct", "count", None, 1),
    ("piece", "piece", "pc", "count", "PCE", 2),
    ("dozen", "dozen", "dz", "count", "DZN", 3),
    ("bag", "bag", "bag", "package", "BG", 0),
    ("bar", "bar", "bar", "package", None, 1),
    ("bottle", "bottle", "bottle", "package", "BO", 2),
    ("box", "box", "box", "package", "BX", 3),
    ("can", "can", "can", "package", "CA", 4),
    ("carton", "carton", "carton", "package", "CT", 5),
    ("clamshell", "clamshell", "clamshell", "package", None, 6),
    ("container", "container", "container", "package", None, 7),
    ("jar", "jar", "jar", "package", "JR", 8),
    ("packet", "packet", "packet", "package", "PA", 9),
    ("pouch", "pouch", "pouch", "package", "PO", 10),
    ("roll", "roll", "roll", "package", "RL", 11),
    ("sachet", "sachet", "sachet", "package", None, 12),
    ("sheet", "sheet", "sheet", "package", "ST", 13),
    ("stick", "stick", "stick", "package", None, 14),
    ("tub", "tub", "tub", "package", "TB", 15),
    ("tube", "tube", "tube", "package", "TU", 16),
    ("wrapper", "wrapper", "wrapper", "package", None, 17),
)
"""The app's own ``units`` seed: code, display name, symbol, category, UN/CEFACT code, sort order."""


@dataclass(frozen=True)
class _Ingredient:
    display_name: str
    slug: str
    category: str
    recipe_unit: str  # the unit recipes and consumptions use
    brand: str
    package_size: str
    package_unit: str
    package_unit_quantity: float
    package_in_recipe_units: float  # how many recipe units one package holds
    package_price: float  # 0.0 for donated goods
    notes: str | None = None


INGREDIENTS: tuple[_Ingredient, ...] = (
    _Ingredient(
        "All-Purpose Flour",
        "all_purpose_flour",
        "Flour",
        "g",
        "King Arthur",
        "5 lb",
        "lb",
        5.0,
        2268.0,
        4.29,
        "Store in a cool, dry place — “airtight” container",
    ),
    _Ingredient("Bread Flour", "bread_flour", "Flour", "g", "King Arthur", "5 lb", "lb", 5.0, 2268.0, 5.49),
    _Ingredient("Almond Flour", "almond_flour", "Flour", "g", "Bob's Red Mill", "16 oz", "oz", 16.0, 454.0, 9.99),
    _Ingredient("Tapioca Flour", "tapioca_flour", "Flour", "g", "Yoki", "500 g", "g", 500.0, 500.0, 3.79),
    _Ingredient("Granulated Sugar", "granulated_sugar", "Sugar", "oz", "Domino", "4 lb", "lb", 4.0, 64.0, 3.25),
    _Ingredient("Confectioner's Sugar", "confectioners_sugar", "Sugar", "cup", "C&H", "2 lb", "lb", 2.0, 7.5, 2.89),
    _Ingredient("Light Brown Sugar", "light_brown_sugar", "Sugar", "cup", "Domino", "2 lb", "lb", 2.0, 4.5, 2.79),
    _Ingredient("Unsalted Butter", "unsalted_butter", "Oils/Butters", "oz", "Kerrygold", "8 oz", "oz", 8.0, 8.0, 3.99),
    _Ingredient("Large Eggs", "large_eggs", "Misc", "count", "Vital Farms", "12 count", "count", 12.0, 12.0, 3.99),
    _Ingredient(
        "Donated Farm Eggs",
        "donated_farm_eggs",
        "Misc",
        "count",
        "Neighbor's hens",
        "12 count",
        "count",
        12.0,
        12.0,
        0.0,
        "Free from the Nakamuras' hens 🐔",
    ),
    _Ingredient(
        "Pure Vanilla Extract",
        "pure_vanilla_extract",
        "Extracts",
        "tsp",
        "Nielsen-Massey",
        "4 fl oz",
        "fl oz",
        4.0,
        24.0,
        12.99,
    ),
    _Ingredient("Baking Soda", "baking_soda", "Misc", "tsp", "Arm & Hammer", "1 lb", "lb", 1.0, 96.0, 1.29),
    _Ingredient("Baking Powder", "baking_powder", "Misc", "tsp", "Clabber Girl", "8.1 oz", "oz", 8.1, 48.0, 2.49),
    _Ingredient("Kosher Salt", "kosher_salt", "Spices", "tsp", "Diamond Crystal", "3 lb", "lb", 3.0, 288.0, 4.79),
    _Ingredient(
        "Semi-Sweet Chocolate Chips",
        "semi_sweet_chocolate_chips",
        "Chocolate/Candies",
        "cup",
        "Guittard",
        "12 oz",
        "oz",
        12.0,
        2.0,
        4.49,
    ),
    _Ingredient(
        "Dutch-Process Cocoa",
        "dutch_process_cocoa",
        "Cocoa Powders",
        "tbsp",
        "Droste",
        "8.8 oz",
        "oz",
        8.8,
        50.0,
        8.99,
    ),
    _Ingredient("Heavy Cream", "heavy_cream", "Dairy", "cup", "Organic Valley", "1 pt", "pt", 1.0, 2.0, 4.29),
    _Ingredient("Whole Milk", "whole_milk", "Dairy", "cup", "Clover", "1 gal", "gal", 1.0, 16.0, 5.19),
    _Ingredient("Crème Fraîche", "creme_fraiche", "Dairy", "tbsp", "Vermont Creamery", "8 oz", "oz", 8.0, 16.0, 4.99),
    _Ingredient(
        "Queijo Minas Cheese",
        "queijo_minas_cheese",
        "Dairy",
        "g",
        "Minas Gerais Co.",
        "400 g",
        "g",
        400.0,
        400.0,
        8.49,
    ),
    _Ingredient("Honey", "honey", "Syrups", "tbsp", "Nature Nate's", "16 oz", "oz", 16.0, 21.0, 7.99),
    _Ingredient("Molasses", "molasses", "Syrups", "tbsp", "Grandma's", "12 fl oz", "fl oz", 12.0, 24.0, 4.59),
    _Ingredient("Ground Cinnamon", "ground_cinnamon", "Spices", "tsp", "Penzeys", "2.2 oz", "oz", 2.2, 30.0, 6.95),
    _Ingredient("Ground Ginger", "ground_ginger", "Spices", "tsp", "Penzeys", "1.9 oz", "oz", 1.9, 27.0, 6.45),
    _Ingredient("Ground Nutmeg", "ground_nutmeg", "Spices", "tsp", "Penzeys", "2.1 oz", "oz", 2.1, 24.0, 7.25),
    _Ingredient("Matcha Powder", "matcha_powder", "Misc", "tsp", "Ippodo 一保堂", "40 g", "g", 40.0, 20.0, 24.0),
    _Ingredient("Lemons", "lemons", "Produce", "count", "Sunkist", "2 lb", "lb", 2.0, 8.0, 4.99),
)


@dataclass(frozen=True)
class _FinishedUnit:
    slug: str
    display_name: str
    items_per_batch: int | None  # None: BATCH_PORTION
    item_unit: str | None = None
    batch_percentage: float | None = None
    portion_description: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class _Recipe:
    name: str
    category: str
    source: str | None
    minutes: int
    ingredients: tuple[tuple[str, float, str | None], ...]  # slug, quantity per batch, note
    units: tuple[_FinishedUnit, ...]
    notes: str | None = None
    yield_description: str | None = None


def _fu(slug: str, name: str, per_batch: int | None, unit: str | None = "cookie", **kw: Any) -> _FinishedUnit:
    return _FinishedUnit(slug, name, per_batch, unit if per_batch else None, **kw)


RECIPES: tuple[_Recipe, ...] = (
    _Recipe(
        "Grandma's Sugar Cookies",
        "Cookies",
        "Family recipe card",
        30,
        (
            ("all_purpose_flour", 300, "sifted"),
            ("granulated_sugar", 7, None),
            ("unsalted_butter", 8, "softened"),
            ("large_eggs", 2, None),
        ),
        (
            _fu("grandmas-sugar-cookies-3-inch", "Grandma's Sugar Cookies (3-inch)", 24, notes="Primary size"),
            _fu("grandmas-sugar-cookies-mini", "Grandma's Sugar Cookies — mini", 48),
        ),
        "Don't skip the chill step!\nChill 2h.",
        "About 2 dozen",
    ),
    _Recipe(
        'Mom\'s "Famous" Fudge',
        "Candies",
        None,
        50,
        (
            ("granulated_sugar", 24, None),
            ("heavy_cream", 1, None),
            ("unsalted_butter", 4, None),
            ("semi_sweet_chocolate_chips", 2, None),
        ),
        (
            _fu(
                "moms-famous-fudge-1-inch-squares",
                'Mom\'s "Famous" Fudge (1-inch squares)',
                36,
                "square",
                notes="Primary size",
            ),
            _fu(
                "moms-famous-fudge-whole-pan",
                'Mom\'s "Famous" Fudge — whole pan',
                None,
                batch_percentage=100,
                portion_description="one 8×8 pan",
                notes="Portion-based: items_per_batch is NULL",
            ),
            _fu("moms-famous-fudge-gift-stack-of-6", 'Mom\'s "Famous" Fudge gift stack of 6', 6, "stack"),
        ),
    ),
    _Recipe(
        "Crème Brûlée Bars",
        "Bars",
        None,
        35,
        (
            ("all_purpose_flour", 250, None),
            ("granulated_sugar", 6, None),
            ("unsalted_butter", 8, None),
            ("large_eggs", 4, "yolks only"),
            ("heavy_cream", 2, None),
        ),
        (
            _fu("creme-brulee-bars-3-inch", "Crème Brûlée Bars (3-inch)", 25, "bar", notes="Primary size"),
            _fu("creme-brulee-bars-mini", "Crème Brûlée Bars — mini", 49, "bar"),
        ),
    ),
    _Recipe(
        "Pfeffernüsse",
        "Cookies",
        "Oma's notebook",
        40,
        (
            ("all_purpose_flour", 375, None),
            ("light_brown_sugar", 1, None),
            ("molasses", 4, None),
            ("unsalted_butter", 4, None),
            ("ground_cinnamon", 2, None),
            ("ground_ginger", 1, None),
            ("ground_nutmeg", 0.5, None),
            ("confectioners_sugar", 1, "for rolling"),
        ),
        (
            _fu("pfeffernusse-3-inch", "Pfeffernüsse (3-inch)", 26, notes="Primary size"),
            _fu("pfeffernusse-mini", "Pfeffernüsse — mini", 50),
            _fu("pfeffernusse-gift-stack-of-6", "Pfeffernüsse gift stack of 6", 6, "stack"),
            _fu("pfeffernusse-jumbo", "Pfeffernüsse jumbo", 14),
        ),
    ),
    _Recipe(
        "Bûche de Noël",
        "Cakes",
        "Family recipe card",
        45,
        (
            ("all_purpose_flour", 90, None),
            ("granulated_sugar", 5, None),
            ("large_eggs", 4, None),
            ("dutch_process_cocoa", 3, None),
            ("heavy_cream", 2, None),
            ("creme_fraiche", 4, None),
            ("semi_sweet_chocolate_chips", 1, "ganache"),
            ("pure_vanilla_extract", 1, None),
        ),
        (
            _fu(
                "buche-de-noel-whole-log",
                "Bûche de Noël — whole log",
                None,
                batch_percentage=100,
                portion_description="one 14-inch log",
                notes="Portion-based: items_per_batch is NULL",
            ),
            _fu(
                "buche-de-noel-half-log",
                "Bûche de Noël — half log",
                None,
                batch_percentage=50,
                portion_description="half a log",
            ),
            _fu("buche-de-noel-slices", "Bûche de Noël slices", 12, "slice"),
        ),
    ),
    _Recipe(
        "Pão de Queijo",
        "Breads",
        "Tia Lúcia",
        55,
        (
            ("tapioca_flour", 500, None),
            ("whole_milk", 1, None),
            ("queijo_minas_cheese", 200, "grated"),
            ("donated_farm_eggs", 2, None),
            ("kosher_salt", 1, None),
        ),
        (
            _fu("pao-de-queijo-bite", "Pão de Queijo (bite)", 40, "roll", notes="Primary size"),
            _fu("pao-de-queijo-large", "Pão de Queijo — large", 20, "roll"),
        ),
    ),
    _Recipe(
        "抹茶 Matcha Shortbread",
        "Cookies",
        "Family recipe card",
        60,
        (
            ("all_purpose_flour", 240, None),
            ("unsalted_butter", 8, None),
            ("confectioners_sugar", 0.5, None),
            ("matcha_powder", 4, "sifted"),
        ),
        (
            _fu("抹茶-matcha-shortbread-3-inch", "抹茶 Matcha Shortbread (3-inch)", 24, notes="Primary size"),
            _fu("抹茶-matcha-shortbread-mini", "抹茶 Matcha Shortbread — mini", 48),
            _fu("抹茶-matcha-shortbread-gift-stack-of-6", "抹茶 Matcha Shortbread gift stack of 6", 4, "stack"),
        ),
    ),
    _Recipe(
        "Store-Bought Dough Bake-Off (no ingredients tracked)",
        "Cookies",
        None,
        20,
        (),
        (
            _fu(
                "store-bought-dough-bake-off-no-ingredients-tracked-3-inch",
                "Store-Bought Dough Bake-Off (no ingredients tracked) (3-inch)",
                24,
                notes="Primary size",
            ),
            _fu(
                "store-bought-dough-bake-off-no-ingredients-tracked-mini",
                "Store-Bought Dough Bake-Off (no ingredients tracked) — mini",
                48,
            ),
        ),
    ),
    _Recipe(
        "Chocolate Chip Cookies",
        "Cookies",
        "Back of the bag",
        65,
        (
            ("all_purpose_flour", 280, None),
            ("light_brown_sugar", 0.75, None),
            ("unsalted_butter", 8, None),
            ("large_eggs", 2, None),
            ("semi_sweet_chocolate_chips", 2, None),
            ("baking_soda", 1, None),
        ),
        (
            _fu("chocolate-chip-cookies-3-inch", "Chocolate Chip Cookies (3-inch)", 25, notes="Primary size"),
            _fu("chocolate-chip-cookies-mini", "Chocolate Chip Cookies — mini", 49),
            _fu("chocolate-chip-cookies-gift-stack-of-6", "Chocolate Chip Cookies gift stack of 6", 5, "stack"),
            _fu("chocolate-chip-cookies-jumbo", "Chocolate Chip Cookies jumbo", 14),
        ),
    ),
    _Recipe(
        "Snickerdoodles",
        "Cookies",
        None,
        35,
        (
            ("all_purpose_flour", 340, None),
            ("granulated_sugar", 10, None),
            ("unsalted_butter", 8, None),
            ("ground_cinnamon", 2, None),
        ),
        (
            _fu("snickerdoodles-3-inch", "Snickerdoodles (3-inch)", 30, notes="Primary size"),
            _fu("snickerdoodles-mini", "Snickerdoodles — mini", 60),
        ),
    ),
    _Recipe(
        "Gingerbread People",
        "Cookies",
        "Holiday magazine, Dec. issue",
        90,
        (
            ("all_purpose_flour", 420, None),
            ("molasses", 8, None),
            ("ground_ginger", 3, None),
            ("ground_cinnamon", 2, None),
            ("unsalted_butter", 6, None),
        ),
        (
            _fu("gingerbread-people-5-inch", "Gingerbread People (5-inch)", 18, "person", notes="Primary size"),
            _fu("gingerbread-people-mini", "Gingerbread People — mini", 40, "person"),
            _fu("gingerbread-people-gift-stack-of-6", "Gingerbread People gift stack of 6", 3, "stack"),
        ),
    ),
    _Recipe(
        "Lemon Bars",
        "Bars",
        None,
        45,
        (("all_purpose_flour", 180, None), ("lemons", 3, "zest and juice"), ("large_eggs", 4, None)),
        (
            _fu("lemon-bars-2-inch", "Lemon Bars (2-inch)", 16, "bar", notes="Primary size"),
            _fu("lemon-bars-bites", "Lemon Bars — bites", 36, "bar"),
        ),
    ),
    _Recipe(
        "Zimtsterne (Cinnamon Stars)",
        "Cookies",
        "Oma's notebook",
        120,
        (("almond_flour", 300, None), ("confectioners_sugar", 1.5, None), ("ground_cinnamon", 3, None)),
        (
            _fu(
                "zimtsterne-cinnamon-stars-3-inch",
                "Zimtsterne (Cinnamon Stars) (3-inch)",
                30,
                "star",
                notes="Primary size",
            ),
            _fu("zimtsterne-cinnamon-stars-mini", "Zimtsterne (Cinnamon Stars) — mini", 55, "star"),
        ),
    ),
    _Recipe(
        "약과 Yakgwa Honey Cookies",
        "Cookies",
        "Halmeoni",
        80,
        (("all_purpose_flour", 200, None), ("honey", 6, None)),
        (
            _fu(
                "약과-yakgwa-honey-cookies-flower",
                "약과 Yakgwa Honey Cookies (flower)",
                20,
                notes="Primary size",
            ),
            _fu("약과-yakgwa-honey-cookies-mini", "약과 Yakgwa Honey Cookies — mini", 40),
        ),
    ),
)

EVENTS: tuple[tuple[str, date, str | None], ...] = (
    ("Christmas 2024", date(2024, 12, 25), "Deliver by 3pm\nRing twice"),
    ("Hanukkah Cookie Swap 2024", date(2024, 12, 28), None),
    ("Mom's 70th Birthday 🎂", date(2025, 3, 14), None),
    ('Bake Sale — St. Mary\'s "Spring Fling"', date(2025, 4, 26), "Table 7, bring the float 💵"),
    ("Neighborhood Cookie Exchange 🍪 — 2023", date(2023, 12, 16), None),
)
"""name, date, notes."""

RECIPIENTS: tuple[tuple[str, str | None, str | None], ...] = (
    ("Aunt Zoë", "The O'Briens", "12 Main St\nApt 3"),
    ("Mr. José Núñez", None, None),
    ('Pat "Cookie" Lee', "Lee Household", None),
    ("Søren Kierkegaard Jr.", None, "Nørrebrogade 1, København"),
)
"""name, household, address."""

FINISHED_GOODS: tuple[tuple[str, str, str], ...] = (
    ("holiday-cookie-tin", "Holiday Cookie Tin", "HOLIDAY_SET"),
    ("sampler-box", "Sampler Box", "CUSTOM_ORDER"),
)
"""slug, display name, assembly type."""

LOCATIONS = ("Pantry", "Basement Fridge", "Freezer", "Spice Drawer")
SUPPLIERS = ("Costco", "Trader Joe's", "Mercado Brasil", "H Mart", "Whole Foods")

EVERYDAY_NOTES: tuple[str, ...] = (
    "Perfect batch",
    "Slightly overbaked edges",
    "Used convection at 325°F",
    "Doubled the vanilla",
    "Humid day — dough was sticky",
    "Cooled on the rack for 10 min",
    "Gave extras to the neighbors 🎁",
    "Rotated pans halfway",
    "Dough chilled overnight",
    "Edges browned fast; lower the temp next time",
    "For the school fair",
    "Tried brown butter — keeper!",
    "Oven ran hot, 2 trays a bit dark",
    "Ünïcödé ñ ß ø å",
    "Dropped a tray 😬",
    "Kids helped decorate 🧑‍🍳",
    "50% whole wheat, as an experiment",
)
"""Everyday run notes, drawn at random."""


@dataclass(frozen=True)
class _EdgeCase:
    """What one of the first runs must be; ``None`` fields are drawn at random as usual."""

    note: str | None = None
    note_is_null: bool = False
    event_linked: bool | None = None
    yield_kind: str | None = None  # "equal", "short", "zero", "over"
    batch_portion: bool | None = None
    recipe: str | None = None
    orm_consumptions: int | None = None  # ORM-style run with exactly this many consumptions
    zero_cost: bool = False
    whole_second: bool = False
    same_time_as_previous: bool = False


_NO_INGREDIENTS = RECIPES[7].name

EDGE_CASES: dict[int, _EdgeCase] = {
    1: _EdgeCase(
        note="Perfect batch 🎄🍪 — family 👨‍👩‍👧 approved 🇺🇸, thumbs 👍🏽",
        event_linked=True,
        yield_kind="equal",
    ),
    2: _EdgeCase(
        note="He said \"don't overbake\" and I didn't",
        event_linked=False,
        yield_kind="short",
        batch_portion=False,
    ),
    3: _EdgeCase(
        note="Path C:\\Users\\baker\\recipes\\cookies.txt and a trailing backslash \\",
        yield_kind="zero",
        recipe="Pfeffernüsse",
    ),
    4: _EdgeCase(note="Line one\nLine two\n\nLine four", batch_portion=True, event_linked=False),
    5: _EdgeCase(note_is_null=True, recipe=_NO_INGREDIENTS, yield_kind="equal"),
    6: _EdgeCase(
        note="Windows line endings\r\nsecond line",
        whole_second=True,
        recipe="Pão de Queijo",
        event_linked=True,
        yield_kind="short",
    ),
    7: _EdgeCase(note="Scraped the bowl: more than expected", yield_kind="over", batch_portion=False),
    8: _EdgeCase(note="", orm_consumptions=8, event_linked=True),
    9: _EdgeCase(note="Tab\tseparated\tnote", orm_consumptions=0, zero_cost=True, event_linked=False),
    10: _EdgeCase(note=LONG_NOTE, orm_consumptions=5, zero_cost=True, yield_kind="zero"),
    11: _EdgeCase(note="日本語のメモ: 抹茶クッキーは最高", recipe="抹茶 Matcha Shortbread"),
    12: _EdgeCase(note="Ünïcödé ñ ß ø å — “smart quotes” ‘single’", same_time_as_previous=True),
    13: _EdgeCase(note="SQL-ish: '); DROP TABLE production_runs; --", whole_second=True),
    14: _EdgeCase(note='{"json": "looking", "list": [1, 2.5, null]}', yield_kind="over", batch_portion=False),
    15: _EdgeCase(note_is_null=True, zero_cost=True, yield_kind="short", batch_portion=False),
}
"""Run id -> the edge case it carries (the fixture README's list, in the same spirit)."""


# ---------------------------------------------------------------------------------------------
# Row generation
# ---------------------------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    """A DATETIME as the app stores it: ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return moment.isoformat(sep=" ", timespec="microseconds")


def _catalogue_stamp(row_id: int) -> str:
    return _stamp(CATALOGUE_EPOCH + timedelta(minutes=row_id))


_UUID_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID_SET = (0x8000 << 48) | (4 << 76)


def uuid4_text(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, several times faster (it runs millions of times)."""
    h = "%032x" % ((bits & _UUID_CLEAR) | _UUID_SET)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _Uuids:
    """Version-4 UUID strings drawn from the seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits

    def __call__(self) -> str:
        return uuid4_text(self._bits(128))


@dataclass
class _Table:
    """Rows of one table, all with the same columns, in insertion order."""

    name: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, **values: Any) -> int:
        """Append a row with the next id and its audit columns; return the id."""
        unknown = set(values) - set(self.columns)
        if unknown:
            raise ValueError(f"{self.name} has no column {', '.join(sorted(unknown))}")
        row_id = len(self.rows) + 1
        values.setdefault("id", row_id)
        stamp = _catalogue_stamp(row_id)
        for audit in ("created_at", "updated_at", "date_added", "last_modified", "last_updated"):
            if audit in self.columns:
                values.setdefault(audit, stamp)
        self.rows.append(tuple(values.get(c) for c in self.columns))
        return row_id


@dataclass(frozen=True)
class _UnitPlan:
    """A finished unit as the production generator needs it."""

    id: int
    recipe_id: int
    items_per_batch: int | None
    recipe_name: str
    consumptions: tuple[tuple[str, float, str, float], ...]  # slug, qty per batch, unit, unit price


@dataclass
class _Catalogue:
    tables: list[_Table]
    units: list[_UnitPlan]
    event_ids: list[int]
    ingredients: list[tuple[str, str, float]]  # slug, unit, unit price


def _columns(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    return tuple(row[1] for row in conn.execute(f'PRAGMA table_info("{table}")'))


def _build_catalogue(conn: sqlite3.Connection, rng: random.Random, new_uuid: _Uuids) -> _Catalogue:
    """Every non-production row of the bakery, with ids in insertion order."""

    def table(name: str) -> _Table:
        return _Table(name, _columns(conn, name))

    units = table("units")
    for code, display, symbol, category, cefact, order in UNITS:
        units.add(
            code=code,
            display_name=display,
            symbol=symbol,
            category=category,
            un_cefact_code=cefact,
            sort_order=order,
            uuid=new_uuid(),
        )

    ingredients, products = table("ingredients"), table("products")
    purchases, inventory = table("purchase_history"), table("inventory_items")
    ingredient_ids: dict[str, int] = {}
    unit_price: dict[str, float] = {}
    for ing in INGREDIENTS:
        ing_id = ingredients.add(
            display_name=ing.display_name,
            slug=ing.slug,
            category=ing.category,
            is_packaging=0,
            notes=ing.notes,
            langual_terms="null",
            fdc_ids="null",
            allergens="null",
            uuid=new_uuid(),
        )
        ingredient_ids[ing.slug] = ing_id
        unit_price[ing.slug] = ing.package_price / ing.package_in_recipe_units
        product_id = products.add(
            ingredient_id=ing_id,
            brand=ing.brand,
            package_size=ing.package_size,
            package_unit=ing.package_unit,
            package_unit_quantity=ing.package_unit_quantity,
            preferred=1,
            uuid=new_uuid(),
        )
        for month in (9, 10):
            price = round(ing.package_price * rng.uniform(0.9, 1.1), 2) if ing.package_price else 0.0
            bought = rng.randint(1, 4)
            day = date(2023, month, rng.randint(1, 28))
            purchases.add(
                product_id=product_id,
                purchase_date=day.isoformat(),
                unit_cost=price,
                quantity_purchased=float(bought),
                total_cost=round(price * bought, 2),
                supplier=rng.choice(SUPPLIERS),
                uuid=new_uuid(),
            )
            inventory.add(
                product_id=product_id,
                quantity=round(bought * ing.package_unit_quantity * rng.random(), 3),
                unit_cost=round(price / ing.package_unit_quantity, 4),
                purchase_date=day.isoformat(),
                location=rng.choice(LOCATIONS),
                uuid=new_uuid(),
            )

    recipes, recipe_ingredients = table("recipes"), table("recipe_ingredients")
    finished_units = table("finished_units")
    plans: list[_UnitPlan] = []
    recipe_ids: list[int] = []
    for recipe in RECIPES:
        recipe_id = recipes.add(
            name=recipe.name,
            category=recipe.category,
            source=recipe.source,
            yield_quantity=float(recipe.units[0].items_per_batch or 1),
            yield_unit=recipe.units[0].item_unit or "batch",
            yield_description=recipe.yield_description,
            estimated_time_minutes=recipe.minutes,
            notes=recipe.notes,
            is_archived=0,
            uuid=new_uuid(),
        )
        recipe_ids.append(recipe_id)
        consumption: list[tuple[str, float, str, float]] = []
        for slug, quantity, note in recipe.ingredients:
            ing = INGREDIENTS[ingredient_ids[slug] - 1]
            recipe_ingredients.add(
                recipe_id=recipe_id,
                ingredient_id=ingredient_ids[slug],
                quantity=float(quantity),
                unit=ing.recipe_unit,
                notes=note,
                uuid=new_uuid(),
            )
            consumption.append((slug, float(quantity), ing.recipe_unit, unit_price[slug]))
        batch_cost = sum(q * price for _, q, _, price in consumption)
        for fu in recipe.units:
            portion = fu.batch_percentage / 100 if fu.items_per_batch is None else 1 / fu.items_per_batch
            fu_id = finished_units.add(
                slug=fu.slug,
                display_name=fu.display_name,
                recipe_id=recipe_id,
                yield_mode="DISCRETE_COUNT" if fu.items_per_batch else "BATCH_PORTION",
                items_per_batch=fu.items_per_batch,
                item_unit=fu.item_unit,
                batch_percentage=fu.batch_percentage,
                portion_description=fu.portion_description,
                unit_cost=batch_cost * portion,
                inventory_count=rng.randint(0, 120),
                category=recipe.category,
                notes=fu.notes,
                uuid=new_uuid(),
            )
            plans.append(_UnitPlan(fu_id, recipe_id, fu.items_per_batch, recipe.name, tuple(consumption)))

    events = table("events")
    event_ids = [
        events.add(name=name, event_date=day.isoformat(), year=day.year, notes=notes, uuid=new_uuid())
        for name, day, notes in EVENTS
    ]
    targets = table("event_production_targets")
    for event_id in event_ids:
        for recipe_id in sorted(rng.sample(recipe_ids, 2)):
            targets.add(
                event_id=event_id,
                recipe_id=recipe_id,
                target_batches=rng.randint(1, 5),
                notes=rng.choice((None, "Double batch", "Nut-free, please")),
                uuid=new_uuid(),
            )

    recipients = table("recipients")
    recipient_ids = [
        recipients.add(name=name, household_name=household, address=address, uuid=new_uuid())
        for name, household, address in RECIPIENTS
    ]
    goods, packages, package_goods = (
        table("finished_goods"),
        table("packages"),
        table("package_finished_goods"),
    )
    good_ids = [
        goods.add(
            slug=slug,
            display_name=name,
            assembly_type=kind,
            total_cost=0,
            inventory_count=0,
            notes="Tin #3 ✨" if kind == "HOLIDAY_SET" else None,
            uuid=new_uuid(),
        )
        for slug, name, kind in FINISHED_GOODS
    ]
    package_id = packages.add(name="Neighbor Gift Bag", description="Small bag", is_template=0, uuid=new_uuid())
    for quantity, good_id in enumerate(good_ids, start=1):
        package_goods.add(package_id=package_id, finished_good_id=good_id, quantity=quantity, uuid=new_uuid())
    deliveries = table("event_recipient_packages")
    for event_id, recipient_id in zip(event_ids, recipient_ids, strict=False):
        deliveries.add(
            event_id=event_id,
            recipient_id=recipient_id,
            package_id=package_id,
            quantity=rng.randint(1, 3),
            notes=rng.choice((None, "Leave at door")),
            status="PENDING",
            fulfillment_status="pending",
            uuid=new_uuid(),
        )

    all_tables = [
        units,
        ingredients,
        products,
        purchases,
        inventory,
        recipes,
        recipe_ingredients,
        finished_units,
        events,
        targets,
        recipients,
        goods,
        packages,
        package_goods,
        deliveries,
    ]
    price_list = [(ing.slug, ing.recipe_unit, unit_price[ing.slug]) for ing in INGREDIENTS]
    return _Catalogue(all_tables, plans, event_ids, price_list)


class _RunGenerator:
    """Production runs and their consumptions, in id order, in bounded chunks."""

    RUN_COLUMNS = (
        "id",
        "recipe_id",
        "finished_unit_id",
        "event_id",
        "num_batches",
        "expected_yield",
        "actual_yield",
        "produced_at",
        "notes",
        "total_ingredient_cost",
        "per_unit_cost",
        "uuid",
        "created_at",
        "updated_at",
    )
    CONSUMPTION_COLUMNS = (
        "id",
        "production_run_id",
        "ingredient_slug",
        "quantity_consumed",
        "unit",
        "total_cost",
        "uuid",
        "created_at",
        "updated_at",
    )

    def __init__(self, rng: random.Random, new_uuid: _Uuids, catalogue: _Catalogue, runs: int) -> None:
        self.rng = rng
        self.new_uuid = new_uuid
        self.catalogue = catalogue
        self.runs = runs
        self.consumption_id = 0
        by_recipe: dict[int, list[_UnitPlan]] = {}
        for unit in catalogue.units:
            by_recipe.setdefault(unit.recipe_id, []).append(unit)
        self.units_by_recipe = list(by_recipe.values())
        self.previous_produced_at = PERIOD_START
        # produced_at: each run owns one time slot; slot = (id * stride + shift) mod runs scrambles them,
        # so produced_at order differs from id order and no two runs share a moment by accident.
        slots = max(runs, 1)
        self.slots = slots
        self.slot_us = (PERIOD_END - PERIOD_START) // timedelta(microseconds=1) // slots
        stride = max(1, int(slots * 0.6180339887))
        while gcd(stride, slots) != 1:
            stride += 1
        self.stride = stride
        self.shift = rng.randrange(slots)

    def chunks(self, size: int = CHUNK_RUNS) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """Yield ``(runs, consumptions)`` row lists of at most ``size`` runs each."""
        for start in range(1, self.runs + 1, size):
            run_rows: list[tuple[Any, ...]] = []
            consumption_rows: list[tuple[Any, ...]] = []
            for run_id in range(start, min(start + size, self.runs + 1)):
                self._run(run_id, run_rows, consumption_rows)
            yield run_rows, consumption_rows

    def _pick_unit(self, case: _EdgeCase | None) -> _UnitPlan:
        if case is not None and (case.recipe or case.batch_portion is not None):
            units = [
                u
                for u in self.catalogue.units
                if (case.recipe is None or u.recipe_name == case.recipe)
                and (case.batch_portion is None or (u.items_per_batch is None) == case.batch_portion)
            ]
            return self.rng.choice(units)
        # A recipe first, then one of its finished units: every recipe is baked about as often.
        return self.rng.choice(self.rng.choice(self.units_by_recipe))

    def _produced_at(self, run_id: int, case: _EdgeCase | None) -> datetime:
        if case is not None and case.same_time_as_previous:
            return self.previous_produced_at
        rng = self.rng
        slot = (run_id * self.stride + self.shift) % self.slots
        offset = slot * self.slot_us + rng.randrange(self.slot_us)
        if (case is not None and case.whole_second) or rng.random() < 0.02:
            offset -= offset % 1_000_000
        return PERIOD_START + timedelta(microseconds=offset)

    def _actual_yield(self, expected: int, case: _EdgeCase | None) -> int:
        rng = self.rng
        kind = case.yield_kind if case is not None else None
        if kind is None:
            draw = rng.random()
            kind = "zero" if draw < 0.03 else "short" if draw < 0.18 else "over" if draw < 0.2 else "equal"
        if kind == "zero":
            return 0
        if kind == "over":
            return expected + rng.randint(1, 3)
        if kind == "short" and expected > 1:
            return rng.randint(max(1, expected // 3), expected - 1)
        return expected

    def _note(self, case: _EdgeCase | None) -> str | None:
        if case is not None and (case.note is not None or case.note_is_null):
            return case.note
        draw = self.rng.random()
        if draw < 0.3:
            return None
        if draw < 0.33:
            return ""
        return self.rng.choice(EVERYDAY_NOTES)

    def _run(self, run_id: int, run_rows: list[tuple[Any, ...]], consumption_rows: list[tuple[Any, ...]]) -> None:
        rng = self.rng
        case = EDGE_CASES.get(run_id)
        unit = self._pick_unit(case)
        draw = rng.random()
        num_batches = 1 if draw < 0.5 else 2 if draw < 0.8 else 3 if draw < 0.95 else 4
        expected = num_batches * unit.items_per_batch if unit.items_per_batch else num_batches
        actual = self._actual_yield(expected, case)
        linked = case.event_linked if case is not None and case.event_linked is not None else rng.random() < 0.6
        event_id = rng.choice(self.catalogue.event_ids) if linked else None
        produced_at = self._produced_at(run_id, case)
        self.previous_produced_at = produced_at
        note = self._note(case)
        zero_cost = (case.zero_cost if case is not None else False) or rng.random() < 0.03
        orm_count = case.orm_consumptions if case is not None else None
        if orm_count is None and rng.random() < 0.15:
            orm_count = rng.randint(0, 8)
        stamp = _stamp(produced_at + AUDIT_DELAY)

        if orm_count is not None:
            # Written through the ORM: exact 4-decimal costs, ingredients not tied to the recipe.
            lines = []
            for slug, unit_name, _ in rng.sample(self.catalogue.ingredients, orm_count):
                quantity = round(rng.uniform(1, 1000), 3)
                cost = 0.0 if zero_cost or rng.random() < 0.1 else round(rng.uniform(0.05, 25), 4)
                lines.append((slug, quantity, unit_name, cost))
            total = round(sum(cost for *_, cost in lines), 4)
            per_unit = round(total / actual, 4) if actual else 0.0
        else:
            # Written by record_batch_production: unrounded costs, recipe ingredients times batches.
            lines = [
                (
                    slug,
                    quantity * num_batches,
                    unit_name,
                    0.0 if zero_cost else quantity * num_batches * price,
                )
                for slug, quantity, unit_name, price in unit.consumptions
            ]
            total = sum(cost for *_, cost in lines)
            per_unit = total / actual if actual else 0.0

        new_uuid = self.new_uuid
        run_rows.append(
            (
                run_id,
                unit.recipe_id,
                unit.id,
                event_id,
                num_batches,
                expected,
                actual,
                _stamp(produced_at),
                note,
                total,
                per_unit,
                new_uuid(),
                stamp,
                stamp,
            )
        )
        for slug, quantity, unit_name, cost in lines:
            self.consumption_id += 1
            consumption_rows.append(
                (self.consumption_id, run_id, slug, quantity, unit_name, cost, new_uuid(), stamp, stamp)
            )


# ---------------------------------------------------------------------------------------------
# Writing the file
# ---------------------------------------------------------------------------------------------


def _insert(conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    if rows:
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        conn.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)


def _check_target(target: Path, runs: int, force: bool) -> None:
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 0:
        raise MigrationError(f"--runs must be a whole number of 0 or more, not {runs!r}")
    if target.is_dir():
        raise MigrationError(f"{target}: is a folder, not a database file")
    if target.exists() and not force:
        raise MigrationError(f"{target}: already exists (use --force to replace it)")
    refuse_output_over(target, [app_database()], "DB")  # a rehearsal never replaces the baker's own file
    folder = target.parent
    if not folder.is_dir():
        raise MigrationError(f"{target}: the folder {folder} does not exist")


def _fill(conn: sqlite3.Connection, runs: int, seed: int, show_progress: bool) -> int:
    """Create the schema and every row in one transaction; return the number of consumptions."""
    statements = app_schema_statements("0.6")
    creates = [s for s in statements if s.startswith("CREATE TABLE")]
    indexes = [s for s in statements if not s.startswith("CREATE TABLE")]
    rng = random.Random(seed)
    new_uuid = _Uuids(rng)
    conn.execute("BEGIN")
    for statement in creates:
        conn.execute(statement)
    catalogue = _build_catalogue(conn, rng, new_uuid)
    for table in catalogue.tables:
        _insert(conn, table.name, table.columns, table.rows)
    generator = _RunGenerator(rng, new_uuid, catalogue, runs)
    with progress_bar("creating production runs", runs, enabled=show_progress) as advance:
        for run_rows, consumption_rows in generator.chunks():
            _insert(conn, "production_runs", _RunGenerator.RUN_COLUMNS, run_rows)
            _insert(conn, "production_consumptions", _RunGenerator.CONSUMPTION_COLUMNS, consumption_rows)
            advance(len(run_rows))
    # Indexes last: building them once over the data is much faster than updating them per row.
    for statement in indexes:
        conn.execute(statement)
    conn.execute("COMMIT")
    return generator.consumption_id


def _count_rows(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in user_tables(conn)}


def demo(
    path: str | os.PathLike[str],
    runs: int = 200,
    seed: int = 1,
    force: bool = False,
    *,
    progress: bool = True,
) -> DemoSummary:
    """Create a sample bake-tracker v0.6 database at ``path`` with ``runs`` production runs.

    The file is built beside ``path`` and renamed into place only when complete, in
    ``journal_mode=DELETE`` with no ``-wal``/``-shm`` file. With ``progress``, databases of
    `PROGRESS_THRESHOLD` runs or more show a progress bar on a terminal.

    Raises:
        MigrationError: ``path`` exists (without ``force``), its folder is missing, or ``runs < 0``.
    """
    target = Path(path)
    _check_target(target, runs, force)
    show_progress = progress and runs >= PROGRESS_THRESHOLD
    with temporary_beside(target) as tmp:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("PRAGMA synchronous=OFF")  # durability comes from the fsync before the rename
            conn.execute("PRAGMA foreign_keys=ON")
            consumptions = _fill(conn, runs, seed, show_progress)
            problems = conn.execute("PRAGMA foreign_key_check").fetchmany(1)
            if problems:
                raise MigrationError(f"{target}: the sample data breaks a foreign key ({problems[0]})")
            counts = _count_rows(conn)
        except sqlite3.Error as exc:
            raise MigrationError(f"{target}: cannot create the demo database ({exc})") from None
        finally:
            conn.close()
        if target.exists() and not force:
            raise MigrationError(f"{target}: already exists (use --force to replace it)")
        rename_over(tmp, target)
    return DemoSummary(path=target, runs=runs, consumptions=consumptions, seed=seed, table_counts=counts)

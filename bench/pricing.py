"""Benchmark of `price_cart`: how its cost grows with cart lines and promotions.

A grid of carts (5, 50 and 500 lines) is priced against 1, 20 and 200
promotions, first with promotions and tax only, then with shipping priced
too. Every cell of a grid is timed side by side with the others, as in
`bench.kernel`: each round times one batch of every cell, in an order that
rotates from round to round, with the garbage collector paused and the inputs
built before the clock starts; a cell's time is its best batch.

The figures are ratios of cells measured in the same run: the growth with
lines at a fixed number of promotions, with promotions at a fixed number of
lines, and of the time per line × promotion along the diagonal. The aim is
cost near linear in lines × promotions: each step may cost at most
1.5 times its size (a tenfold step at most 15x).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.kernel import Figure, Race, Section, Settings, _at_most, _exactly, _gc_paused
from fourflows.commerce.cart import Cart, CartLine, Channel, Customer, PricingContext
from fourflows.commerce.catalog import Product
from fourflows.commerce.coupons import Coupon
from fourflows.commerce.pricing import Quote, price_cart
from fourflows.commerce.promotions import (
    BundlePrice,
    BuyXGetY,
    Clearance,
    FixedAmountOff,
    FlashSale,
    FlashSaleSales,
    FreeShippingPromotion,
    PercentageOff,
    Promotion,
    SpendThreshold,
    SpendTier,
)
from fourflows.geo import Address
from fourflows.logistics.shipping import ShippingTable
from fourflows.money import Money
from fourflows.tax import TaxTable

__all__ = [
    "FULL_PLAN",
    "QUICK_PLAN",
    "Case",
    "Context",
    "PricingPlan",
    "build_case",
    "catalogue",
    "plan_for",
    "promotions",
    "run_pricing",
]

# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class PricingPlan:
    """The grid and how much timing each cell gets."""

    lines: tuple[int, int, int]
    promotions: tuple[int, int, int]
    rounds: int  # timed batches per cell
    batch_ms: float  # each batch prices enough quotes to take about this long
    peer: tuple[int, int] = (20, 5)  # the cart the peer comparison is about


FULL_PLAN = PricingPlan(lines=(5, 50, 500), promotions=(1, 20, 200), rounds=5, batch_ms=50.0)
# A smaller grid, so that a smoke run takes a couple of seconds.
QUICK_PLAN = PricingPlan(lines=(4, 20, 100), promotions=(1, 10, 50), rounds=2, batch_ms=2.0)

STEP_SLACK = 1.5  # a step in size may cost at most this many times its size
PEER_MS = "110–130 ms"


def plan_for(settings: Settings) -> PricingPlan:
    """The pricing plan of a kernel run's settings: quick for the quick run, else full."""
    return QUICK_PLAN if settings.name == "quick" else FULL_PLAN


# --------------------------------------------------------------------------- fixtures

AT = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # noon in Taipei
CONTEXT = PricingContext(
    at=AT,
    customer=Customer(id="cust-0001", tier="silver", groups={"newsletter"}),
    channel=Channel.WEB,
)
TAX = TaxTable.preset("TW")
TABLE = ShippingTable.example_taiwan()
SHIP_TO = Address(country="TW", region="TW-TPE", postal_code="106", city="Taipei")
CATEGORIES = (
    "apparel",
    "shoes",
    "home",
    "kitchen",
    "books",
    "toys",
    "beauty",
    "snacks",
    "stationery",
    "outdoor",
)
WINDOW = (AT - timedelta(hours=2), AT + timedelta(hours=2))
PAST = (AT - timedelta(days=10), AT - timedelta(days=9))


def twd(amount: int) -> Money:
    return Money(amount, "TWD")


def sku(index: int) -> str:
    return f"SKU-{index:04d}"


def catalogue(count: int) -> list[Product]:
    """``count`` products with varied prices, weights, sizes, categories and tax categories."""
    products = []
    for i in range(count):
        category = CATEGORIES[i % len(CATEGORIES)]
        products.append(
            Product(
                sku=sku(i),
                name=f"{category.title()} item {i}",
                price=twd(99 + (i * 37 % 30) * 50),
                tax_category="zero" if category == "books" else "standard",
                weight_g=100 + (i * 53 % 20) * 50,
                size_cm=(10 + i % 20, 8 + i % 10, 2 + i % 5),
                categories={category, "sale"} if i % 4 == 0 else {category},
            )
        )
    return products


def cart_of(products: Sequence[Product]) -> Cart:
    """One line per product, 1 to 3 units each (distinct products, so what `Cart.add` builds)."""
    lines = tuple(
        CartLine(product=product, quantity=1 + i % 3) for i, product in enumerate(products)
    )
    return Cart("TWD", lines)


def _spread(j: int) -> frozenset[str]:
    """Three skus: one among the first 5 lines, one among 5–49, one among 50–499.

    So a sku-targeted promotion touches a line of every cart, two of a 50-line
    cart and three of a 500-line cart.
    """
    return frozenset({sku(j * 3 % 5), sku(5 + j * 7 % 45), sku(50 + j * 37 % 450)})


def _category(j: int) -> str:
    return CATEGORIES[j * 3 % len(CATEGORIES)]


def _promotion(j: int, products: Sequence[Product]) -> tuple[Promotion, Coupon | None]:
    """The ``j``-th promotion of the mix, and the coupon it needs, if any.

    The mix cycles through twenty kinds; a shop with 200 promotions has ten of
    each. Some need a coupon, some are out of their window, channel or member
    tier, some are blocked by a group or by exclusivity; most target skus or
    categories that are in the cart.
    """
    kind = j % 20
    pid = f"p{j:03d}"
    price = {product.sku: product.price.amount for product in products}
    if kind == 0:
        return SpendThreshold(
            id=pid,
            label="滿額折",
            tiers=[(twd(1000), twd(100)), (twd(3000), twd(350)), (twd(10000), twd(1500))],
            group="spend",
        ), None
    if kind == 1:
        return PercentageOff(id=pid, percent=10 + j % 3 * 5, skus=_spread(j)), None
    if kind == 2:
        return FixedAmountOff(id=pid, amount=twd(50), categories={_category(j)}), None
    if kind == 3:
        return BuyXGetY(id=pid, buy=2, get=1, categories={_category(j)}, max_times=5), None
    if kind == 4:
        first, second = sku(j % 5), sku((j + 1) % 5)
        worth = int(price[first] + price[second])
        return BundlePrice(id=pid, items=[first, second], price=twd(worth * 4 // 5)), None
    if kind == 5:
        starts, ends = WINDOW if j % 40 == 5 else PAST
        return FlashSale(
            id=pid,
            skus=_spread(j),
            price=twd(49),
            starts_at=starts,
            ends_at=ends,
            cap=500,
            per_order=3,
        ), None
    if kind == 6:
        return Clearance(id=pid, skus=_spread(j), percent=30), None
    if kind == 7:
        return FreeShippingPromotion(
            id=pid, label="免運", min_spend=twd(1500 + 500 * (j // 20)), group="free-shipping"
        ), None
    if kind == 8:
        coupon = Coupon(code=f"SAVE{j:03d}", promotion_id=pid)
        return PercentageOff(
            id=pid, percent=15, categories={_category(j)}, requires_coupon=True
        ), coupon
    if kind == 9:
        return FixedAmountOff(
            id=pid, amount=twd(20), per_unit=True, skus=_spread(j), exclude_clearance=True
        ), None
    if kind == 10:
        return SpendThreshold(
            id=pid, every=twd(500), off=twd(50), max_times=5, categories={_category(j)}
        ), None
    if kind == 11:  # app only: ineligible on the web
        return PercentageOff(id=pid, percent=20, skus=_spread(j), channels={"app"}), None
    if kind == 12:  # gold members only: the customer is silver
        return FixedAmountOff(
            id=pid, amount=twd(200), categories={_category(j)}, member_tiers={"gold"}
        ), None
    if kind == 13:  # ended last week
        return PercentageOff(
            id=pid, percent=25, categories={"sale"}, starts_at=PAST[0], ends_at=PAST[1]
        ), None
    if kind == 14:
        return BuyXGetY(id=pid, buy=1, get=1, percent=50, skus=_spread(j)), None
    if kind == 15:
        return Clearance(id=pid, categories={_category(j + 1)}, price=twd(149)), None
    if kind == 16:  # outlying islands only: the cart ships to Taipei
        return FreeShippingPromotion(id=pid, regions={"TW-PEN", "TW-KIN"}), None
    if kind == 17:
        coupon = Coupon(code=f"VIP{j:03d}", promotion_id=pid, min_spend=twd(2000))
        return FixedAmountOff(id=pid, amount=twd(150), requires_coupon=True), coupon
    if kind == 18:
        tier = SpendTier(spend=twd(2000), percent=5)
        return SpendThreshold(id=pid, tiers=[tier], categories={"sale"}, group="spend"), None
    # kind 19: exclusive, late in the cart stage, so blocked by the promotions before it
    return PercentageOff(id=pid, percent=30, exclusive=True, priority=900), None


def promotions(count: int, products: Sequence[Product]) -> tuple[list[Promotion], list[Coupon]]:
    """The first ``count`` promotions of the mix, and the coupons they need."""
    made = [_promotion(j, products) for j in range(count)]
    return [promotion for promotion, _ in made], [c for _, c in made if c is not None]


@dataclass(frozen=True)
class Case:
    """Everything one quote needs, built before the clock starts."""

    lines: int
    count: int
    cart: Cart
    promotions: tuple[Promotion, ...]
    coupons: tuple[Coupon, ...]
    codes: tuple[str, ...]
    flash_sales: FlashSaleSales
    shipping: ShippingTable | None
    ship_to: Address | None

    def quote(self) -> Quote:
        return price_cart(
            self.cart,
            context=CONTEXT,
            tax=TAX,
            promotions=self.promotions,
            coupon_codes=self.codes,
            coupons=self.coupons,
            flash_sales=self.flash_sales,
            shipping=self.shipping,
            ship_to=self.ship_to,
        )


def build_case(
    lines: int, count: int, *, shipping: bool, products: Sequence[Product] | None = None
) -> Case:
    """A ``lines``-line cart against ``count`` promotions; ``shipping`` adds a table and address.

    The customer enters the codes of the first two coupons and one unknown code.
    """
    stock = list(products) if products is not None else catalogue(max(lines, 10))
    made, coupons = promotions(count, stock)
    codes = (*(coupon.code for coupon in coupons[:2]), "NOSUCHCODE")
    sold = {p.id: 120 for p in made if isinstance(p, FlashSale)}
    return Case(
        lines=lines,
        count=count,
        cart=cart_of(stock[:lines]),
        promotions=tuple(made),
        coupons=tuple(coupons),
        codes=codes,
        flash_sales=FlashSaleSales(sold=sold),
        shipping=TABLE if shipping else None,
        ship_to=SHIP_TO if shipping else None,
    )


def _fingerprint(quote: Quote) -> tuple[object, ...]:
    """What must come out the same every time the same case is priced."""
    return (
        quote.total,
        quote.discount_total,
        quote.tax_total,
        quote.shipping_fee,
        len(quote.adjustments),
        len(quote.promotions.blocked),
        len(quote.shipping_options),
    )


# --------------------------------------------------------------------------- timing


@dataclass(frozen=True)
class Context(Figure):
    """An absolute time per quote, shown as context: no aim, never a claim."""

    @property
    def shown(self) -> str:
        return f"{self.value:,.2f} ms"


@dataclass(frozen=True)
class Cell:
    """One timed contender: a case and its name in the race."""

    name: str
    case: Case


@dataclass(frozen=True)
class Timed:
    """What the race saw: per-quote times, the first quote of each cell, and the checks."""

    race: Race
    first: dict[str, Quote]
    changed: list[str]


def _race(cells: Sequence[Cell], plan: PricingPlan) -> Timed:
    """Time rounds of batches of every cell, rotating the order, checking every batch's quote.

    One quote of each cell, untimed by the figures, warms it up and sizes its
    batch: as many quotes as take about ``plan.batch_ms``, at least one. A quote
    leaves no cyclic garbage (checked when this was written: gc.collect() after
    quotes priced with gc paused finds nothing), so one collection up front
    keeps every batch free of gc pauses, as in `bench.kernel`.
    """
    first: dict[str, Quote] = {}
    batches: dict[str, int] = {}
    gc.collect()
    for cell in cells:
        with _gc_paused():
            start = time.perf_counter_ns()
            first[cell.name] = cell.case.quote()
            took = time.perf_counter_ns() - start
        batches[cell.name] = max(1, round(plan.batch_ms * 1e6 / max(took, 1)))
    samples: dict[str, list[float]] = {cell.name: [] for cell in cells}
    changed: list[str] = []
    for round_ in range(plan.rounds):
        turn = round_ % len(cells)
        for cell in (*cells[turn:], *cells[:turn]):
            count = batches[cell.name]
            quote = first[cell.name]
            with _gc_paused():
                start = time.perf_counter_ns()
                for _ in range(count):
                    quote = cell.case.quote()
                elapsed = time.perf_counter_ns() - start
            samples[cell.name].append(elapsed / count)
            if _fingerprint(quote) != _fingerprint(first[cell.name]) and cell.name not in changed:
                changed.append(cell.name)
    return Timed(Race(samples), first, changed)


# --------------------------------------------------------------------------- sections


def _name(lines: int, count: int) -> str:
    return f"{lines}x{count}"


def _lines(n: int) -> str:
    return f"{n} line" if n == 1 else f"{n} lines"


def _promos(n: int) -> str:
    return f"{n} promotion" if n == 1 else f"{n} promotions"


def _ms(ns: float) -> str:
    ms = ns / 1e6
    return f"{ms:,.3f}" if ms < 10 else f"{ms:,.1f}"


def _step(key: str, label: str, race: Race, big: str, small: str, size: float) -> Figure:
    """``big`` against ``small``, a step ``size`` times larger: aim at most STEP_SLACK × size."""
    detail = f"{race.detail(big, small)}; proportional: {size:g}x"
    return _at_most(key, label, race.ratio(big, small), STEP_SLACK * size, detail)


VARIANTS = {
    "tax": (
        "4. Pricing a cart: promotions and tax",
        "price_cart with TaxTable.preset('TW') (prices include 5% tax; books zero-rated), "
        "no shipping.",
    ),
    "ship": (
        "5. Pricing a cart: promotions, tax and shipping",
        "price_cart with TaxTable.preset('TW'), ShippingTable.example_taiwan() and a Taipei "
        "ship_to: every service packs the cart's units into parcels (first-fit decreasing) "
        "once and is priced with the best free-shipping offer won.",
    ),
}
MIX = (
    "Carts of distinct products, 1 to 3 units a line, in 10 categories, against the first "
    "promotions of a 20-kind mix (200 promotions hold ten of each): tiered, repeating and "
    "percentage spend thresholds; percentage and fixed off on skus, categories and the cart; "
    "fixed off per unit; buy 2 get 1 and buy 1 get 1 at 50%; 2-sku bundles; flash sales "
    "(half of them out of their window); clearance by percent and by price; free shipping "
    "by spend (one group) and to the islands; two coupon-only kinds (the customer enters the first "
    "two codes and an unknown one); ones ineligible by channel, member tier or window; a "
    "late exclusive one. Sku-targeted promotions name a sku among the first 5, the first 50 "
    "and the first 500 lines, so they touch 1, 2 and 3 lines of the three carts; category "
    "ones about a tenth of the lines."
)


def bench_variant(variant: str, plan: PricingPlan) -> Section:
    """One grid of lines × promotions, timed side by side, with its ratios and checks."""
    title, what = VARIANTS[variant]
    shipping = variant == "ship"
    small, mid, large = plan.lines
    p_small, p_mid, p_large = plan.promotions
    products = catalogue(max(*plan.lines, plan.peer[0]))
    grid = [(lines, count) for lines in plan.lines for count in plan.promotions]
    cells = [
        Cell(_name(lines, count), build_case(lines, count, shipping=shipping, products=products))
        for lines, count in dict.fromkeys((*grid, plan.peer))  # the peer may be in the grid
    ]
    timed = _race(cells, plan)
    race = timed.race

    def best(lines: int, count: int) -> float:
        return race.best(_name(lines, count))

    section = Section(
        key=f"pricing.{variant}",
        title=title,
        method="",
        header=("cart", *(_promos(count) for count in plan.promotions)),
    )
    section.rows += [
        (f"{_lines(lines)}: ms per quote", *(_ms(best(lines, c)) for c in plan.promotions))
        for lines in plan.lines
    ]
    section.rows += [
        (
            f"{_lines(lines)}: µs per line × promotion",
            *(f"{best(lines, c) / (lines * c) / 1000:,.2f}" for c in plan.promotions),
        )
        for lines in plan.lines
    ]
    for count in plan.promotions:
        for low, high in ((small, mid), (mid, large)):
            section.figures.append(
                _step(
                    f"pricing.{variant}.lines.{low}-{high}.p{count}",
                    f"t({_lines(high)}) / t({_lines(low)}), {_promos(count)}",
                    race,
                    _name(high, count),
                    _name(low, count),
                    high / low,
                )
            )
    for lines in plan.lines:
        for low, high in ((p_small, p_mid), (p_mid, p_large)):
            section.figures.append(
                _step(
                    f"pricing.{variant}.promotions.{low}-{high}.l{lines}",
                    f"t({_promos(high)}) / t({_promos(low)}), {_lines(lines)}",
                    race,
                    _name(lines, high),
                    _name(lines, low),
                    high / low,
                )
            )
    for (l0, c0), (l1, c1) in (((small, p_small), (mid, p_mid)), ((mid, p_mid), (large, p_large))):
        per_big = best(l1, c1) / (l1 * c1)
        per_small = best(l0, c0) / (l0 * c0)
        section.figures.append(
            _at_most(
                f"pricing.{variant}.per_unit.{_name(l0, c0)}-{_name(l1, c1)}",
                f"t/(lines × promotions): {l1}×{c1} / {l0}×{c0}",
                per_big / per_small,
                STEP_SLACK,
                f"{per_big / 1000:,.2f} µs vs {per_small / 1000:,.2f} µs per line × promotion",
            )
        )
    peer_lines, peer_count = plan.peer
    section.figures.append(
        Context(
            f"pricing.{variant}.peer",
            f"{_lines(peer_lines)}, {_promos(peer_count)}: ms per quote",
            best(peer_lines, peer_count) / 1e6,
            "ms",
            "context",
            None,
            f"absolute, not a ratio: a Django-based peer takes about {PEER_MS} for this cart "
            "on this machine (the project's issue; not measured in this run)",
        )
    )
    section.figures.append(
        _exactly(
            f"pricing.{variant}.changed",
            "cells whose quote changed between rounds",
            len(timed.changed),
            0,
        )
    )
    idle = [name for name, quote in timed.first.items() if not quote.adjustments]
    section.figures.append(
        _exactly(f"pricing.{variant}.idle", "cells where no promotion applied", len(idle), 0)
    )
    if shipping:
        unshipped = [name for name, quote in timed.first.items() if quote.shipping is None]
        section.figures.append(
            _exactly(
                "pricing.ship.unshipped",
                "cells quoted without a shipping option",
                len(unshipped),
                0,
            )
        )
    section.method = _method(what, timed, plan, _name(large, p_large), shipping)
    return section


def _method(what: str, timed: Timed, plan: PricingPlan, largest: str, shipping: bool) -> str:
    quote = timed.first[largest]
    result = quote.promotions
    parcels = sum(len(choice.option.parcels) for choice in quote.shipping_options)
    shipped = (
        f", {len(quote.shipping_options)} shipping options with {parcels} parcels between them"
        if quote.shipping_options
        else ""
    )
    counts = (
        f"In the {largest.replace('x', '×')} cell {len(result.adjustments)} promotions "
        f"applied, {len(result.blocked)} were blocked by a group or exclusivity, "
        f"{len(result.free_shipping)} free-shipping offer(s) won and "
        f"{len(result.rejected_coupons)} code(s) rejected{shipped}."
    )
    if shipping:
        return f"{what} Carts, promotions, timing and aim as in section 4. {counts}"
    return (
        f"{what} {MIX} {counts} Each of {plan.rounds} rounds times a batch of every cell "
        f"(about {plan.batch_ms:g} ms of quotes, or one quote when that takes longer), cells "
        "rotated each round, gc paused, inputs built untimed; a cell's time is its best "
        "batch. Every batch's last quote is checked to equal the cell's first. Aim: near "
        "linear in lines × promotions — a step in size costs at most "
        f"{STEP_SLACK:g} times the step."
    )


def run_pricing(settings: Settings) -> list[Section]:
    """The pricing sections for ``settings``: promotions and tax, then with shipping."""
    plan = plan_for(settings)
    return [bench_variant(variant, plan) for variant in VARIANTS]

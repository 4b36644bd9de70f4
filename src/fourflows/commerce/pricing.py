"""`price_cart`: one call from a cart to a quote a customer can be shown.

It runs the pure calculators in a fixed order and keeps every figure:

1. promotions (`fourflows.commerce.promotions`): markdowns, item and cart
   discounts, allocated to lines and units, and the free shipping won;
2. shipping (`fourflows.logistics.shipping`): every eligible service with its
   fee, priced on the units' net value, with the free-shipping offer won that
   waives the most of that service's fee (the first won on a tie); the chosen
   service is the one asked for, else the cheapest;
3. delivery promises (`fourflows.logistics.promise`) for each option, when an
   origin is given;
4. tax (`fourflows.tax`) on the discounted lines and the chosen shipping fee.

The same input always gives the same quote. `Quote.explain` shows it to a
customer, a merchant or a student, in English or Traditional Chinese, and
`Quote.to_json` gives its JSON form (schema: `QuoteDocument`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal

import attrs
from pydantic import BaseModel, ConfigDict

from fourflows.commerce.cart import Cart, PricingContext
from fourflows.commerce.coupons import Coupon, CouponRejection, CouponUsage
from fourflows.commerce.promotions import (
    Adjustment,
    FlashSaleSales,
    LinePricing,
    Promotion,
    PromotionResult,
    apply_promotions,
)
from fourflows.errors import InvalidInput, NotEligible
from fourflows.geo import Address
from fourflows.logistics.promise import DeliveryWindow, Origin, promise_window
from fourflows.logistics.shipping import (
    ShipmentItem,
    ShippingOption,
    ShippingTable,
    rate_shop,
)
from fourflows.money import Money, MoneyField, Precision, allocate, format_money, round_money
from fourflows.tax import LineTax, PriceMode, TaxLine, TaxProvider, TaxRequest, TaxResult

__all__ = ["Quote", "QuoteDocument", "QuoteLine", "ShippingChoice", "price_cart"]

Language = Literal["en", "zh_TW"]


@attrs.frozen(kw_only=True)
class QuoteLine:
    """A cart line as quoted: prices, discounts, tax, and what each unit pays.

    ``list_price`` is the line's unit price before promotions, ``subtotal``
    that times the quantity; ``discount`` is every markdown and discount on
    the line and ``amount = subtotal - discount`` what it costs in the
    shop's price mode. ``unit_amounts`` split ``amount`` over the units and
    ``unit_taxes`` split ``tax`` the same way: a refund of one unit returns
    exactly its share.
    """

    index: int
    sku: str
    name: str
    quantity: int
    list_price: Money
    subtotal: Money
    discount: Money
    amount: Money
    unit_amounts: tuple[Money, ...]
    tax_category: str
    tax_rate: Decimal
    net: Money
    tax: Money
    gross: Money
    unit_taxes: tuple[Money, ...]


@attrs.frozen(kw_only=True)
class ShippingChoice:
    """A shipping option with the delivery window it lets the shop promise."""

    option: ShippingOption
    promise: DeliveryWindow | None = None


@attrs.frozen(kw_only=True)
class Quote:
    """The priced cart: lines, adjustments, shipping options, tax and totals.

    ``total`` is what the customer pays: goods after discounts plus the
    chosen shipping, tax included. ``shipping`` is the chosen option (None
    when nothing ships: no table, no address, or no eligible service, see
    ``ineligible_shipping``).
    """

    currency: str
    mode: PriceMode
    context: PricingContext
    ship_to: Address | None
    lines: tuple[QuoteLine, ...]
    promotions: PromotionResult
    shipping_options: tuple[ShippingChoice, ...]
    ineligible_shipping: tuple[NotEligible, ...]
    shipping: ShippingChoice | None
    tax: TaxResult

    @property
    def adjustments(self) -> tuple[Adjustment, ...]:
        """Every promotion's effect, in the order they ran."""
        return self.promotions.adjustments

    @property
    def rejected_coupons(self) -> tuple[CouponRejection, ...]:
        """Coupon codes that could not be used, each with its reason."""
        return self.promotions.rejected_coupons

    @property
    def subtotal(self) -> Money:
        """The lines at their list prices."""
        return self.promotions.subtotal

    @property
    def discount_total(self) -> Money:
        """Every markdown and discount on the goods."""
        return self.promotions.discount_total

    @property
    def goods_total(self) -> Money:
        """The goods after discounts, in the price mode."""
        return self.promotions.net_total

    @property
    def shipping_fee(self) -> Money:
        """The chosen shipping option's fee (zero when nothing ships)."""
        if self.shipping is None:
            return Money(0, self.currency)
        return self.shipping.option.fee

    @property
    def tax_total(self) -> Money:
        """The tax on goods and shipping."""
        return self.tax.tax

    @property
    def total(self) -> Money:
        """What the customer pays."""
        return self.tax.gross

    def explain(self, language: Language = "en") -> str:
        """A readable breakdown: each line, each adjustment with its reason, shipping, tax."""
        return _explain(self, language)

    def document(self) -> QuoteDocument:
        """The quote as its pydantic boundary model."""
        return _document(self)

    def to_json(self) -> dict[str, Any]:
        """The quote's JSON form (money as ``{"amount": "…", "currency": "…"}``)."""
        return self.document().model_dump(mode="json")


def price_cart(
    cart: Cart,
    *,
    context: PricingContext,
    tax: TaxProvider,
    promotions: Sequence[Promotion] = (),
    coupon_codes: Sequence[str] = (),
    coupons: Sequence[Coupon] = (),
    usage: CouponUsage | None = None,
    flash_sales: FlashSaleSales | None = None,
    shipping: ShippingTable | None = None,
    ship_to: Address | None = None,
    service: str | None = None,
    cod: bool = False,
    origin: Origin | None = None,
    buffer_days: int = 1,
    precision: Precision | None = None,
) -> Quote:
    """Price ``cart`` in ``context``: promotions, shipping, delivery promises and tax.

    ``tax`` is a tax table or provider whose price mode says whether the
    cart's prices include tax. With a ``shipping`` table and a ``ship_to``
    address every eligible service is quoted; ``service`` picks one (raising
    `NotEligible` if it cannot carry the cart), else the cheapest is chosen.
    ``origin`` (the warehouse, its cut-off and calendar) adds a delivery
    window to each option. ``precision`` is the step discounts are rounded
    and split to (default: the minor unit; ``Precision.of(0)`` for prices in
    whole Taiwan dollars). Coupons that cannot be used are reported on the
    quote, never raised. Bad input raises `InvalidInput` naming it.
    """
    if not isinstance(cart, Cart):
        raise InvalidInput(f"price_cart prices a Cart, not {cart!r}")
    if not cart.lines:
        raise InvalidInput("cannot price an empty cart; add a product first")
    if service is not None and (shipping is None or ship_to is None):
        raise InvalidInput("choosing a shipping service needs both a shipping table and ship_to")
    promoted = apply_promotions(
        cart,
        context,
        promotions,
        coupon_codes=coupon_codes,
        coupons=coupons,
        usage=usage,
        flash_sales=flash_sales,
        ship_to=ship_to,
        precision=precision,
    )
    options, ineligible = _shipping_options(cart, promoted, shipping, ship_to, cod)
    choices = tuple(
        ShippingChoice(
            option=option,
            promise=None
            if origin is None
            else promise_window(
                context.at,
                origin=origin,
                transit_days=option.transit_days,
                buffer_days=buffer_days,
            ),
        )
        for option in options
    )
    chosen = _choose(choices, ineligible, service)
    taxed = tax.compute(
        TaxRequest(
            tuple(
                TaxLine(
                    _key(line.index), line.net_total, cart.lines[line.index].product.tax_category
                )
                for line in promoted.lines
            ),
            shipping=None if chosen is None else chosen.option.fee,
            ship_to=ship_to,
            currency=cart.currency,
        )
    )
    return Quote(
        currency=cart.currency,
        mode=tax.mode,
        context=context,
        ship_to=ship_to,
        lines=tuple(
            _quote_line(cart, line, _line_tax(taxed, line.index)) for line in promoted.lines
        ),
        promotions=promoted,
        shipping_options=choices,
        ineligible_shipping=ineligible,
        shipping=chosen,
        tax=taxed,
    )


def _key(index: int) -> str:
    return f"line-{index + 1:04d}"


def _line_tax(taxed: TaxResult, index: int) -> LineTax:
    """The tax of cart line ``index``; `TaxResult.line` looks it up one line at a time."""
    lines = taxed.lines
    if index < len(lines) and lines[index].key == _key(index):
        return lines[index]
    return taxed.line(_key(index))


def _quote_line(cart: Cart, line: LinePricing, taxed: LineTax) -> QuoteLine:
    product = cart.lines[line.index].product
    units = tuple(line.unit_nets)
    unit_taxes = (
        tuple(allocate(taxed.tax, list(units)))
        if any(u.amount for u in units)
        else tuple(allocate(taxed.tax, [1] * len(units)))
    )
    return QuoteLine(
        index=line.index,
        sku=line.sku,
        name=product.name,
        quantity=line.quantity,
        list_price=line.list_price,
        subtotal=line.subtotal,
        discount=line.discount_total,
        amount=line.net_total,
        unit_amounts=units,
        tax_category=taxed.category,
        tax_rate=taxed.rate,
        net=taxed.net,
        tax=taxed.tax,
        gross=taxed.gross,
        unit_taxes=unit_taxes,
    )


def _shipment_items(cart: Cart, promoted: PromotionResult) -> list[ShipmentItem]:
    """One item per distinct unit value of each line, so values sum to the goods exactly."""
    items = []
    for line in promoted.lines:
        product = cart.lines[line.index].product
        for value, count in sorted(Counter(line.unit_nets).items(), key=lambda vc: -vc[0].amount):
            items.append(ShipmentItem(product, count, value))
    return items


def _shipping_options(
    cart: Cart,
    promoted: PromotionResult,
    table: ShippingTable | None,
    ship_to: Address | None,
    cod: bool,
) -> tuple[tuple[ShippingOption, ...], tuple[NotEligible, ...]]:
    if table is None or ship_to is None:
        return (), ()
    quote = rate_shop(
        _shipment_items(cart, promoted),
        ship_to=ship_to,
        table=table,
        cod=cod,
        free_shipping=[won.offer() for won in promoted.free_shipping],
    )
    return quote.options, quote.ineligible


def _choose(
    choices: tuple[ShippingChoice, ...], ineligible: tuple[NotEligible, ...], service: str | None
) -> ShippingChoice | None:
    if service is None:
        return choices[0] if choices else None
    for choice in choices:
        if choice.option.service_id == service:
            return choice
    for refusal in ineligible:
        if refusal.key == service:
            raise refusal
    known = [c.option.service_id for c in choices] + [r.key for r in ineligible]
    raise InvalidInput(f"unknown shipping service {service!r}; the table has: {', '.join(known)}")


# --- explain -----------------------------------------------------------------------------------

_LABELS: dict[str, dict[Language, str]] = {
    "title_inclusive": {"en": "Quote (prices include tax)", "zh_TW": "報價（含稅價）"},
    "title_exclusive": {"en": "Quote (prices exclude tax)", "zh_TW": "報價（未稅價）"},
    "subtotal": {"en": "Subtotal", "zh_TW": "小計"},
    "discounts": {"en": "Discounts", "zh_TW": "折扣"},
    "goods": {"en": "Goods after discounts", "zh_TW": "折扣後商品金額"},
    "shipping": {"en": "Shipping", "zh_TW": "運費"},
    "no_shipping": {"en": "no shipping quoted", "zh_TW": "未計運費"},
    "tax": {"en": "Tax", "zh_TW": "稅額"},
    "tax_included": {"en": "included", "zh_TW": "內含"},
    "total": {"en": "Total to pay", "zh_TW": "應付總額"},
    "options": {"en": "Shipping options", "zh_TW": "配送選項"},
    "not_available": {"en": "Not available", "zh_TW": "無法使用"},
    "delivery": {"en": "delivery", "zh_TW": "預計送達"},
    "coupon": {"en": "Coupon not used", "zh_TW": "未使用的優惠券"},
    "chosen": {"en": "chosen", "zh_TW": "已選"},
}


def _label(key: str, language: Language) -> str:
    return _LABELS[key][language]


def _explain(quote: Quote, language: Language) -> str:
    if language not in ("en", "zh_TW"):
        raise InvalidInput(f"unknown language {language!r}; allowed: 'en', 'zh_TW'")

    def show(value: Money) -> str:
        # Whole Taiwan dollars show as NT$590, not NT$590.00; cents only when there are some.
        cash = Precision.cash(value.currency)
        return format_money(
            value, language, precision=cash if round_money(value, cash) == value else None
        )

    title = "title_inclusive" if quote.mode is PriceMode.INCLUSIVE else "title_exclusive"
    rows = [f"{_label(title, language)} — {quote.currency}"]
    for line in quote.lines:
        row = (
            f"  {line.sku:<10} {line.name:<20} {line.quantity:>3} × {show(line.list_price):>12}"
            f"  {show(line.subtotal):>12}"
        )
        if line.discount.amount:
            row += f"  -{show(line.discount)} = {show(line.amount)}"
        rows.append(row)
    rows.append(f"{_label('subtotal', language)}: {show(quote.subtotal)}")
    if quote.adjustments:
        rows.append(f"{_label('discounts', language)}: -{show(quote.discount_total)}")
        rows.extend(
            f"  -{show(adjustment.amount)}  {adjustment.reason} [{adjustment.promotion_id}]"
            for adjustment in quote.adjustments
        )
        rows.append(f"{_label('goods', language)}: {show(quote.goods_total)}")
    rows.extend(_explain_shipping(quote, language, show))
    tax_line = f"{_label('tax', language)}: {show(quote.tax_total)}"
    if quote.mode is PriceMode.INCLUSIVE:
        tax_line += f" ({_label('tax_included', language)})"
    rows.append(tax_line)
    rows.extend(
        f"  {row.category} {row.rate.normalize():f}%: {show(row.net)} + {show(row.tax)}"
        f" = {show(row.gross)}"
        for row in quote.tax.breakdown
    )
    rows.extend(f"  {note}" for note in quote.tax.notes)
    rows.append(f"{_label('total', language)}: {show(quote.total)}")
    rows.extend(
        f"{_label('coupon', language)} {rejection.code}: {rejection.message}"
        for rejection in quote.rejected_coupons
    )
    return "\n".join(rows)


def _explain_shipping(quote: Quote, language: Language, show: Any) -> list[str]:
    if quote.shipping is None:
        return [f"{_label('shipping', language)}: {_label('no_shipping', language)}"]
    chosen = quote.shipping.option
    rows = [f"{_label('shipping', language)}: {show(chosen.fee)} ({chosen.name})"]
    rows.extend(
        f"  {part.label}: {show(part.amount)}" for part in chosen.breakdown if part.amount.amount
    )
    rows.append(f"{_label('options', language)}:")
    for choice in quote.shipping_options:
        option = choice.option
        mark = f" [{_label('chosen', language)}]" if choice is quote.shipping else ""
        days = f"{option.transit_days[0]}-{option.transit_days[1]}d"
        row = f"  {option.service_id:<10} {show(option.fee):>10}  {days:<6} {option.name}{mark}"
        if choice.promise is not None:
            window = choice.promise
            row += f"; {_label('delivery', language)} {window.earliest} – {window.latest}"
        rows.append(row)
    rows.extend(
        f"  {_label('not_available', language)}: {refusal.key}: {refusal.reason}"
        for refusal in quote.ineligible_shipping
    )
    return rows


# --- JSON ---------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QuoteLineDocument(_Model):
    """A quoted line in JSON."""

    sku: str
    name: str
    quantity: int
    list_price: MoneyField
    subtotal: MoneyField
    discount: MoneyField
    amount: MoneyField
    unit_amounts: list[MoneyField]
    tax_category: str
    tax_rate: Decimal
    net: MoneyField
    tax: MoneyField
    gross: MoneyField


class AdjustmentDocument(_Model):
    """A promotion's effect in JSON."""

    promotion_id: str
    kind: str
    reason: str
    amount: MoneyField
    lines: dict[str, MoneyField]
    coupon_code: str | None


class ShippingOptionDocument(_Model):
    """A shipping option in JSON, with its delivery window when promised."""

    service_id: str
    name: str
    kind: str
    fee: MoneyField
    breakdown: dict[str, MoneyField]
    transit_days: tuple[int, int]
    parcels: int
    cod: bool
    earliest: str | None
    latest: str | None


class TaxRateDocument(_Model):
    """One tax rate's totals in JSON."""

    category: str
    rate: Decimal
    net: MoneyField
    tax: MoneyField
    gross: MoneyField


class QuoteDocument(_Model):
    """The JSON form of a `Quote`; its JSON schema documents the format."""

    currency: str
    prices_include_tax: bool
    priced_at: str
    lines: list[QuoteLineDocument]
    adjustments: list[AdjustmentDocument]
    rejected_coupons: dict[str, str]
    shipping: ShippingOptionDocument | None
    shipping_options: list[ShippingOptionDocument]
    tax_breakdown: list[TaxRateDocument]
    tax_notes: list[str]
    subtotal: MoneyField
    discount_total: MoneyField
    shipping_fee: MoneyField
    tax_total: MoneyField
    total: MoneyField


def _option_document(choice: ShippingChoice) -> ShippingOptionDocument:
    option = choice.option
    parts: dict[str, Money] = {}
    for part in option.breakdown:
        parts[part.code] = parts[part.code] + part.amount if part.code in parts else part.amount
    return ShippingOptionDocument(
        service_id=option.service_id,
        name=option.name,
        kind=option.kind.value,
        fee=option.fee,
        breakdown=parts,
        transit_days=option.transit_days,
        parcels=len(option.parcels),
        cod=option.cod,
        earliest=None if choice.promise is None else choice.promise.earliest.isoformat(),
        latest=None if choice.promise is None else choice.promise.latest.isoformat(),
    )


def _document(quote: Quote) -> QuoteDocument:
    return QuoteDocument(
        currency=quote.currency,
        prices_include_tax=quote.mode is PriceMode.INCLUSIVE,
        priced_at=quote.context.at.isoformat(),
        lines=[
            QuoteLineDocument(
                sku=line.sku,
                name=line.name,
                quantity=line.quantity,
                list_price=line.list_price,
                subtotal=line.subtotal,
                discount=line.discount,
                amount=line.amount,
                unit_amounts=list(line.unit_amounts),
                tax_category=line.tax_category,
                tax_rate=line.tax_rate,
                net=line.net,
                tax=line.tax,
                gross=line.gross,
            )
            for line in quote.lines
        ],
        adjustments=[
            AdjustmentDocument(
                promotion_id=adjustment.promotion_id,
                kind=adjustment.kind.value,
                reason=adjustment.reason,
                amount=adjustment.amount,
                lines={_key(part.index): part.amount for part in adjustment.lines},
                coupon_code=adjustment.coupon_code,
            )
            for adjustment in quote.adjustments
        ],
        rejected_coupons={r.code: r.message for r in quote.rejected_coupons},
        shipping=None if quote.shipping is None else _option_document(quote.shipping),
        shipping_options=[_option_document(choice) for choice in quote.shipping_options],
        tax_breakdown=[
            TaxRateDocument(
                category=row.category, rate=row.rate, net=row.net, tax=row.tax, gross=row.gross
            )
            for row in quote.tax.breakdown
        ],
        tax_notes=list(quote.tax.notes),
        subtotal=quote.subtotal,
        discount_total=quote.discount_total,
        shipping_fee=quote.shipping_fee,
        tax_total=quote.tax_total,
        total=quote.total,
    )

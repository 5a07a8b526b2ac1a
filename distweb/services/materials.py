"""Promotion materials (素材): the managers' library, the promoters' feed, and what each
material brings in (shares → clicks → orders → sales).

A material's link is the promoter's own tracked link with ``?m=<material id>``: the click is
logged against the material, and a small signed cookie (``dw_mat``) remembers which
material brought the buyer, so the order placed in the shop is counted for it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from distweb.domain import commission as rules
from distweb.extensions import db
from distweb.models import (
    Click,
    Material,
    MaterialEvent,
    MaterialImage,
    MaterialOrder,
    MaterialTag,
    Order,
    Product,
    Promoter,
)
from distweb.models.base import utcnow
from distweb.models.materials import MaterialEventKind
from distweb.models.order import OrderMode
from distweb.services import catalogue, images, network
from distweb.services.attribution import read_int_tuples, write_int_tuples
from distweb.services.errors import NotFound, ServiceError
from distweb.services.tx import transaction

PAGE_SIZE = 10
MAX_IMAGES = 9  # a WeChat Moments post takes nine pictures
MAX_IMAGE_BYTES = 10 * 1024 * 1024
# Checked from the header before decoding. A 24-megapixel PNG still takes about 100 MB to
# decode (a JPEG far less: it is decoded at the scale it is stored at), and long 长图 of
# 1080×8000 fit.
MAX_IMAGE_SIDE = 8000
MAX_IMAGE_PIXELS = 24_000_000
STORED_LONGEST_SIDE = 2048
THUMB_LONGEST_SIDE = 480
MAX_TAGS = 8
TAG_RE = re.compile(r"^[\w\u4e00-\u9fff·-]{1,30}$")
SHARE_CHANNELS = ("web_share", "copy", "wechat", "poster")
COOKIE_NAME = "dw_mat"
MAX_COOKIE_TOUCHES = 10

# Placeholders a manager can put in the copy text; each has a Chinese alias.
PLACEHOLDERS = {
    "{name}": "name", "{昵称}": "name",
    "{link}": "link", "{链接}": "link",
    "{product}": "product", "{商品}": "product",
    "{price}": "price", "{价格}": "price",
}


class Expired(ServiceError):
    status = 410


# ---------------------------------------------------------------- the library (managers)


@dataclass
class MaterialInput:
    title: str
    body: str = ""
    product_sku: str | None = None
    video_url: str | None = None
    tags: list[str] = field(default_factory=list)
    active_from: datetime | None = None
    active_to: datetime | None = None
    pinned: bool = False


def parse_tags(text: str | None) -> list[str]:
    """"新品, 夏季 ，爆款" → ["新品", "夏季", "爆款"] (commas of either width, spaces)."""
    parts = re.split(r"[,，\s]+", text or "")
    seen: list[str] = []
    for part in parts:
        part = part.strip().lstrip("#")
        if part and part not in seen:
            seen.append(part)
    return seen


def _check(brand_id: int, data: MaterialInput) -> Product | None:
    title = data.title.strip()
    if not title or len(title) > 120:
        raise ServiceError("invalid_title", _l("标题需为 1–120 个字符。"), "title")
    if len(data.body) > 2000:
        raise ServiceError("invalid_body", _l("文案不能超过 2000 个字符。"), "body")
    if data.video_url and not re.match(r"^https://[^\s]{3,290}$", data.video_url.strip()):
        raise ServiceError("invalid_video_url", _l("视频地址需以 https:// 开头。"), "video_url")
    if len(data.tags) > MAX_TAGS:
        raise ServiceError("too_many_tags", _l("标签最多 %(n)s 个。", n=MAX_TAGS), "tags")
    for tag in data.tags:
        if not TAG_RE.match(tag):
            raise ServiceError("invalid_tag", _l("标签「%(tag)s」不可用：只能含文字、数字、- 和 ·，最长 30 个字。", tag=tag[:40]), "tags")
    if data.active_from and data.active_to and data.active_to <= data.active_from:
        raise ServiceError("invalid_window", _l("下线时间需晚于上线时间。"), "active_to")
    if not data.product_sku:
        return None
    product = db.session.scalars(select(Product).where(Product.brand_id == brand_id,
                                                       Product.sku == data.product_sku.strip())).first()
    if product is None:
        raise ServiceError("unknown_product", _l("找不到商品 %(sku)s。", sku=data.product_sku[:64]), "product_sku")
    return product


def save_material(brand_id: int, data: MaterialInput, actor_id: int | None = None,
                  material: Material | None = None) -> Material:
    """Create or edit a material. A material that becomes pinned (and is live) tells every
    active promoter in their inbox."""
    product = _check(brand_id, data)
    now = utcnow()
    with transaction():
        was_pinned = material is not None and material.pinned
        if material is None:
            lowest = db.session.scalar(select(func.min(Material.position)).where(Material.brand_id == brand_id))
            material = Material(brand_id=brand_id, created_by_id=actor_id, position=(lowest or 0) - 1, version=0)
            db.session.add(material)
        material.title = data.title.strip()
        material.body = data.body.replace("\r\n", "\n")
        material.product_id = product.id if product else None
        material.video_url = (data.video_url or "").strip() or None
        material.active_from, material.active_to = data.active_from, data.active_to
        material.pinned = data.pinned
        material.version += 1
        material.updated_at = now
        # Keep the rows of tags that stay: a delete and an insert of the same key in one flush
        # would collide (the unit of work inserts first).
        keep = [row for row in material.tag_rows if row.tag in data.tags]
        material.tag_rows = keep + [MaterialTag(tag=t) for t in data.tags if t not in {r.tag for r in keep}]
        db.session.flush()
        if material.pinned and not was_pinned and material.is_live(now):
            from distweb.services import notifications

            notifications.notify_brand_promoters(brand_id, "material_pinned",
                                                 {"material_id": material.id, "title": material.title})
    return material


def get_for_brand(brand_id: int, material_id: int) -> Material:
    material = db.session.get(Material, material_id)
    if material is None or material.brand_id != brand_id or material.deleted_at is not None:
        raise NotFound("material_not_found", _l("找不到这条素材。"))
    return material


def library(brand_id: int) -> list[Material]:
    """Every material of the brand, in feed order (for the manager's table)."""
    return list(db.session.scalars(
        select(Material).options(selectinload(Material.images), selectinload(Material.tag_rows),
                                 selectinload(Material.product))
        .where(Material.brand_id == brand_id, Material.deleted_at.is_(None))
        .order_by(Material.pinned.desc(), Material.position, Material.id.desc())
    ))


def delete_material(brand_id: int, material_id: int) -> None:
    """Take a material out of the feed. The row stays (soft delete) so its figures stay."""
    with transaction():
        material = get_for_brand(brand_id, material_id)
        material.deleted_at = utcnow()
        material.version += 1


def reorder(brand_id: int, ordered_ids: list[int]) -> None:
    """Put the given materials in this order, using the positions they already hold, so a
    drag within one part of a long list leaves the rest where it was."""
    ids = list(dict.fromkeys(ordered_ids))
    with transaction():
        rows = {m.id: m for m in db.session.scalars(
            select(Material).where(Material.brand_id == brand_id, Material.id.in_(ids),
                                   Material.deleted_at.is_(None)).with_for_update())}
        if len(rows) != len(ids):
            raise NotFound("material_not_found", _l("找不到这条素材。"))
        positions = sorted(m.position for m in rows.values())
        # Positions must differ for the order to hold; spread duplicates apart first.
        for i in range(1, len(positions)):
            if positions[i] <= positions[i - 1]:
                positions[i] = positions[i - 1] + 1
        for material_id, position in zip(ids, positions, strict=True):
            rows[material_id].position = position


# ---------------------------------------------------------------- images


def media_dir() -> Path:
    return Path(current_app.config["DISTWEB_UPLOADS"]) / "materials"


def decode_picture(data: bytes) -> images.DecodedImage:
    """An uploaded picture checked and shrunk to the size it is stored at."""
    return images.decode(data, field="images", max_bytes=MAX_IMAGE_BYTES, max_side=MAX_IMAGE_SIDE,
                         max_pixels=MAX_IMAGE_PIXELS, fit=STORED_LONGEST_SIDE)


def add_images(brand_id: int, material_id: int, uploads: list[bytes]) -> list[MaterialImage]:
    """Store the uploads only if all pass (one bad file refuses the lot, with a message
    naming it, and the files of the ones before it are removed)."""
    material = get_for_brand(brand_id, material_id)
    if not uploads:
        raise ServiceError("image_empty", _l("请选择一张图片。"), "images")
    if len(material.images) + len(uploads) > MAX_IMAGES:
        raise ServiceError("too_many_images", _l("每条素材最多 %(n)s 张图片。", n=MAX_IMAGES), "images")
    directory = media_dir() / str(material.id)
    written: list[Path] = []
    rows = []
    try:
        # One picture at a time: only one is ever decoded in memory, not all nine.
        for number, data in enumerate(uploads, start=1):
            try:
                picture = decode_picture(data)
            except ServiceError as err:
                if len(uploads) > 1:
                    err.message = _l("第 %(n)s 张：%(reason)s", n=number, reason=err.message)
                raise
            full = picture.image  # already no longer than STORED_LONGEST_SIDE
            encoded = images.encode(full, picture.format)
            file_key = images.store(directory, "i", encoded, images.EXTENSIONS[picture.format])
            written.append(directory / file_key)
            thumb = images.fit_within(full, THUMB_LONGEST_SIDE)
            thumb_key = images.store(directory, "t", images.encode(thumb, "WEBP"), "webp")
            written.append(directory / thumb_key)
            rows.append(MaterialImage(file_key=f"{material.id}/{file_key}", thumb_key=f"{material.id}/{thumb_key}",
                                      content_type=picture.content_type, width=full.width, height=full.height,
                                      size_bytes=len(encoded)))
        with transaction():
            start = max((i.position for i in material.images), default=-1) + 1
            for offset, row in enumerate(rows):
                row.position = start + offset
                material.images.append(row)
            material.version += 1
            material.updated_at = utcnow()
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return rows


def remove_image(brand_id: int, material_id: int, image_id: int) -> None:
    material = get_for_brand(brand_id, material_id)
    image = next((i for i in material.images if i.id == image_id), None)
    if image is None:
        raise NotFound("image_not_found", _l("找不到这张图片。"))
    keys = (image.file_key, image.thumb_key)
    with transaction():
        material.images.remove(image)
        material.version += 1
        material.updated_at = utcnow()
    for key in keys:
        (media_dir() / key).unlink(missing_ok=True)


def reorder_images(brand_id: int, material_id: int, ordered_ids: list[int]) -> None:
    material = get_for_brand(brand_id, material_id)
    by_id = {i.id: i for i in material.images}
    ids = list(dict.fromkeys(ordered_ids))
    if set(ids) != set(by_id):
        raise ServiceError("image_order", _l("图片顺序与素材的图片不符，请刷新后再试。"), "images")
    with transaction():
        for position, image_id in enumerate(ids):
            by_id[image_id].position = position
        material.version += 1
        material.updated_at = utcnow()


def image_for_user(brand_id: int, image_id: int, *, live_only: bool = False,
                   now: datetime | None = None) -> MaterialImage:
    """An image a user of this brand may see (a deleted material's images are gone for all).
    With ``live_only`` (promoters) only a live material's: before its launch or after its end
    a promoter sees neither the material nor its pictures, as in the feed."""
    image = db.session.get(MaterialImage, image_id)
    if image is None or image.material.brand_id != brand_id or image.material.deleted_at is not None:
        raise NotFound("image_not_found", _l("找不到这张图片。"))
    if live_only and not image.material.is_live(now or utcnow()):
        raise NotFound("image_not_found", _l("找不到这张图片。"))
    return image


# ---------------------------------------------------------------- the feed (promoters)


def _live(now: datetime):
    return and_(Material.deleted_at.is_(None),
                or_(Material.active_from.is_(None), Material.active_from <= now),
                or_(Material.active_to.is_(None), Material.active_to > now))


def encode_cursor(material: Material) -> str:
    return f"{int(material.pinned)}.{material.position}.{material.id}"


def _decode_cursor(cursor: str | None) -> tuple[int, int, int] | None:
    if not cursor:
        return None
    match = re.fullmatch(r"([01])\.(-?\d{1,10})\.(\d{1,10})", cursor)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def feed(brand_id: int, tag: str | None = None, product_id: int | None = None, cursor: str | None = None,
         limit: int = PAGE_SIZE, now: datetime | None = None) -> list[Material]:
    """Live materials, pinned first, then in the library's order (newest first unless a
    manager dragged them), one keyset page at a time."""
    now = now or utcnow()
    stmt = (select(Material)
            .options(selectinload(Material.images), selectinload(Material.tag_rows), selectinload(Material.product))
            .where(Material.brand_id == brand_id, _live(now)))
    if tag:
        stmt = stmt.where(Material.id.in_(select(MaterialTag.material_id).where(MaterialTag.tag == tag)))
    if product_id:
        stmt = stmt.where(Material.product_id == product_id)
    after = _decode_cursor(cursor)
    if after:
        pinned, position, last_id = after
        later_in_group = or_(Material.position > position, and_(Material.position == position, Material.id < last_id))
        if pinned:  # the rest of the pinned ones, then every unpinned one
            stmt = stmt.where(or_(Material.pinned.is_(False), and_(Material.pinned.is_(True), later_in_group)))
        else:
            stmt = stmt.where(Material.pinned.is_(False), later_in_group)
    stmt = stmt.order_by(Material.pinned.desc(), Material.position, Material.id.desc()).limit(limit)
    return list(db.session.scalars(stmt))


def brand_tags(brand_id: int, now: datetime | None = None) -> list[str]:
    """Tags in use on live materials, most used first (the feed's filter chips)."""
    now = now or utcnow()
    rows = db.session.execute(
        select(MaterialTag.tag, func.count()).join(Material, Material.id == MaterialTag.material_id)
        .where(Material.brand_id == brand_id, _live(now)).group_by(MaterialTag.tag)
        .order_by(func.count().desc(), MaterialTag.tag).limit(20))
    return [tag for tag, _n in rows]


def for_promoter(promoter: Promoter, material_id: int, now: datetime | None = None) -> Material:
    """A material this promoter may share: same brand, not deleted, inside its window."""
    material = db.session.get(Material, material_id)
    if material is None or material.brand_id != promoter.brand_id or material.deleted_at is not None:
        raise NotFound("material_not_found", _l("找不到这条素材。"))
    if not material.is_live(now or utcnow()):
        raise Expired("material_expired", _l("这条素材已下线，不能再分享。"))
    return material


def share_link(promoter: Promoter, material: Material) -> str:
    """The promoter's tracked link for this material: to the product when it has a live one."""
    target = material.product.sku if material.product is not None and material.product.active else None
    return url_for("track.follow", code=promoter.code, target=target, m=material.id, _external=True)


def fill(text: str, promoter: Promoter, link: str, product: Product | None) -> str:
    """The copy text with the placeholders filled in. Plain replacement of known tokens
    (never str.format: a brace in the copy must not reach Python's formatter)."""
    from distweb.money import format_fen

    values = {
        "name": promoter.name,
        "link": link,
        "product": product.name if product is not None else "",
        "price": format_fen(product.price_fen) if product is not None else "",
    }
    for token, key in PLACEHOLDERS.items():
        text = text.replace(token, values[key])
    if "{link}" not in text and "{链接}" not in text and link not in text:
        text = f"{text.rstrip()}\n{link}" if text.strip() else link
    return text


@dataclass(frozen=True)
class Earning:
    amount_fen: int
    kind: str  # commission (推广/代销 plan commission) | margin (代销 or 经销 price difference)


def earning_estimator(promoter: Promoter):
    """A function product → what this promoter earns on one unit sold through its own
    link, priced with the plan in force (the same pricing as a real order)."""
    from distweb.services import commission

    _version, plan = commission.current_plan(promoter.brand_id)
    stock = catalogue.shop_stock(promoter)
    me = rules.Beneficiary(promoter.id, promoter.rank.value)
    now = utcnow()
    cache: dict[int, Earning | None] = {}

    def estimate(product: Product | None) -> Earning | None:
        if product is None or not product.active:
            return None
        if product.id not in cache:
            mode = catalogue.shop_mode(product, stock, promoter.distributor)
            if mode is None:
                cache[product.id] = None
            elif mode == OrderMode.WHOLESALE:
                cache[product.id] = Earning(max(0, product.price_fen - product.wholesale_price_fen), "margin")
            else:
                item = rules.ItemLine(0, product.sku, product.category, 1, product.price_fen, product.supply_cost_fen)
                lines = rules.price_order(plan, mode.value, [item], [me], at=now)
                mine = [line for line in lines if line.level == 1]
                cache[product.id] = Earning(sum(line.amount_fen for line in mine),
                                            mine[0].kind if mine else "commission")
        return cache[product.id]

    return estimate


# ---------------------------------------------------------------- the home page's picks

# How long the ranking of the picks (by the last 30 days' orders and clicks) is kept: it moves
# slowly, and reading it scans those 30 days. An edit to the brand's materials raises the
# brand's data version, so edits show at once.
PICKS_TIMEOUT_S = 300


class Pick(NamedTuple):
    id: int
    title: str
    pinned: bool
    image_id: int | None
    product_name: str | None
    active_from: datetime | None
    active_to: datetime | None


def picks_period(now: datetime | None = None) -> int:
    """The ranking is counted again every PICKS_TIMEOUT_S: a new cache key each time (no key
    may name two values)."""
    return int((now or utcnow()).timestamp()) // PICKS_TIMEOUT_S


def top_picks(brand_id: int, limit: int = 3, now: datetime | None = None,
              brand_version: int | None = None) -> list[Pick]:
    """The materials worth sharing now: pinned ones, then those that brought the most orders
    and clicks over the last 30 days, then the newest. The same for every promoter of the
    brand: kept in the page cache under the brand's data version (``brand_version``, if the
    caller has read it) for a few minutes, and filtered by their launch window on every read."""
    from distweb import caching
    from distweb.services import versions

    now = now or utcnow()
    if brand_version is None:
        brand_version = versions.brand_version(brand_id)
    key = caching.key_for("picks", brand_id, brand_version, picks_period(now))
    candidates = caching.cached(key, lambda: _rank_picks(brand_id, now), timeout=PICKS_TIMEOUT_S)
    return [pick for pick in candidates if (pick.active_from is None or pick.active_from <= now)
            and (pick.active_to is None or pick.active_to > now)][:limit]


def _rank_picks(brand_id: int, now: datetime) -> list[Pick]:
    """The twelve best candidates, live now or launching within the cache's lifetime."""
    since = now - timedelta(days=30)
    soon = now + timedelta(seconds=PICKS_TIMEOUT_S)
    orders = (select(MaterialOrder.material_id, func.count().label("n"))
              .join(Material, Material.id == MaterialOrder.material_id)
              .where(Material.brand_id == brand_id, MaterialOrder.created_at >= since)
              .group_by(MaterialOrder.material_id).subquery())
    clicks = (select(Click.material_id, func.count().label("n"))
              .where(Click.brand_id == brand_id, Click.material_id.is_not(None), Click.created_at >= since)
              .group_by(Click.material_id).subquery())
    first_image = (select(MaterialImage.id).where(MaterialImage.material_id == Material.id)
                   .order_by(MaterialImage.position, MaterialImage.id).limit(1).correlate(Material).scalar_subquery())
    rows = db.session.execute(
        select(Material.id, Material.title, Material.pinned, first_image.label("image_id"),
               Product.name.label("product_name"), Material.active_from, Material.active_to)
        .outerjoin(Product, and_(Product.id == Material.product_id, Product.active.is_(True)))
        .outerjoin(orders, orders.c.material_id == Material.id)
        .outerjoin(clicks, clicks.c.material_id == Material.id)
        .where(Material.brand_id == brand_id, Material.deleted_at.is_(None),
               or_(Material.active_from.is_(None), Material.active_from <= soon),
               or_(Material.active_to.is_(None), Material.active_to > now))
        .order_by(Material.pinned.desc(), func.coalesce(orders.c.n, 0).desc(),
                  func.coalesce(clicks.c.n, 0).desc(), Material.position, Material.id.desc())
        .limit(12)).all()
    return [Pick(*row) for row in rows]


# ---------------------------------------------------------------- tracking


def record_share(promoter: Promoter, material_id: int, channel: str | None) -> MaterialEvent:
    material = for_promoter(promoter, material_id)
    kind = MaterialEventKind.POSTER if channel == "poster" else MaterialEventKind.SHARE
    channel = channel if channel in SHARE_CHANNELS else None
    with transaction():
        event = MaterialEvent(brand_id=promoter.brand_id, material_id=material.id, promoter_id=promoter.id,
                              kind=kind, channel=channel)
        db.session.add(event)
    return event


def material_for_click(promoter: Promoter, raw_id: str | None) -> int | None:
    """The material id of a tracked link's ``m`` argument, if it names one of the brand's
    materials (deleted or expired ones still count: the link was shared while it was live)."""
    if not raw_id or not raw_id.isdigit() or len(raw_id) > 9:
        return None
    material = db.session.get(Material, int(raw_id))
    return material.id if material is not None and material.brand_id == promoter.brand_id else None


COOKIE_SALT = "distweb-material"


def read_touches(cookie: str | None) -> list[tuple[int, int, int]]:
    """[(promoter id, material id, unix time)] from the signed cookie; tampered reads empty."""
    return read_int_tuples(cookie, COOKIE_SALT, 3, MAX_COOKIE_TOUCHES)


def add_touch(cookie: str | None, promoter_id: int, material_id: int) -> str:
    touches = read_touches(cookie)
    touches.append((promoter_id, material_id, int(utcnow().timestamp())))
    return write_int_tuples(touches, COOKIE_SALT, MAX_COOKIE_TOUCHES)


def record_order(order: Order, cookie: str | None) -> MaterialOrder | None:
    """Count a shop order for the material that brought the buyer: the latest material
    link of the order's own promoter inside the attribution window."""
    if order.promoter_id is None:
        return None
    settings = network.get_settings(order.brand_id)
    cutoff = int((utcnow() - timedelta(days=settings.attribution_window_days)).timestamp())
    mine = [t for t in read_touches(cookie) if t[0] == order.promoter_id and t[2] >= cutoff]
    if not mine:
        return None
    material_id = max(mine, key=lambda t: t[2])[1]
    material = db.session.get(Material, material_id)
    if material is None or material.brand_id != order.brand_id:
        return None
    try:
        with transaction():
            row = MaterialOrder(order_id=order.id, material_id=material_id, promoter_id=order.promoter_id)
            db.session.add(row)
    except IntegrityError:
        return None  # already counted (a replayed request)
    return row


@dataclass
class MaterialStats:
    material: Material
    shares: int = 0
    posters: int = 0
    clicks: int = 0
    orders: int = 0
    sales_fen: int = 0


def stats(brand_id: int, promoter_id: int | None = None, material_ids: list[int] | None = None) -> list[MaterialStats]:
    """Shares → clicks → orders → sales per material, for the brand or for one promoter.
    Sales are what buyers paid on those orders, less refunds, cancelled orders excluded."""
    def scoped(stmt, promoter_column):
        return stmt.where(promoter_column == promoter_id) if promoter_id is not None else stmt

    where = [Material.brand_id == brand_id]
    if material_ids is not None:
        where.append(Material.id.in_(material_ids))
    else:
        where.append(Material.deleted_at.is_(None))
    materials = list(db.session.scalars(select(Material).where(*where)
                                        .order_by(Material.pinned.desc(), Material.position, Material.id.desc())))
    result = {m.id: MaterialStats(m) for m in materials}
    if not result:
        return []
    ids = list(result)
    events = db.session.execute(scoped(
        select(MaterialEvent.material_id,
               func.sum(case((MaterialEvent.kind == MaterialEventKind.SHARE, 1), else_=0)),
               func.sum(case((MaterialEvent.kind == MaterialEventKind.POSTER, 1), else_=0)))
        .where(MaterialEvent.material_id.in_(ids)).group_by(MaterialEvent.material_id), MaterialEvent.promoter_id))
    for material_id, shares, posters in events:
        result[material_id].shares, result[material_id].posters = int(shares or 0), int(posters or 0)
    clicks = db.session.execute(scoped(
        select(Click.material_id, func.count()).where(Click.material_id.in_(ids)).group_by(Click.material_id),
        Click.promoter_id))
    for material_id, count in clicks:
        result[material_id].clicks = int(count)
    from distweb.models.order import OrderStatus

    sales = db.session.execute(scoped(
        select(MaterialOrder.material_id, func.count(),
               func.coalesce(func.sum(Order.total_paid_fen - Order.refunded_fen), 0))
        .join(Order, Order.id == MaterialOrder.order_id)
        .where(MaterialOrder.material_id.in_(ids), Order.paid_at.is_not(None),
               Order.status != OrderStatus.CANCELLED)
        .group_by(MaterialOrder.material_id), MaterialOrder.promoter_id))
    for material_id, count, fen in sales:
        result[material_id].orders, result[material_id].sales_fen = int(count), int(fen)
    return list(result.values())



@dataclass
class PromoterFigures:
    promoter_id: int
    name: str
    shares: int = 0
    clicks: int = 0
    orders: int = 0
    sales_fen: int = 0


def by_promoter(brand_id: int, material_id: int, limit: int = 20) -> tuple[list[PromoterFigures], list[tuple[str, int]]]:
    """Who shares this material and what it brings them (most orders, then clicks, first),
    and its share taps by channel."""
    from distweb.models.order import OrderStatus

    get_for_brand(brand_id, material_id)
    rows: dict[int, PromoterFigures] = {}

    def row(promoter_id: int) -> PromoterFigures:
        if promoter_id not in rows:
            rows[promoter_id] = PromoterFigures(promoter_id, "")
        return rows[promoter_id]

    channels: dict[str, int] = {}
    for promoter_id, channel, count in db.session.execute(
            select(MaterialEvent.promoter_id, MaterialEvent.channel, func.count())
            .where(MaterialEvent.material_id == material_id).group_by(MaterialEvent.promoter_id, MaterialEvent.channel)):
        row(promoter_id).shares += int(count)
        channels[channel or "other"] = channels.get(channel or "other", 0) + int(count)
    for promoter_id, count in db.session.execute(
            select(Click.promoter_id, func.count()).where(Click.material_id == material_id).group_by(Click.promoter_id)):
        row(promoter_id).clicks = int(count)
    for promoter_id, count, fen in db.session.execute(
            select(MaterialOrder.promoter_id, func.count(),
                   func.coalesce(func.sum(Order.total_paid_fen - Order.refunded_fen), 0))
            .join(Order, Order.id == MaterialOrder.order_id)
            .where(MaterialOrder.material_id == material_id, Order.paid_at.is_not(None),
                   Order.status != OrderStatus.CANCELLED).group_by(MaterialOrder.promoter_id)):
        row(promoter_id).orders, row(promoter_id).sales_fen = int(count), int(fen)
    ranked = sorted(rows.values(), key=lambda r: (-r.orders, -r.clicks, -r.shares, r.promoter_id))[:limit]
    names = {p.id: p.name for p in db.session.scalars(
        select(Promoter).options(selectinload(Promoter.user)).where(Promoter.id.in_([r.promoter_id for r in ranked])))}
    for r in ranked:
        r.name = names.get(r.promoter_id, "")
    return ranked, sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))

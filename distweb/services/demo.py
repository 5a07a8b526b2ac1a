"""Believable Chinese demo data: a tea-and-food brand, its supplier, ~20 products, a
three-level network of 50 promoters and a few hundred orders across the three modes."""

from __future__ import annotations

import random
import secrets
from datetime import timedelta

from sqlalchemy import select

from distweb.extensions import db
from distweb.models import Brand, Product, Promoter, Supplier, User
from distweb.models.base import utcnow
from distweb.models.network import PromoterStatus, Rank
from distweb.models.order import OrderMode
from distweb.models.user import Role
from distweb.services.accounts import hash_password
from distweb.services.network import place_under
from distweb.services.tx import transaction

DEMO_PASSWORD = "demo2026"
MANAGER_EMAIL = "admin@demo.distweb.cn"
SUPPLIER_EMAIL = "supplier@demo.distweb.cn"
FIRST_PROMOTER_PHONE = "13800000001"

PRODUCTS = [
    # sku, name, category, price, supply cost, modes (promotion, consignment, wholesale)
    ("TEA-001", "明前龙井 250g", "茶叶", 5900, 3100, (1, 1, 1)),
    ("TEA-002", "安溪铁观音 500g", "茶叶", 12800, 7200, (1, 1, 0)),
    ("TEA-003", "云南普洱熟茶饼 357g", "茶叶", 16800, 9800, (1, 0, 1)),
    ("TEA-004", "武夷山大红袍礼盒", "茶叶", 29900, 17500, (1, 1, 0)),
    ("TEA-005", "福鼎白茶 寿眉 300g", "茶叶", 8800, 4900, (1, 1, 1)),
    ("TEA-006", "茉莉花茶 200g", "茶叶", 3900, 1800, (1, 0, 0)),
    ("FOOD-001", "五常大米 5kg", "粮油", 8900, 6100, (1, 1, 1)),
    ("FOOD-002", "东北黑木耳 250g", "干货", 4500, 2400, (1, 1, 0)),
    ("FOOD-003", "宁夏枸杞 500g", "干货", 6800, 3600, (1, 0, 1)),
    ("FOOD-004", "云南野生菌礼盒", "干货", 19800, 11800, (1, 1, 0)),
    ("FOOD-005", "新疆和田大枣 1kg", "干货", 5600, 3000, (1, 1, 1)),
    ("FOOD-006", "土蜂蜜 500g", "滋补", 7800, 4100, (1, 0, 0)),
    ("FOOD-007", "即食燕窝 6 瓶装", "滋补", 39900, 24000, (1, 1, 0)),
    ("FOOD-008", "阿胶糕 500g", "滋补", 15800, 8800, (1, 0, 1)),
    ("CUP-001", "汝窑茶具套装", "茶具", 26800, 15000, (1, 1, 0)),
    ("CUP-002", "便携旅行茶具", "茶具", 9900, 5200, (1, 1, 1)),
    ("CUP-003", "紫砂壶 西施 200ml", "茶具", 45800, 26000, (1, 0, 0)),
    ("GIFT-001", "中秋茶礼盒", "礼盒", 36800, 21000, (1, 1, 0)),
    ("GIFT-002", "新春年货大礼包", "礼盒", 49900, 30500, (1, 1, 1)),
    ("GIFT-003", "企业定制茶礼", "礼盒", 88800, 52000, (1, 0, 0)),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = ["小明", "丽娟", "建国", "海燕", "晓东", "婷婷", "志强", "秀英", "俊杰", "慧敏", "文博", "佳怡", "子涵", "雨桐",
         "浩然", "欣怡", "宇轩", "梦琪", "鹏飞", "静怡", "国华", "春梅", "立新", "晓红", "振宇"]
CITIES = ["杭州市西湖区文三路 88 号", "上海市徐汇区漕溪北路 201 号", "北京市朝阳区望京街 9 号",
          "广州市天河区体育西路 56 号", "成都市武侯区人民南路 4 段 12 号", "南京市鼓楼区中山北路 30 号"]


def demo_logins() -> list[tuple[str, str, str]]:
    return [
        ("品牌管理员 manager", MANAGER_EMAIL, DEMO_PASSWORD),
        ("推客 promoter (合伙人)", FIRST_PROMOTER_PHONE, DEMO_PASSWORD),
        ("供货商 supplier", SUPPLIER_EMAIL, DEMO_PASSWORD),
    ]


def describe_logins(logins) -> str:
    lines = ["Demo logins (演示账号):"]
    for role, login, password in logins:
        lines.append(f"  {role:<28} {login:<28} password: {password}")
    return "\n".join(lines)


def _code(taken: set[str]) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    while True:
        code = "".join(secrets.choice(alphabet) for _ in range(8))
        if code not in taken:
            taken.add(code)
            return code


def load_demo(seed: int = 2026) -> list[tuple[str, str, str]]:
    """Load the demo in one transaction; returns the demo logins."""
    rng = random.Random(seed)
    password_hash = hash_password(DEMO_PASSWORD)  # one hash for every demo account
    now = utcnow()
    with transaction():
        brand = db.session.scalars(select(Brand).limit(1)).first()
        if brand is None:
            brand = Brand(name="山茶集", short_name="山茶集", theme_color="#c8102e")
            db.session.add(brand)
            db.session.flush()
        if not db.session.scalars(select(User).where(User.email == MANAGER_EMAIL)).first():
            db.session.add(User(brand_id=brand.id, role=Role.MANAGER, name="陈经理", email=MANAGER_EMAIL,
                                password_hash=password_hash))
        supplier = Supplier(brand_id=brand.id, code="westlake-tea", name="杭州西湖茶业有限公司",
                            contact_name="周建华", contact_phone="13705710000",
                            settlement_account="工商银行 杭州西湖支行 6222 0212 0000 1234")
        db.session.add(supplier)
        db.session.flush()
        db.session.add(User(brand_id=brand.id, role=Role.SUPPLIER, name="周建华", email=SUPPLIER_EMAIL,
                            password_hash=password_hash, supplier_id=supplier.id))
        products = []
        for sku, name, category, price, cost, (promo, consign, whole) in PRODUCTS:
            product = Product(brand_id=brand.id, supplier_id=supplier.id, sku=sku, name=name, category=category,
                              price_fen=price, supply_cost_fen=cost, wholesale_price_fen=(price + cost) // 2,
                              sells_promotion=bool(promo), sells_consignment=bool(consign),
                              sells_wholesale=bool(whole))
            db.session.add(product)
            products.append(product)
        db.session.flush()

        promoters = _network(brand, password_hash, rng, now)
        _orders(brand, promoters, products, rng, now)
        _date_accruals_at_payment(brand.id)
    # Settle what is past its freeze window, so demo wallets have money to withdraw.
    from distweb.services import settlement

    run = settlement.execute_run(settlement.start_run(brand.id, trigger="demo", enqueue=False).id)
    settlement.request_report(run)  # the worker writes its report, as for any run
    _materials(brand.id, promoters, rng)
    return demo_logins()


def _date_accruals_at_payment(brand_id: int) -> None:
    """The demo writes months of orders in one go, so their lines would all look earned
    today; date each line at its order's payment, as the ledger already dates the money
    (each transaction's business time). Ledger rows are never edited."""
    from sqlalchemy import update

    from distweb.models import CommissionLine, Order

    paid_at = select(Order.paid_at).where(Order.id == CommissionLine.order_id).scalar_subquery()
    db.session.execute(update(CommissionLine).where(CommissionLine.brand_id == brand_id).values(created_at=paid_at))


DEMO_MATERIALS = [
    # title, copy, sku, tags, pinned, colour
    ("明前龙井 · 今春头采", "{name} 推荐：今年的明前龙井到了，豆香清爽，回甘明显。\n{product} 只要 {price}，点链接下单：{link}",
     "TEA-001", ["新品", "春茶"], True, (46, 125, 50)),
    ("普洱熟茶饼 · 越陈越香", "冬天喝一口熟普，暖胃又暖心。{product}，{price}。\n👉 {link}", "TEA-003", ["普洱", "冬季"],
     False, (121, 85, 72)),
    ("五常大米 · 新米上市", "五常稻花香，新米现磨。家里的米该换了吧？{link}", "FOOD-001", ["粮油", "新品"], False,
     (230, 160, 30)),
    ("年货大礼包 · 团购价", "过年送礼不用愁：{product} 团购价 {price}，包邮到家。由 {name} 为你推荐：{link}", "GIFT-002",
     ["年货", "礼盒"], False, (200, 16, 46)),
    ("紫砂壶 · 匠人手作", "一把好壶，养一辈子。{product}，{price}。{link}", "CUP-003", ["茶具"], False, (93, 64, 55)),
]


def _demo_picture(title: str, colour: tuple[int, int, int]) -> bytes:
    """A square picture with the title on a gradient, so the demo needs no image files."""
    import io

    from PIL import Image, ImageDraw

    from distweb.services.posters import font

    size = 1080
    picture = Image.new("RGB", (size, size), colour)
    draw = ImageDraw.Draw(picture)
    for y in range(size):  # a soft vertical gradient towards white
        shade = tuple(int(c + (255 - c) * y / size * 0.55) for c in colour)
        draw.line((0, y, size, y), fill=shade)
    draw.text((size // 2, size // 2), title.split(" · ")[0], font=font(110), fill="white", anchor="mm")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def _materials(brand_id: int, promoters: list[Promoter], rng: random.Random) -> None:
    """A small material library, with some shares so the figures page has something to show."""
    from distweb.models import MaterialEvent
    from distweb.models.materials import MaterialEventKind
    from distweb.services import materials

    for title, body, sku, tags, pinned, colour in reversed(DEMO_MATERIALS):
        material = materials.save_material(brand_id, materials.MaterialInput(
            title=title, body=body, product_sku=sku, tags=tags, pinned=pinned))
        materials.add_images(brand_id, material.id, [_demo_picture(title, colour)])
        with transaction():
            for promoter in rng.sample(promoters, k=min(len(promoters), rng.randint(3, 12))):
                db.session.add(MaterialEvent(brand_id=brand_id, material_id=material.id, promoter_id=promoter.id,
                                             kind=MaterialEventKind.SHARE, channel=rng.choice(["web_share", "copy"])))


def _is_distributor(rank: Rank, i: int) -> bool:
    """Which demo promoters the brand has made distributors (分销商): every partner (the demo
    login among them), a third of the mentors and a fifth of the promoters; the others
    promote only."""
    return rank == Rank.PARTNER or (rank == Rank.MENTOR and i % 3 == 0) or (rank == Rank.PROMOTER and i % 5 == 0)


def _network(brand, password_hash, rng, now) -> list[Promoter]:
    """5 partners at the top, 15 mentors under them, 30 promoters under the mentors."""
    taken: set[str] = set()
    promoters: list[Promoter] = []
    plan = [(5, Rank.PARTNER, None), (15, Rank.MENTOR, 0), (30, Rank.PROMOTER, 1)]
    levels: list[list[Promoter]] = []
    phone = int(FIRST_PROMOTER_PHONE)
    for count, rank, parent_level in plan:
        level = []
        for i in range(count):
            name = SURNAMES[(phone + i * 7) % len(SURNAMES)] + GIVEN[(phone // 3 + i) % len(GIVEN)]
            user = User(brand_id=brand.id, role=Role.PROMOTER, name=name, phone=str(phone),
                        password_hash=password_hash)
            db.session.add(user)
            db.session.flush()
            upline = levels[parent_level][i % len(levels[parent_level])] if parent_level is not None else None
            status = PromoterStatus.ACTIVE
            if rank == Rank.PROMOTER and i in (27, 28):
                status = PromoterStatus.PENDING
            elif rank == Rank.PROMOTER and i == 29:
                status = PromoterStatus.SUSPENDED
            promoter = Promoter(brand_id=brand.id, user_id=user.id, code=_code(taken), rank=rank, status=status,
                                distributor=_is_distributor(rank, i),
                                joined_at=now - timedelta(days=rng.randint(20, 240)))
            place_under(promoter, upline)
            db.session.add(promoter)
            db.session.flush()
            level.append(promoter)
            phone += 1
        levels.append(level)
        promoters.extend(level)
    return promoters


def _orders(brand, promoters, products, rng, now) -> None:
    """Orders through the same services a shop uses, with a believable history: most are
    completed, some are on their way, a few cancelled or refunded."""
    from distweb.services import orders

    sellers = [p for p in promoters if p.status == PromoterStatus.ACTIVE]
    distributors = [p for p in sellers if p.distributor]  # only they sell on consignment or wholesale
    buyers = [(SURNAMES[i] + ("女士" if i % 2 else "先生"), f"139{10000000 + i * 7919:08d}") for i in range(40)]
    carriers = ["顺丰速运", "中通快递", "圆通速递", "京东物流"]
    # Orders arrive in time order, so their numbers and ids follow the clock as in a real shop.
    moments = sorted(
        now - timedelta(days=rng.randint(0, 59), hours=rng.randint(0, 23), minutes=rng.randint(0, 59))
        for _ in range(320)
    )
    db.session.commit()
    for number, placed in enumerate(moments, start=10001):
        mode = rng.choices([OrderMode.PROMOTION, OrderMode.CONSIGNMENT, OrderMode.WHOLESALE], [6, 3, 1])[0]
        seller = rng.choice(sellers if mode == OrderMode.PROMOTION else distributors)
        sellable = [p for p in products if mode.value in p.modes]
        outcome = rng.choices(["completed", "shipped", "paid", "created", "cancelled", "refunded"],
                              [58, 12, 12, 3, 8, 7])[0]
        buyer_name, buyer_phone = rng.choice(buyers)
        picked = rng.sample(sellable, k=min(len(sellable), rng.choice([1, 1, 1, 2, 3])))
        stock_purchase = mode == OrderMode.WHOLESALE
        items = [orders.ItemInput(sku=p.sku, quantity=rng.choice([1, 1, 2, 3]) * (10 if stock_purchase else 1))
                 for p in picked]
        paid_at = placed + timedelta(minutes=rng.randint(1, 30))
        order = orders.place_order(brand, orders.OrderInput(
            external_id=f"DEMO-{number}", mode=mode.value, items=items, promoter_code=seller.code,
            buyer=orders.BuyerInput(None, None, rng.choice(CITIES)) if stock_purchase
            else orders.BuyerInput(buyer_name, buyer_phone, rng.choice(CITIES)),
            paid_at=None if outcome == "created" or (outcome == "cancelled" and rng.random() < 0.5) else paid_at,
            placed_at=placed, source="demo",
        ))
        # Later steps never lie in the future: a recent order simply has not got that far.
        shipped_at = min(now, placed + timedelta(hours=rng.randint(4, 40)))
        completed_at = min(now, placed + timedelta(days=rng.randint(2, 6)))
        if outcome == "cancelled":
            orders.cancel(brand.id, order.id, "买家取消", at=min(now, placed + timedelta(hours=rng.randint(1, 20))))
            continue
        if outcome in ("created", "paid") or (outcome == "completed" and placed > now - timedelta(days=2)):
            continue
        carrier, tracking = rng.choice(carriers), f"SF{rng.randint(10**11, 10**12 - 1)}"
        if mode == OrderMode.CONSIGNMENT:
            for po in list(order.purchase_orders):
                orders.ship_purchase_order(po.supplier_id, po.id, carrier, tracking, at=shipped_at)
        else:
            orders.ship(brand.id, order.id, carrier, tracking, at=shipped_at)
        if outcome in ("completed", "refunded"):
            orders.complete(brand.id, order.id, completed_at)
        if outcome == "refunded":
            item = order.items[0]
            orders.refund(brand.id, order.id, "R1", [orders.RefundItemInput(item.sku, item.paid_fen // 2 or item.paid_fen)],
                          "质量问题", at=completed_at)

"""Materials (素材): the manager's library and uploads, the promoter's feed, posters with QR
codes, and what each material brings in (shares → clicks → orders → sales)."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import Click, Material, MaterialEvent, MaterialImage, MaterialOrder, Product
from distweb.models.base import utcnow
from distweb.services import materials
from tests.conftest import Browser, csrf_token_from
from tests.support import images
from tests.support.factories import PASSWORD


@pytest.fixture
def manager(app, make):
    make.manager()
    browser = Browser(app.test_client())
    browser.login("boss@example.com", PASSWORD)
    return browser


@pytest.fixture
def promoter(app, make):
    me = make.promoter(name="张伟", phone="13700000001")
    browser = Browser(app.test_client())
    browser.login("13700000001", PASSWORD)
    browser.promoter = me
    return browser


def add_material(app, title="夏季新品", body="{name} 推荐：{product} 只要 {price}！戳 {link}", sku=None,
                 pinned=False, tags=(), active_from=None, active_to=None) -> Material:
    with app.app_context():
        brand_id = db.session.scalar(select(Product.brand_id).limit(1)) if sku else None
        if brand_id is None:
            from distweb.services.accounts import current_brand

            brand_id = current_brand().id
        material = materials.save_material(brand_id, materials.MaterialInput(
            title=title, body=body, product_sku=sku, tags=list(tags), pinned=pinned,
            active_from=active_from, active_to=active_to))
        material_id = material.id
        db.session.remove()
    with app.app_context():
        return db.session.get(Material, material_id)


def upload(manager: Browser, material_id: int, *files: tuple[str, bytes]):
    page = f"/manage/materials/{material_id}"
    token = csrf_token_from(manager.get(page).get_data(as_text=True))
    data = {"csrf_token": token, "images": [(io.BytesIO(content), name) for name, content in files]}
    return manager.client.post(f"{page}/images", data=data, content_type="multipart/form-data", follow_redirects=True)


def image_rows(app, material_id):
    with app.app_context():
        return list(db.session.scalars(select(MaterialImage).where(MaterialImage.material_id == material_id)
                                       .order_by(MaterialImage.position)))


def fetch(browser, url, **kw):
    """GET a file response and close it (a file sent from disk holds the file open)."""
    response = browser.get(url, **kw)
    response.get_data()
    response.close()
    return response


def media_files(app) -> list[Path]:
    root = Path(app.config["DISTWEB_UPLOADS"]) / "materials"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# ---------------------------------------------------------------- the library


def test_manager_creates_a_material_in_the_form_and_sees_the_promoter_preview(manager, promoter, make, app):
    make.product(sku="TEA-9", price_fen=9900)
    page = manager.get("/manage/materials/new").get_data(as_text=True)
    assert "TEA-9" in page  # the product picker
    response = manager.post("/manage/materials/new", {
        "title": "明前龙井", "body": "{name} 亲测好喝 {link}", "product_sku": "TEA-9", "tags": "新品，春茶, 新品",
        "active_from": "", "active_to": "", "pinned": "y"}, token_from="/manage/materials/new", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "素材已创建" in html
    with app.app_context():
        material = db.session.scalars(select(Material)).one()
        assert material.tags == ["新品", "春茶"] and material.pinned and material.product.sku == "TEA-9"
    # Editing keeps the tags that stay and drops the others.
    edited = manager.post(f"/manage/materials/{material.id}", {
        "title": "明前龙井", "body": "{name} 亲测好喝 {link}", "product_sku": "TEA-9", "tags": "春茶, 绿茶",
        "pinned": "y"}, token_from=f"/manage/materials/{material.id}", follow_redirects=True)
    assert "素材已保存" in edited.get_data(as_text=True)
    with app.app_context():
        assert sorted(db.session.get(Material, material.id).tags) == ["春茶", "绿茶"]
    # The preview is the promoter's card: the copy filled in with a promoter's name and link.
    assert "张伟 亲测好喝 http://distweb.test/r/" in html
    assert f"/TEA-9?m={material.id}" in html


def test_bad_material_input_is_refused_with_a_message_and_nothing_saved(manager, app):
    response = manager.post("/manage/materials/new", {
        "title": "x", "body": "", "product_sku": "NOPE", "tags": ""}, token_from="/manage/materials/new")
    assert response.status_code == 422
    assert "找不到商品 NOPE" in response.get_data(as_text=True)
    response = manager.post("/manage/materials/new", {
        "title": "x", "active_from": "2026-12-01T10:00", "active_to": "2026-11-01T10:00"},
        token_from="/manage/materials/new")
    assert response.status_code == 422
    assert "下线时间需晚于上线时间" in response.get_data(as_text=True)
    response = manager.post("/manage/materials/new", {"title": "x", "video_url": "javascript:alert(1)"},
                            token_from="/manage/materials/new")
    assert "视频地址需以 https:// 开头" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Material.id))) == 0


def test_uploads_are_sniffed_re_encoded_without_exif_and_thumbnailed(manager, app, make):
    make.brand()
    material = add_material(app)
    response = upload(manager, material.id, ("photo.jpg", images.jpeg_with_exif()), ("logo.png", images.png()),
                      ("x.webp", images.webp()))
    assert "已上传 3 张图片" in response.get_data(as_text=True)
    rows = image_rows(app, material.id)
    assert [r.content_type for r in rows] == ["image/jpeg", "image/png", "image/webp"]
    stored = Path(app.config["DISTWEB_UPLOADS"]) / "materials" / rows[0].file_key
    with Image.open(stored) as picture:
        assert picture.format == "JPEG"
        assert not picture.getexif()  # no camera, no GPS
        assert picture.size == (800, 1200)  # the EXIF rotation applied to the pixels instead
    assert b"SpyCam" not in stored.read_bytes()
    with Image.open(Path(app.config["DISTWEB_UPLOADS"]) / "materials" / rows[0].thumb_key) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) == 480
    # The promoter's feed shows the thumbnail, lazily, with its size (no layout jump).
    html = manager.get(f"/manage/materials/{material.id}").get_data(as_text=True)
    assert f"/media/materials/{rows[0].id}/thumb" in html


@pytest.mark.parametrize("name, content, message", [
    ("evil.png", images.SVG_AS_PNG, "只支持 PNG、JPEG 或 WebP 图片"),
    ("page.png", images.HTML_AS_PNG, "只支持 PNG、JPEG 或 WebP 图片"),
    ("bomb.png", images.png_bomb(), "图片尺寸过大"),
    ("huge.jpg", images.huge_file(50), "图片不能超过 10 MB"),
    # 128 KB that decode to 119 MB (the security review's file): over the pixel count
    ("flat.png", images.png_flat(6300, 6300), "图片尺寸过大：宽和高都不能超过 8000 像素，总像素不能超过 24 百万。"),
    ("banner.png", images.png_flat(8001, 10), "图片尺寸过大：宽和高都不能超过 8000 像素"),
    # past Pillow's own warning threshold (89 megapixels), still a plain form error
    ("big-bomb.png", images.png_bomb(10000, 10000), "图片尺寸过大"),
])
def test_hostile_and_oversized_uploads_are_refused_and_leave_nothing(manager, app, make, name, content, message):
    make.brand()
    material = add_material(app)
    response = upload(manager, material.id, (name, content))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert image_rows(app, material.id) == []
    assert media_files(app) == []


def test_one_bad_file_in_a_batch_refuses_the_batch_naming_it(manager, app, make):
    make.brand()
    material = add_material(app)
    response = upload(manager, material.id, ("a.png", images.png()), ("b.png", images.SVG_AS_PNG))
    assert "第 2 张" in response.get_data(as_text=True)
    assert image_rows(app, material.id) == [] and media_files(app) == []


def test_pictures_of_a_material_before_its_launch_or_after_its_end_are_hidden_from_promoters(
        manager, promoter, app):
    now = utcnow()
    embargoed = add_material(app, title="未来素材", active_from=now + timedelta(days=1))
    ended = add_material(app, title="过期素材", active_to=now - timedelta(hours=1))
    live = add_material(app, title="在线素材")
    for material in (embargoed, ended, live):
        upload(manager, material.id, ("a.png", images.png()))
    (embargoed_image,), (ended_image,), (live_image,) = (image_rows(app, m.id) for m in (embargoed, ended, live))
    for image in (embargoed_image, ended_image):
        for variant in ("thumb", "full"):
            assert fetch(promoter, f"/media/materials/{image.id}/{variant}").status_code == 404
            assert fetch(manager, f"/media/materials/{image.id}/{variant}").status_code == 200  # the library
    for variant in ("thumb", "full"):
        assert fetch(promoter, f"/media/materials/{live_image.id}/{variant}").status_code == 200


def test_images_are_private_to_the_brand_and_reorder_and_delete(manager, promoter, app, client):
    material = add_material(app)
    upload(manager, material.id, ("a.png", images.png()), ("b.jpg", images.jpeg_with_exif()))
    first, second = image_rows(app, material.id)
    assert client.get(f"/media/materials/{first.id}/thumb").status_code in (302, 401)  # signed out
    shown = fetch(promoter, f"/media/materials/{first.id}/full")
    assert shown.status_code == 200 and shown.mimetype == "image/png"
    assert "private" in shown.headers["Cache-Control"]
    token = csrf_token_from(manager.get(f"/manage/materials/{material.id}").get_data(as_text=True))
    answer = manager.client.post(f"/manage/materials/{material.id}/images/reorder",
                                 data={"ids": [second.id, first.id]}, headers={"X-CSRFToken": token})
    assert answer.status_code == 200 and answer.get_json()["ok"]
    assert [r.id for r in image_rows(app, material.id)] == [second.id, first.id]
    manager.post(f"/manage/materials/{material.id}/images/{second.id}/delete",
                 token_from=f"/manage/materials/{material.id}")
    assert [r.id for r in image_rows(app, material.id)] == [first.id]
    assert len(media_files(app)) == 2  # the picture and its thumbnail; the deleted pair is gone


def test_drag_reorder_changes_the_promoters_feed_order(manager, promoter, app):
    a = add_material(app, title="素材A")
    b = add_material(app, title="素材B")
    c = add_material(app, title="素材C")
    feed = promoter.get("/promoter/materials").get_data(as_text=True)
    assert feed.index("素材C") < feed.index("素材B") < feed.index("素材A")  # newest first
    token = csrf_token_from(manager.get("/manage/materials").get_data(as_text=True))
    answer = manager.client.post("/manage/materials/reorder", data={"ids": [a.id, c.id, b.id]},
                                 headers={"X-CSRFToken": token})
    assert answer.get_json()["message"] == "顺序已保存。"
    feed = promoter.get("/promoter/materials").get_data(as_text=True)
    assert feed.index("素材A") < feed.index("素材C") < feed.index("素材B")
    # Without the CSRF header the reorder is refused.
    assert manager.client.post("/manage/materials/reorder", data={"ids": [b.id, a.id]}).status_code == 400


# ---------------------------------------------------------------- the feed


def test_feed_pins_first_filters_by_tag_and_product_and_pages_with_htmx(promoter, app, make):
    make.product(sku="TEA-1", price_fen=5900)
    for i in range(12):
        add_material(app, title=f"普通{i:02d}", tags=["日常"])
    add_material(app, title="置顶素材", pinned=True)
    add_material(app, title="茶叶素材", sku="TEA-1", tags=["春茶"])
    page = promoter.get("/promoter/materials").get_data(as_text=True)
    titles = re.findall(r"<h3>(.+?)</h3>", page)
    assert titles[0] == "置顶素材" and titles[1] == "茶叶素材" and len(titles) == 10
    assert 'hx-trigger="revealed"' in page
    cursor = re.search(r'after=([^"&]+)', page).group(1)
    more = promoter.get(f"/promoter/materials?after={cursor}", headers={"HX-Request": "true"})
    rest = re.findall(r"<h3>(.+?)</h3>", more.get_data(as_text=True))
    assert "<html" not in more.get_data(as_text=True) and len(rest) == 4
    assert set(titles) | set(rest) == {f"普通{i:02d}" for i in range(12)} | {"置顶素材", "茶叶素材"}
    tagged = promoter.get("/promoter/materials?tag=春茶").get_data(as_text=True)
    assert re.findall(r"<h3>(.+?)</h3>", tagged) == ["茶叶素材"]
    with app.app_context():
        product_id = db.session.scalar(select(Product.id).where(Product.sku == "TEA-1"))
    by_product = promoter.get(f"/promoter/materials?product={product_id}").get_data(as_text=True)
    assert re.findall(r"<h3>(.+?)</h3>", by_product) == ["茶叶素材"]
    assert promoter.get("/promoter/materials?after=garbage&product=99999999999").status_code == 200


def test_card_fills_the_copy_and_shows_the_commission_on_the_product(promoter, app, make):
    make.product(sku="TEA-1", price_fen=5900)  # default plan: level 1 earns 10%
    material = add_material(app, body="{name} 推荐 {product}，{price}，戳 {link}", sku="TEA-1")
    html = promoter.get("/promoter/materials").get_data(as_text=True)
    code = promoter.promoter.code
    link = f"http://distweb.test/r/{code}/TEA-1?m={material.id}"
    assert f"张伟 推荐 商品 TEA-1，¥59.00，戳 {link}" in html
    assert "分享出单预计赚 ¥5.90" in html
    assert f'data-link="{link}"' in html


def test_the_estimate_is_commission_for_a_promoter_and_margin_for_a_distributor(promoter, app, make):
    """A plain promoter's shop sells a consignment product as a promotion order (plan L1);
    a distributor's sells it on consignment (its margin)."""
    from distweb.models import Brand
    from distweb.services import catalogue

    with app.app_context():
        catalogue.upsert_product(db.session.query(Brand).one(), "TEA-1", catalogue.ProductInput(
            name="龙井", price_fen=5900, supply_cost_fen=3100, supplier_code="westlake",
            modes=("promotion", "consignment")))
    add_material(app, sku="TEA-1")
    assert "分享出单预计赚 ¥5.90" in promoter.get("/promoter/materials").get_data(as_text=True)
    make.promoter(name="分销商", phone="13700000002", distributor=True)
    distributor = Browser(app.test_client())
    distributor.login("13700000002", PASSWORD)
    assert "出单利润约 ¥28.00" in distributor.get("/promoter/materials").get_data(as_text=True)


def test_script_in_copy_text_is_shown_as_text(promoter, app):
    add_material(app, title="<b>标题</b>", body='<script>alert("x")</script><img src=x onerror=alert(1)>')
    html = promoter.get("/promoter/materials").get_data(as_text=True)
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "&lt;b&gt;标题&lt;/b&gt;" in html


def test_expired_and_future_materials_stay_out_of_the_feed_and_cannot_be_shared(promoter, app):
    now = utcnow()
    gone = add_material(app, title="过期素材", active_to=now - timedelta(hours=1))
    later = add_material(app, title="未来素材", active_from=now + timedelta(days=1))
    add_material(app, title="在线素材")
    html = promoter.get("/promoter/materials").get_data(as_text=True)
    assert "在线素材" in html and "过期素材" not in html and "未来素材" not in html
    poster = fetch(promoter, f"/promoter/materials/{gone.id}/poster.png")
    assert poster.status_code == 410 and "这条素材已下线" in poster.get_data(as_text=True)
    shared = promoter.post(f"/promoter/materials/{later.id}/shared", {"channel": "copy"},
                           token_from="/promoter/materials")
    assert shared.status_code == 410 and shared.get_json()["error"]["code"] == "material_expired"


def test_a_deleted_material_leaves_the_feed_and_its_links_still_count(promoter, manager, app, client):
    material = add_material(app, title="要删除的素材")
    deleted = manager.post(f"/manage/materials/{material.id}/delete", token_from="/manage/materials",
                           follow_redirects=True)
    assert "素材已删除" in deleted.get_data(as_text=True)
    assert "要删除的素材" not in promoter.get("/promoter/materials").get_data(as_text=True)
    assert "要删除的素材" not in deleted.get_data(as_text=True)  # gone from the library too
    assert fetch(promoter, f"/promoter/materials/{material.id}/poster.png").status_code == 404
    assert promoter.get(f"/promoter/materials/{material.id}").status_code == 404
    client.get(f"/r/{promoter.promoter.code}?m={material.id}")  # shared while it was live
    with app.app_context():
        assert db.session.scalars(select(Click.material_id)).all() == [material.id]


def test_another_brands_material_is_not_found(promoter, app):
    from distweb.models import Brand

    with app.app_context():
        other = Brand(name="别家", short_name="别家", theme_color="#000000")
        db.session.add(other)
        db.session.flush()
        foreign = Material(brand_id=other.id, title="别家的素材", body="", position=0)
        db.session.add(foreign)
        db.session.commit()
        foreign_id = foreign.id
    assert fetch(promoter, f"/promoter/materials/{foreign_id}/poster.png").status_code == 404
    answer = promoter.post(f"/promoter/materials/{foreign_id}/shared", {"channel": "copy"},
                           token_from="/promoter/materials")
    assert answer.status_code == 404
    assert "别家的素材" not in promoter.get("/promoter/materials").get_data(as_text=True)


# ---------------------------------------------------------------- posters


def read_qr(png: bytes) -> str:
    with Image.open(io.BytesIO(png)) as picture:
        found = zxingcpp.read_barcodes(picture)
    assert found, "no QR code on the poster"
    return found[0].text


def test_poster_is_a_750x1334_png_whose_qr_is_the_promoters_tracked_link(promoter, manager, app, make):
    make.product(sku="TEA-1", price_fen=5900)
    material = add_material(app, sku="TEA-1")
    upload(manager, material.id, ("photo.jpg", images.jpeg_with_exif((1600, 1200))))
    response = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    assert response.status_code == 200 and response.mimetype == "image/png"
    with Image.open(io.BytesIO(response.data)) as poster:
        assert poster.format == "PNG" and poster.size == (750, 1334)
        assert poster.getpixel((375, 300))[:3] != (255, 255, 255)  # the material's picture is on it
    assert read_qr(response.data) == f"http://distweb.test/r/{promoter.promoter.code}/TEA-1?m={material.id}"


def test_posters_are_cached_and_redrawn_when_the_material_or_product_changes(promoter, app, make):
    make.product(sku="TEA-1", price_fen=5900)
    material = add_material(app, sku="TEA-1")
    first = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    files = list((Path(app.config["DISTWEB_UPLOADS"]) / "posters" / str(material.id)).glob("*.png"))
    assert len(files) == 1
    again = fetch(promoter, f"/promoter/materials/{material.id}/poster.png", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304  # the same poster, not drawn again
    with app.app_context():
        row = db.session.get(Material, material.id)
        materials.save_material(row.brand_id, materials.MaterialInput(title="改了标题", body=row.body,
                                                                      product_sku="TEA-1"), material=row)
    changed = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    assert changed.headers["ETag"] != first.headers["ETag"]
    # The product taken off sale: the poster still renders, without the product's price.
    with app.app_context():
        db.session.execute(Product.__table__.update().values(active=False))
        db.session.commit()
    off_sale = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    assert off_sale.status_code == 200
    assert read_qr(off_sale.data) == f"http://distweb.test/r/{promoter.promoter.code}?m={material.id}"
    files = list((Path(app.config["DISTWEB_UPLOADS"]) / "posters" / str(material.id)).glob("*.png"))
    assert len(files) == 1  # the stale posters are removed


def test_poster_without_pictures_still_renders_with_the_title(promoter, app):
    material = add_material(app, title="没有图片的素材")
    response = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    with Image.open(io.BytesIO(response.data)) as poster:
        assert poster.size == (750, 1334)


# ---------------------------------------------------------------- tracking


def test_shares_clicks_and_orders_are_counted_per_material_and_promoter(promoter, manager, app, make, client):
    make.product(sku="TEA-1", price_fen=5900)
    material = add_material(app, title="爆款素材", sku="TEA-1")
    other = add_material(app, title="冷门素材")
    for channel in ("web_share", "web_share", "copy", "wechat"):
        answer = promoter.post(f"/promoter/materials/{material.id}/shared", {"channel": channel},
                               token_from="/promoter/materials")
        assert answer.status_code == 204
    assert fetch(promoter, f"/promoter/materials/{material.id}/poster.png?save=1").headers[
        "Content-Disposition"].startswith("attachment")
    # A buyer follows the link (twice: counted once), then orders in the shop.
    code = promoter.promoter.code
    link = f"/r/{code}/TEA-1?m={material.id}"
    landing = client.get(link)
    assert landing.status_code == 302 and landing.headers["Location"].endswith(f"/s/{code}/p/TEA-1")
    client.get(link)
    shop = client.get(f"/s/{code}/p/TEA-1").get_data(as_text=True)
    placed = client.post(f"/s/{code}/p/TEA-1", data={"csrf_token": csrf_token_from(shop), "quantity": 2,
                                                   "name": "买家", "phone": "13900000009", "address": "上海市"})
    assert placed.status_code == 302
    with app.app_context():
        clicks = db.session.scalars(select(Click)).all()
        assert [(c.material_id, c.target) for c in clicks] == [(material.id, "TEA-1")]
        counted = db.session.scalars(select(MaterialOrder)).one()
        assert counted.material_id == material.id
        from distweb.models import Order
        from distweb.services import orders

        order = db.session.get(Order, counted.order_id)
        orders.mark_paid(order.brand_id, order.id)
        kinds = sorted((e.kind.value, e.channel) for e in db.session.scalars(select(MaterialEvent)))
        assert kinds == [("poster", "poster"), ("share", "copy"), ("share", "web_share"), ("share", "web_share"),
                         ("share", "wechat")]
    figures = {s.material.id: s for s in _stats(app)}
    hit = figures[material.id]
    assert (hit.shares, hit.posters, hit.clicks, hit.orders, hit.sales_fen) == (4, 1, 1, 1, 11800)
    assert (figures[other.id].shares, figures[other.id].clicks, figures[other.id].orders) == (0, 0, 0)
    library = manager.get("/manage/materials").get_data(as_text=True)
    row = library.split("爆款素材", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">([^<]+)</td>', row) == ["4", "1", "1", "1", "¥118.00", "100.0%"]
    detail = manager.get(f"/manage/materials/{material.id}").get_data(as_text=True)
    assert "系统分享 2 · 复制 1 · 保存海报 1 · 微信内 1" in detail
    row = detail.split(">张伟</a>", 1)[1].split("</tr>", 1)[0]
    assert re.findall(r'<td class="num">([^<]+)</td>', row) == ["5", "1", "1", "¥118.00"]
    card = promoter.get("/promoter/materials").get_data(as_text=True).split(f'id="m{material.id}"', 1)[1]
    assert "我的分享 5 · 点击 1 · 订单 1" in card.split("</article>", 1)[0]


def _stats(app):
    with app.app_context():
        from distweb.services.accounts import current_brand

        return materials.stats(current_brand().id)


def test_a_forged_material_cookie_or_foreign_material_id_counts_nothing(promoter, app, make, client):
    make.product(sku="TEA-1", price_fen=5900)
    material = add_material(app, sku="TEA-1")
    code = promoter.promoter.code
    client.get(f"/r/{code}/TEA-1?m=99999")  # no such material: the click counts, for no material
    client.set_cookie(materials.COOKIE_NAME, "forged", domain="distweb.test")
    shop = client.get(f"/s/{code}/p/TEA-1").get_data(as_text=True)
    client.post(f"/s/{code}/p/TEA-1", data={"csrf_token": csrf_token_from(shop), "quantity": 1, "name": "买家",
                                          "phone": "13900000009", "address": "上海市"})
    with app.app_context():
        assert db.session.scalars(select(Click.material_id)).all() == [None]
        assert db.session.scalar(select(func.count()).select_from(MaterialOrder)) == 0
    assert material.id


def avatar_files(app) -> set[str]:
    folder = Path(app.config["DISTWEB_UPLOADS"]) / "avatars"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def test_an_avatar_over_4096_pixels_is_refused_and_the_current_one_kept(promoter, app):
    from distweb.models import User

    token = csrf_token_from(promoter.get("/promoter/me").get_data(as_text=True))
    promoter.client.post("/promoter/me/avatar", data={"csrf_token": token, "avatar": (
        io.BytesIO(images.jpeg_with_exif((600, 400))), "me.jpg")}, content_type="multipart/form-data")
    with app.app_context():
        current = db.session.get(User, promoter.promoter.user_id).avatar_file
    files = avatar_files(app)
    for picture in (images.png_flat(6300, 6300), images.png_flat(4097, 100)):
        refused = promoter.client.post("/promoter/me/avatar", data={"csrf_token": token, "avatar": (
            io.BytesIO(picture), "big.png")}, content_type="multipart/form-data", follow_redirects=True)
        assert refused.status_code == 200
        assert "图片尺寸过大：宽和高都不能超过 4096 像素。" in refused.get_data(as_text=True)
        with app.app_context():
            assert db.session.get(User, promoter.promoter.user_id).avatar_file == current
        assert avatar_files(app) == files  # nothing written


def test_the_promoters_avatar_goes_on_the_poster_and_a_new_one_redraws_it(promoter, app):
    material = add_material(app)
    before = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    token = csrf_token_from(promoter.get("/promoter/me").get_data(as_text=True))
    bad = promoter.client.post("/promoter/me/avatar", data={"csrf_token": token, "avatar": (io.BytesIO(images.SVG_AS_PNG), "a.png")},
                               content_type="multipart/form-data", follow_redirects=True)
    assert "只支持 PNG、JPEG 或 WebP 图片" in bad.get_data(as_text=True)
    good = promoter.client.post("/promoter/me/avatar", data={"csrf_token": token, "avatar": (
        io.BytesIO(images.jpeg_with_exif((600, 400), (0, 160, 0))), "me.jpg")}, content_type="multipart/form-data",
        follow_redirects=True)
    assert "头像已更新" in good.get_data(as_text=True)
    shown = fetch(promoter, f"/media/avatars/{promoter.promoter.user_id}")
    with Image.open(io.BytesIO(shown.data)) as avatar:
        assert avatar.size == (256, 256) and not avatar.getexif()
    after = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    assert after.headers["ETag"] != before.headers["ETag"]
    with Image.open(io.BytesIO(after.data)) as poster:
        # The avatar's circle (green picture) where the initial's brand-coloured disc was.
        r, g, b = poster.getpixel((88, 1334 - 60 - 232 + 58))[:3]
        assert g > 120 and r < 60 and b < 60


def test_the_brands_logo_marks_the_poster_and_a_new_logo_redraws_it(promoter, app):
    from distweb.models import Brand
    from distweb.services import logos

    material = add_material(app)
    before = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    with app.app_context():
        brand = db.session.scalars(select(Brand)).one()
        brand.theme_color = "#0a7d4f"
        db.session.commit()
        logos.use_template(brand, "seal", app.config["DISTWEB_UPLOADS"])
    after = fetch(promoter, f"/promoter/materials/{material.id}/poster.png")
    assert after.headers["ETag"] != before.headers["ETag"]
    top = 1334 - 60 - 232
    with Image.open(io.BytesIO(after.data)) as poster:
        # the drawn seal, mostly the brand colour, where the brand's name used to start
        box = poster.convert("RGB").crop((40, top + 190, 40 + 36, top + 190 + 36))
        _count, (r, g, b) = max(box.getcolors(36 * 36))
        assert abs(r - 10) <= 12 and abs(g - 125) <= 12 and abs(b - 79) <= 12

"""Platform imports: an order export (CSV or XLSX, UTF-8 or GBK) mapped once, previewed with
its row errors, imported by a real RQ worker through the same order services as the API, and
safe to run again; promoters with their uplines; products; the manager's pages."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from openpyxl import Workbook
from rq import SimpleWorker
from sqlalchemy import func, select

from distweb.extensions import db
from distweb.models import ImportBatch, ImportKey, ImportRow, Job, Order, Promoter
from distweb.models.job import JobStatus
from distweb.queues import all_queues, redis_connection
from distweb.services import commission_view, imports, jobs
from tests.support.factories import PASSWORD

YOUZAN_HEADER = ["订单号", "商品编码", "商品数量", "商品单价", "商品实际成交金额", "付款时间", "交易成功时间",
                 "商品已退款金额", "订单状态", "推客邀请码", "收货人", "收货人手机号"]
GENERIC_HEADER = ["单号", "SKU编码", "件数", "实付（元）", "支付时间", "退款（元）", "状态", "推广员"]


def work_off_queues():
    SimpleWorker(all_queues(), connection=redis_connection()).work(burst=True)


def csv_bytes(header, rows, encoding="utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(header, rows) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.fixture
def shop(app, make):
    brand = make.brand()
    seller = make.promoter(name="卖家", phone="13600000001")
    upline = make.promoter(name="上级", phone="13600000002")
    with app.app_context():
        row = db.session.get(Promoter, seller.id)
        from distweb.services import network

        network.place_under(row, db.session.get(Promoter, upline.id))
        db.session.commit()
    make.product("TEA-001", price_fen=5900)
    make.product("TEA-002", price_fen=3000)

    class Shop:
        pass

    s = Shop()
    s.brand, s.seller, s.upline = brand, seller, upline
    return s


def upload(shop, kind, source, name, data: bytes) -> int:
    batch = imports.upload(shop.brand.id, None, kind, source, name, io.BytesIO(data))
    return batch.id


def run(batch_id: int, columns: dict | None = None, options: dict | None = None) -> ImportBatch:
    batch = db.session.get(ImportBatch, batch_id)
    if columns is not None or options is not None:
        imports.save_mapping(batch, columns if columns is not None else batch.columns, options or batch.options)
    imports.start(batch, None)
    work_off_queues()
    db.session.expire_all()
    return db.session.get(ImportBatch, batch_id)


def outcomes(batch: ImportBatch) -> dict[int, tuple[str, str | None]]:
    return {r.row_no: (r.outcome, r.reason) for r in
            db.session.scalars(select(ImportRow).where(ImportRow.batch_id == batch.id))}


def youzan_rows(shop):
    code = shop.seller.code
    return [
        ["E001", "TEA-001", "2", "59.00", "118.00", "2026-11-28 10:00:00", "", "", "已发货", code, "李女士", "13900000000"],
        ["E001", "TEA-002", "1", "30", "25.5", "2026-11-28 10:00:00", "", "", "已发货", code, "李女士", "13900000000"],
        ["E002", "TEA-001", "1", "59", "59", "2026/11/29 09:30", "2026-12-02 12:00:00", "20.00", "交易成功", code, "", ""],
        ["E003", "NOPE-9", "1", "10", "10", "2026-11-29 10:00:00", "", "", "已发货", code, "", ""],
        ["E004", "TEA-001", "1", "59", "59", "", "", "", "待付款", code, "", ""],
    ]


def test_a_youzan_csv_is_mapped_by_its_preset_and_imported_through_the_order_services(app_ctx, shop):
    batch_id = upload(shop, "orders", "youzan", "有赞订单.csv", csv_bytes(YOUZAN_HEADER, youzan_rows(shop)))
    batch = db.session.get(ImportBatch, batch_id)
    assert batch.file_format == "csv" and batch.encoding == "utf-8-sig"
    assert batch.columns["external_id"] == "订单号" and batch.columns["paid"] == "商品实际成交金额"
    assert batch.columns["promoter_code"] == "推客邀请码"
    batch = run(batch_id)
    job = db.session.get(Job, batch.job_id)
    assert job.status == JobStatus.SUCCEEDED and job.progress == 100
    assert batch.total_rows == 5 and batch.rows_done == 6
    assert not imports.file_path(batch).exists()  # buyers' details are not kept once imported
    rows = outcomes(batch)
    assert rows[2][0] == rows[3][0] == "created"  # one order of two rows
    assert rows[4][0] == "created"
    assert rows[5] == ("skipped", "unknown_sku: SKU NOPE-9 不存在。")
    assert rows[6][0] == "skipped" and rows[6][1].startswith("not_paid")
    assert job.result == {"created": "3", "updated": "0", "refunded": "0", "unchanged": "0", "skipped": "2"}
    e1 = db.session.scalars(select(Order).where(Order.external_id == "E001")).one()
    assert e1.total_paid_fen == 11800 + 2550 and e1.source == "import" and e1.status.value == "paid"
    assert e1.paid_at == datetime.fromisoformat("2026-11-28T10:00:00+08:00")
    e2 = db.session.scalars(select(Order).where(Order.external_id == "E002")).one()
    assert e2.refunded_fen == 2000 and e2.status.value == "completed"
    assert e2.completed_at == datetime.fromisoformat("2026-12-02T12:00:00+08:00")
    lines = commission_view.lines_json(e1)
    assert {(line["promoter_code"], line["level"]) for line in lines} == {(shop.seller.code, 1), (shop.upline.code, 2)}


def test_an_imported_order_earns_exactly_what_the_same_order_through_the_api_earns(app, app_ctx, shop, client):
    from distweb.models import Brand
    from distweb.services import api_keys

    _row, key = api_keys.create_key(db.session.get(Brand, shop.brand.id), "商城")
    db.session.commit()
    body = {"external_id": "API-1", "promoter_code": shop.seller.code, "mode": "promotion",
            "items": [{"sku": "TEA-001", "quantity": 3, "unit_price_fen": 5900, "paid_fen": 15333}],
            "paid_at": "2026-11-28T10:00:00+08:00"}
    assert client.post("/api/v1/orders", json=body, headers={"Authorization": f"Bearer {key}"}).status_code == 201
    data = csv_bytes(GENERIC_HEADER, [["IMP-1", "TEA-001", "3", "153.33", "2026-11-28 10:00:00", "", "", shop.seller.code]])
    batch = run(upload(shop, "orders", "generic", "orders.csv", data),
                {"external_id": "单号", "sku": "SKU编码", "quantity": "件数", "paid": "实付（元）", "paid_at": "支付时间",
                 "promoter_code": "推广员"})
    assert outcomes(batch)[2][0] == "created"
    via_api = db.session.scalars(select(Order).where(Order.external_id == "API-1")).one()
    imported = db.session.scalars(select(Order).where(Order.external_id == "IMP-1")).one()

    def earned(order):
        return sorted((line["promoter_code"], line["level"], line["amount_fen"]) for line in commission_view.lines_json(order))

    assert earned(imported) == earned(via_api) and earned(imported)
    assert imported.total_paid_fen == via_api.total_paid_fen == 15333
    from distweb.services.verify import verify

    assert verify().ok


def test_reimporting_the_same_file_creates_nothing_twice_and_applies_only_new_refunds(app_ctx, shop):
    data = csv_bytes(YOUZAN_HEADER, youzan_rows(shop)[:3])
    first = run(upload(shop, "orders", "youzan", "a.csv", data))
    assert {o for o, _ in outcomes(first).values()} == {"created"}
    again = run(upload(shop, "orders", "youzan", "a.csv", data))
    assert {o for o, _ in outcomes(again).values()} == {"unchanged"}
    assert db.session.scalar(select(func.count(Order.id))) == 2
    # The platform refunded more of E002 since: only the difference is refunded.
    rows = youzan_rows(shop)[:3]
    rows[2][7] = "45.00"
    third = run(upload(shop, "orders", "youzan", "b.csv", csv_bytes(YOUZAN_HEADER, rows)))
    assert outcomes(third)[4][0] == "refunded"
    e2 = db.session.scalars(select(Order).where(Order.external_id == "E002")).one()
    assert e2.refunded_fen == 4500 and len(e2.refunds) == 2
    fourth = run(upload(shop, "orders", "youzan", "b.csv", csv_bytes(YOUZAN_HEADER, rows)))
    assert outcomes(fourth)[4][0] == "unchanged"
    e2 = db.session.scalars(select(Order).where(Order.external_id == "E002")).one()  # the run let go of it
    assert e2.refunded_fen == 4500


def test_a_killed_run_resumes_after_its_checkpoint_and_counts_each_row_once(app_ctx, shop, monkeypatch):
    from distweb.services import orders as order_service

    data = csv_bytes(YOUZAN_HEADER, youzan_rows(shop)[:3])
    batch_id = upload(shop, "orders", "youzan", "a.csv", data)
    real_refund = order_service.refund
    calls = []

    def killed(*args, **kwargs):
        calls.append(1)
        raise SystemExit("worker killed")  # E002 placed and committed; its refund never ran

    monkeypatch.setattr(order_service, "refund", killed)
    batch = db.session.get(ImportBatch, batch_id)
    job = imports.start(batch, None)
    from worker.jobs import run_import

    with pytest.raises(SystemExit):
        run_import(job.id)
    monkeypatch.setattr(order_service, "refund", real_refund)
    db.session.rollback()
    with db.session.begin():
        db.session.get(Job, job.id).status = JobStatus.QUEUED  # what the sweep does for a killed worker
    run_import(job.id)
    db.session.expire_all()
    batch = db.session.get(ImportBatch, batch_id)
    assert calls and db.session.scalar(select(func.count(Order.id))) == 2
    e2 = db.session.scalars(select(Order).where(Order.external_id == "E002")).one()
    assert e2.refunded_fen == 2000 and e2.status.value == "completed"
    assert {r: o for r, (o, _) in outcomes(batch).items()} == {2: "created", 3: "created", 4: "created"}
    assert db.session.get(Job, job.id).result["created"] == "3"


def test_xlsx_with_numbers_and_dates_in_cells(app_ctx, shop):
    rows = [["X1", "TEA-001", 2, 59, 100.5, datetime(2026, 11, 28, 10, 0), None, None, "已发货", shop.seller.code, "", ""]]
    batch = run(upload(shop, "orders", "youzan", "export.xlsx", xlsx_bytes(YOUZAN_HEADER, rows)))
    assert batch.file_format == "xlsx"
    assert outcomes(batch)[2][0] == "created"
    order = db.session.scalars(select(Order).where(Order.external_id == "X1")).one()
    assert order.total_paid_fen == 10050
    assert order.paid_at == datetime.fromisoformat("2026-11-28T10:00:00+08:00")


def test_a_gbk_csv_from_a_chinese_platform_is_read(app_ctx, shop):
    data = csv_bytes(YOUZAN_HEADER, youzan_rows(shop)[:1], encoding="gbk")
    batch_id = upload(shop, "orders", "youzan", "gbk.csv", data)
    batch = db.session.get(ImportBatch, batch_id)
    assert batch.encoding == "gb18030" and batch.headers[0] == "订单号"
    batch = run(batch_id)
    assert outcomes(batch)[2][0] == "created"
    assert db.session.scalars(select(Order.buyer_name).where(Order.external_id == "E001")).one() == "李女士"


def test_the_mapping_is_saved_per_brand_and_source_and_reused_for_the_next_file(app_ctx, shop):
    columns = {"external_id": "单号", "sku": "SKU编码", "quantity": "件数", "paid": "实付（元）", "paid_at": "支付时间",
               "refund": "退款（元）", "status": "状态", "promoter_code": "推广员"}
    data = csv_bytes(GENERIC_HEADER, [["G1", "TEA-001", "1", "59", "2026-11-28 10:00", "", "", shop.seller.code]])
    first = db.session.get(ImportBatch, upload(shop, "orders", "generic", "a.csv", data))
    assert "external_id" not in first.columns  # 单号 is no name the generic mapping knows
    imports.save_mapping(first, columns, {"mode": "promotion", "prefix": "WX-"})
    second = db.session.get(ImportBatch, upload(shop, "orders", "generic", "b.csv", data))
    assert second.columns == columns and second.options["prefix"] == "WX-"
    other_source = db.session.get(ImportBatch, upload(shop, "orders", "youzan", "c.csv", data))
    assert other_source.columns != columns
    batch = run(second.id)
    assert outcomes(batch)[2][0] == "created"
    assert db.session.scalar(select(func.count(Order.id)).where(Order.external_id == "WX-G1")) == 1


def test_a_mapping_without_a_required_column_is_refused(app_ctx, shop):
    from distweb.services.errors import ServiceError

    data = csv_bytes(GENERIC_HEADER, [["G1", "TEA-001", "1", "59", "2026-11-28 10:00", "", "", ""]])
    batch = db.session.get(ImportBatch, upload(shop, "orders", "generic", "a.csv", data))
    with pytest.raises(ServiceError) as refused:
        imports.save_mapping(batch, {"external_id": "单号", "sku": "SKU编码"}, {})
    assert refused.value.field == "quantity"
    with pytest.raises(ServiceError):
        imports.save_mapping(batch, {"external_id": "不存在的列"}, {})


def test_preview_shows_the_first_rows_with_their_errors_and_writes_nothing(app_ctx, shop):
    rows = youzan_rows(shop)
    rows.append(["E005", "TEA-001", "two", "59", "59", "2026-11-28 10:00:00", "", "", "", shop.seller.code, "", ""])
    rows.append(["E006", "TEA-001", "1", "59", "5x9", "2026-11-28 10:00:00", "", "", "", shop.seller.code, "", ""])
    rows.append(["E007", "TEA-001", "1", "59", "59", "2026-11-28 10:00:00", "", "", "", "NOBODY", "", ""])
    rows.append(["E008", "TEA-001", "1", "59", "99", "2026-11-28 10:00:00", "", "", "", shop.seller.code, "", ""])
    batch = db.session.get(ImportBatch, upload(shop, "orders", "youzan", "a.csv", csv_bytes(YOUZAN_HEADER, rows)))
    shown = {row.row_no: row for row in imports.preview(batch)}
    assert shown[2].error is None and shown[2].values["sku"] == "TEA-001"
    assert shown[5].error == "SKU NOPE-9 不存在。"
    assert shown[6].error == "订单未付款，不导入。"
    assert "必须是整数" in shown[7].error
    assert "不是有效金额" in shown[8].error
    assert "NOBODY" in shown[9].error
    # Paid above the catalogue's price: the preview says so, as the import would refuse it.
    assert shown[10].error == "实付金额不能超过单价 × 数量。"
    assert db.session.scalar(select(func.count(Order.id))) == 0


def test_bad_rows_are_reported_with_their_row_numbers_and_the_rest_is_imported(app_ctx, shop):
    code = shop.seller.code
    rows = [
        ["B1", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "", "", code, "", ""],
        ["B2", "TEA-001", "0", "59", "0", "2026-11-28 10:00", "", "", "", code, "", ""],
        ["B3", "TEA-001", "1", "59", "59", "yesterday", "", "", "", code, "", ""],
        ["B4", "TEA-001", "1", "59", "99", "2026-11-28 10:00", "", "", "", code, "", ""],
        ["B5", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "", "", code, "", ""],
        ["B5", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "", "", code, "", ""],
        ["B6", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "80", "", code, "", ""],
        ["B7", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "", "", code, "", ""],
    ]
    batch = run(upload(shop, "orders", "youzan", "a.csv", csv_bytes(YOUZAN_HEADER, rows)))
    got = outcomes(batch)
    assert got[2][0] == "created" and got[9][0] == "created"
    assert got[3] == ("skipped", "invalid_quantity: 数量必须是不小于 1 的整数。")
    assert got[4][0] == "skipped" and "不是有效时间" in got[4][1]
    assert got[5] == ("skipped", "paid_above_price: 实付金额不能超过单价 × 数量。")
    assert got[6][0] == got[7][0] == "skipped"
    assert got[7][1].startswith("duplicate_sku") and "第 7 行" in got[6][1]  # the second B5 row is at fault
    # B6: placed, but refunding more than was paid is refused: the order stays, the row says why.
    assert got[8][0] == "created" and "refund_exceeds_paid" in got[8][1]
    assert db.session.scalar(select(func.count(Order.id))) == 3
    summary = list(imports.summary_rows(batch))
    assert [r[0] for r in summary] == list(range(2, 10))


def test_a_cancelled_or_closed_order_is_not_placed_but_an_existing_one_is_cancelled(app_ctx, shop):
    code = shop.seller.code
    rows = [["C1", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "", "已发货", code, "", ""]]
    run(upload(shop, "orders", "youzan", "a.csv", csv_bytes(YOUZAN_HEADER, rows)))
    rows[0][8] = "交易关闭"
    rows.append(["C2", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "", "已取消", code, "", ""])
    batch = run(upload(shop, "orders", "youzan", "b.csv", csv_bytes(YOUZAN_HEADER, rows)))
    got = outcomes(batch)
    assert got[2][0] == "updated" and got[3][0] == "skipped" and got[3][1].startswith("order_closed")
    c1 = db.session.scalars(select(Order).where(Order.external_id == "C1")).one()
    assert c1.status.value == "cancelled"
    assert all(line["status"] == "reversed" for line in commission_view.lines_json(c1))


# ---------------------------------------------------------------- promoters and products

PROMOTER_HEADER = ["编号", "姓名", "手机号", "上级编号", "等级"]


def test_a_network_moves_in_with_uplines_that_come_later_in_the_file(app_ctx, shop):
    rows = [
        ["P3", "孙三", "13700000003", "P2", "推客"],      # its upline comes later
        ["P2", "李二", "13700000002", "P1", "导师"],
        ["P1", "张一", "13700000001", "", "合伙人"],
        ["P4", "周四", "13700000004", shop.seller.code, ""],  # under one of ours, by invite code
        ["P5", "吴五", "13700000005", "P9", ""],          # unknown upline
        ["P6", "郑六", "13700000006", "P7", ""],          # a cycle P6 -> P7 -> P6
        ["P7", "王七", "13700000007", "P6", ""],
        ["P8", "冯八", "13700000008", "P6", ""],          # below the cycle
        ["P10", "陈十", "13700000010", "P10", ""],        # its own upline
        ["P11", "", "13700000011", "", ""],               # no name
    ]
    batch = run(upload(shop, "promoters", "generic", "network.csv", csv_bytes(PROMOTER_HEADER, rows)))
    got = outcomes(batch)
    assert [got[r][0] for r in (2, 3, 4, 5)] == ["created"] * 4
    assert got[6][0] == "skipped" and got[6][1].startswith("unknown_upline")
    assert got[7][1].startswith("cycle") and got[8][1].startswith("cycle")
    assert got[9][1].startswith("upline_in_cycle")
    assert got[10][1].startswith("cycle")
    assert got[11][1].startswith("invalid_name")

    def by_phone(phone):
        from distweb.models import User

        return db.session.scalars(select(Promoter).join(User, User.id == Promoter.user_id)
                                  .where(User.phone == phone)).one()

    p1, p2, p3, p4 = (by_phone(f"1370000000{n}") for n in (1, 2, 3, 4))
    assert p3.upline_id == p2.id and p3.upline2_id == p1.id and p2.upline_id == p1.id and p1.upline_id is None
    assert p2.rank.value == "mentor" and p1.rank.value == "partner"
    assert p4.upline_id == shop.seller.id
    ids = (p3.id, p2.id, p1.id)  # a run lets go of the session's objects
    # Again: nothing twice; orders can name the old ids.
    again = run(upload(shop, "promoters", "generic", "network.csv", csv_bytes(PROMOTER_HEADER, rows)))
    assert [outcomes(again)[r][0] for r in (2, 3, 4, 5)] == ["unchanged"] * 4
    assert db.session.scalar(select(func.count(ImportKey.id))) == 4
    order_rows = [["O1", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "", "", "P3", "", ""]]
    orders_batch = run(upload(shop, "orders", "youzan", "o.csv", csv_bytes(YOUZAN_HEADER, order_rows)))
    assert outcomes(orders_batch)[2][0] == "created"
    order = db.session.scalars(select(Order).where(Order.external_id == "O1")).one()
    assert (order.chain_l1_id, order.chain_l2_id, order.chain_l3_id) == ids


def test_products_import_creates_and_then_updates_by_sku(app_ctx, shop):
    header = ["商品编码", "商品名称", "售价", "供货价", "类目", "销售模式"]
    rows = [["NEW-1", "新茶", "88.00", "40", "茶叶", "推广"], ["TEA-001", "改名的茶", "69", "31", "", ""],
            ["BAD 2", "空格", "1", "", "", ""], ["NEW-3", "贵的成本", "10", "20", "", ""]]
    batch = run(upload(shop, "products", "generic", "products.csv", csv_bytes(header, rows)))
    got = outcomes(batch)
    assert got[2][0] == "created" and got[3][0] == "updated"
    assert got[4][1].startswith("invalid_sku") and got[5][1].startswith("cost_above_price")
    from distweb.services import catalogue

    assert catalogue.product_by_sku(shop.brand.id, "NEW-1").price_fen == 8800
    assert catalogue.product_by_sku(shop.brand.id, "TEA-001").name == "改名的茶"


# ---------------------------------------------------------------- the manager's pages


def manager(browser):
    browser.login("boss@example.com", PASSWORD)
    return browser


def test_the_manager_uploads_maps_previews_imports_and_downloads_the_summary(app, browser, shop):
    manager(browser)
    page = browser.get("/manage/imports").get_data(as_text=True)
    assert "有赞" in page and "未确认" in page
    data = csv_bytes(YOUZAN_HEADER, youzan_rows(shop))
    token = browser.token("/manage/imports")
    answer = browser.client.post("/manage/imports", data={"csrf_token": token, "kind": "orders", "source": "youzan",
                                                         "file": (io.BytesIO(data), "有赞.csv")},
                                 content_type="multipart/form-data")
    assert answer.status_code == 302
    url = answer.headers["Location"]
    page = browser.get(url).get_data(as_text=True)
    assert "SKU NOPE-9 不存在。" in page and "订单未付款，不导入。" in page and "商品实际成交金额" in page
    answer = browser.post(url + "/start", {}, token_from=url)
    assert answer.status_code == 302
    widget = browser.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert widget.startswith('<div class="job-status"') and 'hx-trigger="load delay:1s"' in widget
    assert "排队中" in widget and "<progress" in widget
    with app.app_context():
        work_off_queues()
    page = browser.get(url).get_data(as_text=True)
    assert "已完成" in page and "新建" in page
    summary = browser.get(url + "/summary.csv")
    assert summary.status_code == 200 and "attachment" in summary.headers["Content-Disposition"]
    widget = browser.get(url, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in widget  # done: the progress bar stops polling
    text = summary.get_data(as_text=True)
    assert "unknown_sku" in text and "E002" in text
    lines = text.strip().splitlines()
    assert len(lines) == 1 + 5


def test_state_changes_need_the_csrf_token(app, browser, shop):
    manager(browser)
    answer = browser.client.post("/manage/imports", data={"kind": "orders", "source": "youzan",
                                                         "file": (io.BytesIO(b"a,b\n1,2\n"), "x.csv")},
                                 content_type="multipart/form-data")
    assert answer.status_code == 400
    with app.app_context():
        assert db.session.scalar(select(func.count(ImportBatch.id))) == 0
        batch_id = upload(shop, "orders", "youzan", "a.csv", csv_bytes(YOUZAN_HEADER, youzan_rows(shop)))
    assert browser.client.post(f"/manage/imports/{batch_id}/start").status_code == 400
    assert browser.client.post(f"/manage/imports/{batch_id}/mapping", data={"external_id": "订单号"}).status_code == 400
    with app.app_context():
        assert db.session.get(ImportBatch, batch_id).job_id is None


def test_another_brand_cannot_see_or_start_your_imports(app, browser, shop):
    from distweb.models import Brand

    with app.app_context():
        other = Brand(name="别家", short_name="别家")
        db.session.add(other)
        db.session.commit()
        foreign = imports.upload(other.id, None, "orders", "youzan", "their.csv",
                                 io.BytesIO(csv_bytes(YOUZAN_HEADER, youzan_rows(shop))))
        foreign_id = foreign.id
    manager(browser)
    assert browser.get(f"/manage/imports/{foreign_id}").status_code == 404
    assert browser.get(f"/manage/imports/{foreign_id}/summary.csv").status_code == 404
    assert browser.post(f"/manage/imports/{foreign_id}/start", {}, token_from="/manage/imports").status_code == 404
    assert "their.csv" not in browser.get("/manage/imports").get_data(as_text=True)
    with app.app_context():
        assert db.session.get(ImportBatch, foreign_id).job_id is None
        assert jobs.recent_jobs(shop.brand.id) == []


def test_files_that_are_not_exports_are_refused_with_a_message(app_ctx, shop):
    from distweb.services.errors import ServiceError

    for name, data, code in [("old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100, "xls_not_supported"),
                             ("broken.xlsx", b"PK\x03\x04garbage", "invalid_xlsx"),
                             ("binary.csv", bytes(range(128, 256)) * 4, "unknown_encoding"),
                             ("empty.csv", b"", "empty_file")]:
        with pytest.raises(ServiceError) as refused:
            upload(shop, "orders", "generic", name, data)
        assert refused.value.code == code
    assert db.session.scalar(select(func.count(ImportBatch.id))) == 0


def test_names_from_another_brand_are_unknown_to_your_import(app_ctx, shop):
    from distweb.models import Brand
    from distweb.services import network

    other = Brand(name="别家", short_name="别家")
    db.session.add(other)
    db.session.commit()
    stranger = network.import_promoter(other, "别家推客", "13511112222", None, None)
    stranger_code = stranger.code
    rows = [["S1", "TEA-001", "1", "59", "59", "2026-11-28 10:00", "", "", "", stranger_code, "", ""]]
    batch = run(upload(shop, "orders", "youzan", "a.csv", csv_bytes(YOUZAN_HEADER, rows)))
    assert outcomes(batch)[2][0] == "skipped" and "unknown_promoter" in outcomes(batch)[2][1]
    network_rows = [["Q1", "甲", "13700000021", stranger_code, ""]]
    batch = run(upload(shop, "promoters", "generic", "p.csv", csv_bytes(PROMOTER_HEADER, network_rows)))
    assert outcomes(batch)[2][1].startswith("unknown_upline")

"""Command line: ``distweb <command>`` (the same commands as ``flask --app wsgi <command>``)."""

from __future__ import annotations

import sys

import click
from flask.cli import FlaskGroup, with_appcontext
from flask.globals import app_ctx

from distweb.services.errors import ServiceError


def _create_app(*_args):
    from distweb import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True)
def main() -> None:
    """distweb — 分销管理系统."""


def init_app(app) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(api_key)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(launch_command)
    app.cli.add_command(ledger_group)
    app.cli.add_command(dashboard_group)


@click.command("init")
@with_appcontext
@click.option("--brand", "brand_name", required=True, help="The brand's name.")
@click.option("--manager-email", required=True)
@click.option("--manager-password", required=True)
def init_command(brand_name: str, manager_email: str, manager_password: str) -> None:
    """First-run set-up: the brand and its first manager (safe to run again)."""
    from distweb.services import accounts

    try:
        brand, manager, created = accounts.init_brand(brand_name, manager_email, manager_password)
    except ServiceError as err:
        raise click.ClickException(str(err.message)) from None
    click.echo(("created" if created else "already set up") + f": brand {brand.name!r}, manager {manager.email}")


@click.group("api-key")
def api_key() -> None:
    """API keys for shops and ERPs."""


@api_key.command("create")
@with_appcontext
@click.option("--name", required=True)
def api_key_create(name: str) -> None:
    """Create a key; prints only the key on stdout (it is never shown again)."""
    from distweb.services import accounts, api_keys

    brand = accounts.current_brand()
    if brand is None:
        raise click.ClickException("run `distweb init` first")
    try:
        row, key = api_keys.create_key(brand, name)
    except ServiceError as err:
        raise click.ClickException(str(err.message)) from None
    click.echo(key)
    click.echo(f"webhook signing secret: {row.webhook_secret}", err=True)


@click.command("demo")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Only load when the database has no brand yet.")
def demo_command(if_empty: bool) -> None:
    """Load believable Chinese demo data and print the demo logins."""
    from distweb.services import accounts, demo

    if if_empty and accounts.current_brand() is not None:
        click.echo("database already has data; demo not loaded")
        return
    logins = demo.load_demo()
    click.echo(demo.describe_logins(logins))


@click.command("worker")
@with_appcontext
@click.option("--burst", is_flag=True, help="Exit when the queues are empty.")
def worker_command(burst: bool) -> None:
    """Run an RQ worker on queues webhooks, default, settlement and pdf (with the scheduler)."""
    from worker.main import run_worker

    sys.exit(0 if run_worker(app_ctx.app, burst=burst) is not False else 1)


@click.command("launch")
@with_appcontext
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def launch_command(host: str, port: int) -> None:
    """Everything at once for a laptop: embedded Redis, a worker and the web server."""
    from distweb.launcher import launch

    launch(host=host, port=port)


@click.group("ledger")
def ledger_group() -> None:
    """The double-entry ledger."""


@ledger_group.command("verify")
@click.option("--reprice-limit", type=int, default=None, help="Re-price only the newest N paid orders.")
@with_appcontext
def ledger_verify(reprice_limit: int | None) -> None:
    """Check every transaction balances, accounts sum to zero, lines match the ledger, their
    states and their plan version, and every promoter's balances match its lines and
    withdrawals. Exits 1 on any violation."""
    from distweb.services.verify import verify

    report = verify(reprice_limit=reprice_limit)
    click.echo(f"transactions: {report.transactions}  entries: {report.entries}  lines: {report.lines}  "
               f"promoters: {report.promoters}  orders re-priced: {report.orders_repriced}")
    for violation in report.violations[:100]:
        click.echo(f"VIOLATION {violation}")
    if report.violations:
        click.echo(f"{len(report.violations)} violation(s)")
        sys.exit(1)
    click.echo("ledger ok")


@click.group("dashboard")
def dashboard_group() -> None:
    """The dashboard's rollups (per-day and per-month sums)."""


@dashboard_group.command("rebuild-rollups")
@click.option("--brand-id", type=int, default=None, help="Only this brand (default: every brand).")
@with_appcontext
def dashboard_rebuild(brand_id: int | None) -> None:
    """Recompute the sums from the orders, refunds, commission lines and ledger (safe to run
    any time, and again; writers wait while a brand is rebuilt)."""
    from distweb.services import rollups

    done = {brand_id: rollups.rebuild(brand_id)} if brand_id is not None else rollups.rebuild_all()
    for brand, counts in done.items():
        click.echo(f"brand {brand}: " + ", ".join(f"{n} {name}" for name, n in counts.items()))


@dashboard_group.command("fold")
@with_appcontext
def dashboard_fold() -> None:
    """Fold every waiting delta into the sums now (the workers do it every few seconds)."""
    from distweb.services import rollups

    click.echo(f"folded {rollups.fold_all()} delta(s)")

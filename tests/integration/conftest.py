"""Fixtures for the integration tests beyond the shared ones: the stand-in payment providers."""

from tests.fakes.fixtures import alipay, trusted, wechat  # noqa: F401 — fixtures

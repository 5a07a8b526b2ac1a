"""Fixtures for the integration tests beyond the shared ones: the stand-in payment providers,
and the payout tests' brand with both providers and a promoter with money (``payout_world``)."""

from tests.fakes.fixtures import alipay, trusted, wechat  # noqa: F401 — fixtures
from tests.support.payouts import payout_world  # noqa: F401 — fixture

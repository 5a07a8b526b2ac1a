"""The SMS provider adapters, with each SDK's client stubbed at its public call
(Alibaba's ``Client.send_sms``, Tencent's ``SmsClient.SendSms``): what they send, and that
every refusal or network error becomes ``SmsSendError``. And the settings that choose them."""

from __future__ import annotations

import json

import pytest
from alibabacloud_dysmsapi20170525 import models as dysms_models
from alibabacloud_dysmsapi20170525.client import Client as AliyunClient
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.sms.v20210111 import models as tencent_models
from tencentcloud.sms.v20210111.sms_client import SmsClient

from distweb.config import sms_from_environment
from distweb.services.sms_senders import (
    AliyunSender,
    ConsoleSender,
    SmsSendError,
    TencentSender,
    check_config,
    sender_from_config,
)


def aliyun_answer(code="OK", message="OK", biz_id="900619746936498440^0"):
    body = dysms_models.SendSmsResponseBody(code=code, message=message, biz_id=biz_id, request_id="F655A8D5")
    return dysms_models.SendSmsResponse(headers={}, status_code=200, body=body)


def tencent_answer(code="Ok", serial="2640:1234567890"):
    answer = tencent_models.SendSmsResponse()
    answer.from_json_string(json.dumps({
        "SendStatusSet": [{"SerialNo": serial, "PhoneNumber": "+8613911112222", "Fee": 1, "SessionContext": "",
                           "Code": code, "Message": "send success", "IsoCode": "CN"}],
        "RequestId": "a0aabda6"}))
    return answer


class Calls(list):
    """What the stubbed SDK call was given; ``answer(request)`` makes its reply (default OK)."""

    answer = None


@pytest.fixture
def aliyun_calls(monkeypatch):
    calls = Calls()

    def send_sms(self, request):
        calls.append(request)
        return calls.answer(request) if calls.answer else aliyun_answer()

    monkeypatch.setattr(AliyunClient, "send_sms", send_sms)
    return calls


@pytest.fixture
def tencent_calls(monkeypatch):
    calls = Calls()

    def send(self, request):
        calls.append((self, request))
        return calls.answer(request) if calls.answer else tencent_answer()

    monkeypatch.setattr(SmsClient, "SendSms", send)
    return calls


def aliyun(**kw):
    return AliyunSender("LTAI-test", "secret-test", "分销系统", "SMS_123456789", **kw)


def tencent(**kw):
    return TencentSender("AKID-test", "secret-test", "1400006666", "分销系统", "449739", **kw)


def test_aliyun_sends_one_number_with_the_signature_template_and_code(aliyun_calls):
    reference = aliyun().send_code("13911112222", "042917", 5)
    assert reference == "900619746936498440^0"
    (request,) = aliyun_calls
    assert isinstance(request, dysms_models.SendSmsRequest)
    assert request.phone_numbers == "13911112222"
    assert request.sign_name == "分销系统" and request.template_code == "SMS_123456789"
    assert json.loads(request.template_param) == {"code": "042917"}


def test_aliyun_template_can_take_the_minutes_too(aliyun_calls):
    aliyun(template_params=("code", "minutes")).send_code("13911112222", "042917", 5)
    assert json.loads(aliyun_calls[0].template_param) == {"code": "042917", "minutes": "5"}


def test_aliyun_builds_its_client_from_the_keys_and_endpoint():
    sender = aliyun(endpoint="dysmsapi.aliyuncs.com")
    client = sender.client()
    assert isinstance(client, AliyunClient)
    assert sender.client() is client  # built once


def test_aliyun_refusal_and_errors_are_send_errors(aliyun_calls):
    aliyun_calls.answer = lambda request: aliyun_answer(code="isv.BUSINESS_LIMIT_CONTROL", message="触发分钟级流控")
    with pytest.raises(SmsSendError, match="isv.BUSINESS_LIMIT_CONTROL"):
        aliyun().send_code("13911112222", "042917", 5)

    def broken(request):
        raise ConnectionError("connect timeout")

    aliyun_calls.answer = broken
    with pytest.raises(SmsSendError, match="ConnectionError"):
        aliyun().send_code("13911112222", "042917", 5)


def test_tencent_sends_an_e164_number_with_app_signature_template_and_code(tencent_calls):
    reference = tencent(region="ap-nanjing").send_code("13911112222", "042917", 5)
    assert reference == "2640:1234567890"
    ((client, request),) = tencent_calls
    assert isinstance(request, tencent_models.SendSmsRequest)
    assert request.PhoneNumberSet == ["+8613911112222"]
    assert request.SmsSdkAppId == "1400006666" and request.SignName == "分销系统" and request.TemplateId == "449739"
    assert request.TemplateParamSet == ["042917"]
    assert client.region == "ap-nanjing" and client.profile.httpProfile.endpoint == "sms.tencentcloudapi.com"


def test_tencent_template_params_in_order(tencent_calls):
    tencent(template_params=("code", "minutes")).send_code("13911112222", "042917", 5)
    assert tencent_calls[0][1].TemplateParamSet == ["042917", "5"]


def test_tencent_refusal_and_errors_are_send_errors(tencent_calls):
    tencent_calls.answer = lambda request: tencent_answer(code="LimitExceeded.PhoneNumberDailyLimit")
    with pytest.raises(SmsSendError, match="LimitExceeded.PhoneNumberDailyLimit"):
        tencent().send_code("13911112222", "042917", 5)

    def broken(request):
        raise TencentCloudSDKException("AuthFailure.SecretIdNotFound", "The SecretId is not found")

    tencent_calls.answer = broken
    with pytest.raises(SmsSendError, match="TencentCloudSDKException"):
        tencent().send_code("13911112222", "042917", 5)


def test_console_sender_delivers_nothing_and_may_show_the_code(caplog):
    sender = ConsoleSender()
    with caplog.at_level("WARNING", logger="distweb.sms"):
        assert sender.send_code("13911112222", "042917", 5) is None
    assert sender.shows_code and "042917" in caplog.text and "139****2222" in caplog.text
    assert "13911112222" not in caplog.text


def test_the_environment_chooses_the_provider(monkeypatch):
    for name in ("DISTWEB_SMS_PROVIDER", "DISTWEB_SMS_TEMPLATE_PARAMS"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(sender_from_config(sms_from_environment()), ConsoleSender)

    monkeypatch.setenv("DISTWEB_SMS_PROVIDER", "aliyun")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAI-test")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "secret-test")
    monkeypatch.setenv("DISTWEB_SMS_SIGN_NAME", "分销系统")
    monkeypatch.setenv("DISTWEB_SMS_TEMPLATE", "SMS_123456789")
    monkeypatch.setenv("DISTWEB_SMS_TEMPLATE_PARAMS", "code, minutes")
    sender = sender_from_config(sms_from_environment())
    assert isinstance(sender, AliyunSender) and not sender.shows_code
    assert (sender.sign_name, sender.template_code, sender.template_params) == (
        "分销系统", "SMS_123456789", ("code", "minutes"))

    monkeypatch.setenv("DISTWEB_SMS_PROVIDER", "Tencent")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKID-test")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", "secret-test")
    monkeypatch.setenv("DISTWEB_SMS_TENCENT_APP_ID", "1400006666")
    sender = sender_from_config(sms_from_environment())
    assert isinstance(sender, TencentSender) and sender.region == "ap-guangzhou" and sender.app_id == "1400006666"


@pytest.mark.parametrize(("config", "message"), [
    ({"SMS_PROVIDER": "twilio"}, "must be one of console, aliyun, tencent"),
    ({"SMS_PROVIDER": "aliyun", "ALIBABA_CLOUD_ACCESS_KEY_ID": "x"},
     "needs ALIBABA_CLOUD_ACCESS_KEY_SECRET, DISTWEB_SMS_SIGN_NAME, DISTWEB_SMS_TEMPLATE"),
    ({"SMS_PROVIDER": "tencent", "TENCENTCLOUD_SECRET_ID": "x", "TENCENTCLOUD_SECRET_KEY": "y",
      "SMS_SIGN_NAME": "s", "SMS_TEMPLATE": "1"}, "needs DISTWEB_SMS_TENCENT_APP_ID"),
    ({"SMS_PROVIDER": "console", "SMS_TEMPLATE_PARAMS": "code,name"}, "unknown name"),
])
def test_a_provider_that_cannot_work_stops_the_start(config, message):
    with pytest.raises(ValueError, match=message):
        check_config(config)

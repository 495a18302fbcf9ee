"""The provider contract: adapting user objects, and recognising a refused login.

``is_auth_failure`` here on exceptions built by hand (chains, loops); on real refusals by the
local server, through every driver: tests/integration/credentials/test_contract.py.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest

from aurora_ssl.credentials import (
    CredentialsError,
    CredentialTarget,
    PasswordProvider,
    as_provider,
    is_auth_failure,
)

TARGET = CredentialTarget("demo.cluster-abc.us-east-1.rds.amazonaws.com", 5432, "app")
SECRET = "S3cret-Value-Do-Not-Show"


# -- as_provider ------------------------------------------------------------------------------


def no_arguments() -> str:
    return "from-no-arguments"


def with_target(target: CredentialTarget) -> str:
    return f"{target.user}@{target.host}:{target.port}"


class Fixed:
    def __init__(self) -> None:
        self.invalidated: list[CredentialTarget] = []

    def password(self, target: CredentialTarget) -> str:
        return "fixed"

    async def password_async(self, target: CredentialTarget) -> str:
        return "fixed-async"

    def invalidate(self, target: CredentialTarget) -> None:
        self.invalidated.append(target)


@pytest.fixture
def provider_module(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("creds_test_module")
    module.no_arguments = no_arguments  # type: ignore[attr-defined]
    module.with_target = with_target  # type: ignore[attr-defined]
    module.instance = Fixed()  # type: ignore[attr-defined]
    module.Fixed = Fixed  # type: ignore[attr-defined]
    module.text = "not a provider"  # type: ignore[attr-defined]
    module.number = 42  # type: ignore[attr-defined]
    module.namespace = types.SimpleNamespace(inner=with_target)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "creds_test_module", module)
    return "creds_test_module"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("creds_test_module:no_arguments", "from-no-arguments"),
        ("creds_test_module.no_arguments", "from-no-arguments"),
        ("creds_test_module:with_target", "app@demo.cluster-abc.us-east-1.rds.amazonaws.com:5432"),
        (
            "creds_test_module:namespace.inner",
            "app@demo.cluster-abc.us-east-1.rds.amazonaws.com:5432",
        ),
        ("creds_test_module:instance", "fixed"),
        (" creds_test_module:instance ", "fixed"),
    ],
)
def test_as_provider_resolves_strings(provider_module: str, spec: str, expected: str) -> None:
    provider = as_provider(spec)
    assert isinstance(provider, PasswordProvider)
    assert provider.password(TARGET) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("creds_test_module:text", "is a str; expected a provider object"),
        ("creds_test_module:number", "is a int"),
        ("creds_test_module:Fixed", "is a class; give an instance"),
        ("creds_test_module:missing", "has no attribute 'missing'.*'package.module:attribute'"),
        ("no_such_module_xyz:thing", "No module named 'no_such_module_xyz'.*from sys.path"),
        ("justaname", "cannot import module .*'package.module:attribute'"),
        (":thing", "cannot import module .*'package.module:attribute'"),
        ("creds_test_module:", "is a module; expected a provider object"),
    ],
)
def test_as_provider_refuses_bad_strings(provider_module: str, spec: str, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        as_provider(spec)


def test_as_provider_keeps_providers_and_adapts_callables() -> None:
    fixed = Fixed()
    assert as_provider(fixed) is fixed
    assert as_provider(no_arguments).password(TARGET) == "from-no-arguments"
    assert as_provider(lambda t: t.user).password(TARGET) == "app"
    assert as_provider(lambda *args: str(len(args))).password(TARGET) == "1"
    assert as_provider(lambda target=None: str(target is TARGET)).password(TARGET) == "True"

    class CallableObject:
        def __call__(self) -> str:
            return "object"

    assert as_provider(CallableObject()).password(TARGET) == "object"
    assert asyncio.run(as_provider(with_target).password_async(TARGET)).startswith("app@")


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (None, "is a NoneType; expected a provider object"),
        (42, "is a int"),
        (lambda a, b: "x", "must take no argument or exactly one"),
        (lambda *, key: "x", "must take no argument or exactly one"),
    ],
)
def test_as_provider_refuses_other_objects(obj: object, message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        as_provider(obj)


def test_async_functions_are_refused_with_the_alternative() -> None:
    async def fetch() -> str:
        return "x"

    with pytest.raises(CredentialsError, match="async function; give a plain function"):
        as_provider(fetch)


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda: None, "returned a NoneType"),
        (lambda: "", "returned an empty string"),
        (lambda: b"bytes", "returned a bytes"),
    ],
)
def test_a_bad_return_value_is_named_not_shown(function: Callable[[], Any], message: str) -> None:
    with pytest.raises(CredentialsError, match=message) as info:
        as_provider(function).password(TARGET)
    assert "demo.cluster-abc" in str(info.value)


def test_a_failing_function_never_leaks_its_message() -> None:
    def leaky() -> str:
        raise ValueError(f"vault said no to password {SECRET}")

    with pytest.raises(CredentialsError) as info:
        as_provider(leaky).password(TARGET)
    assert SECRET not in str(info.value)
    assert "ValueError" in str(info.value)
    assert "leaky" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)  # kept for the traceback


def test_the_callable_runs_off_the_event_loop() -> None:
    import threading

    seen: list[threading.Thread] = []

    def record() -> str:
        seen.append(threading.current_thread())
        return "x"

    async def main() -> str:
        return await as_provider(record).password_async(TARGET)

    assert asyncio.run(main()) == "x"
    assert seen
    assert seen[0] is not threading.main_thread()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"host": "", "port": 5432, "user": "app"}, "needs the endpoint host name"),
        ({"host": "h", "port": "5432", "user": "app"}, "port must be an int from 1 to 65535"),
        ({"host": "h", "port": True, "user": "app"}, "port must be an int from 1 to 65535"),
        ({"host": "h", "port": 0, "user": "app"}, "port must be an int from 1 to 65535, got 0"),
        ({"host": "h", "port": 5432, "user": ""}, "needs a database user"),
    ],
)
def test_credential_target_is_checked(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(CredentialsError, match=message):
        CredentialTarget(**kwargs)


# -- is_auth_failure --------------------------------------------------------------------------


def test_is_auth_failure_follows_chains_without_looping() -> None:
    class CodedError(Exception):
        sqlstate = "28P01"

    outer = RuntimeError("wrapper")
    outer.__cause__ = CodedError()
    assert is_auth_failure(outer)
    looped = RuntimeError("a")
    other = RuntimeError("b")
    looped.__context__ = other
    other.__context__ = looped
    assert not is_auth_failure(looped)


def test_importing_the_package_does_not_import_botocore() -> None:
    import subprocess

    code = "import sys, aurora_ssl.credentials; print('botocore' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_async_callable_objects_are_refused_too() -> None:
    class AsyncCallable:
        async def __call__(self) -> str:
            return "x"

    with pytest.raises(CredentialsError, match="async function"):
        as_provider(AsyncCallable())

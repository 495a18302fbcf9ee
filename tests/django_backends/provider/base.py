"""What a user writes for IAM tokens or a secret store: override ``get_connection_params``.

The password is not in ``DATABASES``; the subclass fetches it for every new connection
(here from ``settings_dict["TEST_PASSWORD_SOURCE"]``, standing in for a token call).
"""

from __future__ import annotations

from typing import Any

from django_aurora_ssl.backends.postgresql.base import DatabaseWrapper as AuroraWrapper

#: How many times the provider ran (a test reads it to see the subclass was used).
calls: list[str] = []


class DatabaseWrapper(AuroraWrapper):  # type: ignore[misc]
    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = super().get_connection_params()
        calls.append(self.alias)
        params["password"] = self.settings_dict["TEST_PASSWORD_SOURCE"]()
        return params

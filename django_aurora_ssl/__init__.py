"""Django integration of aurora-ssl: database backends, system checks, ``check_aurora_ssl``."""

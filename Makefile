# The README's two commands. Both create .venv and install aurora-ssl[test] on first use.
.PHONY: demo test

demo:  ## the main job: local Aurora-like TLS server, Django + SQLAlchemy over verify-full, one refusal
	bash scripts/demo.sh

test:  ## ruff, mypy, pytest against real PostgreSQL over real TLS
	bash scripts/test.sh

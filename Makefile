# Two commands for a newcomer: `make run` and `make test`. Both create or reuse .venv and
# install pinned versions from requirements.lock (Docker installs from the same file).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint bench lock clean sandbox

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

# .env (if present) supplies DISCORD_TOKEN and VGBOT_* settings; see .env.example.
# With a token the bot connects to Discord; without one the local sandbox starts. (`vgbot run`
# itself refuses to start without a token, so a misconfigured service fails loudly.)
run: $(STAMP)
	@set -a; [ ! -f .env ] || . ./.env; set +a; \
	if [ -n "$$DISCORD_TOKEN$$VGBOT_TOKEN$$VGBOT_TOKEN_FILE" ]; then exec $(BIN)/vgbot run; \
	else exec $(BIN)/vgbot sandbox; fi

sandbox: $(STAMP)
	$(BIN)/vgbot sandbox

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench

check: lint
	$(BIN)/mypy bot
	$(BIN)/vgbot content check

# Two workers: the suite is mostly waiting on loopback and subprocesses, and CI has 2 cores.
test: check
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

# Re-pin after changing dependencies in pyproject.toml.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --disable-pip-version-check '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude vgbot > requirements.lock
	# soupsieve 3+ needs Python 3.11.5 (Debian 12 has 3.11.2): older 3.11s get 2.10, the last
	# release for them. tests/deploy/test_lock.py checks every pin against the oldest 3.11s.
	sed -i 's/^soupsieve==\(.*\)$$/soupsieve==\1; python_full_version >= "3.11.5"\nsoupsieve==2.10; python_full_version < "3.11.5"/' requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# The two commands README.md gives: `make run` and `make test`. Both build the virtual
# environment from the lock file first, so a fresh machine needs nothing else.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint demo bench signals-model mutation clean

$(STAMP): pyproject.toml requirements.lock
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/haven run $(ARGS)

# One pytest-xdist worker per core; a test module stays on one worker, so its module-scoped
# fixtures (a trained model, a rendered bundle) are made once. ARGS="-n 0" runs in one process.
test: $(STAMP)
	$(BIN)/pytest -n auto --dist loadscope $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: $(STAMP)
	$(BIN)/haven demo

# The danger-signal classifier's weights, trained from bot/content/signals-corpus/ (run it
# after changing the corpus; tests fail while the stored weights are stale).
signals-model: $(STAMP)
	$(BIN)/python -m bot.conversation.signal_training

bench: $(STAMP)
	$(BIN)/python bench/journey.py
	$(BIN)/python bench/telegram.py
	$(BIN)/python bench/search.py
	$(BIN)/python bench/slack.py
	$(BIN)/python bench/web.py
	$(BIN)/python bench/report.py
	$(BIN)/python bench/signals.py

# Mutation testing, on demand (never in CI): tests/mutation/modules.toml lists the modules
# and their tests; tests/mutation/equivalent.md the survivors judged equivalent.
mutation: $(STAMP)
	$(BIN)/python -m tests.mutation.run $(ARGS)

clean:
	rm -rf $(VENV)

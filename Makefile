# Two commands do all the set-up on a fresh machine:
#   make demo   - install what is missing, then run a simulated lane (edge + lock stubs), URLs printed
#   make test   - install what is missing, then run the whole test suite
# Everything lives in .venv; system packages (mosquitto, chromium) come from Debian when absent.

PY ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test setup clean

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/kouan demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis

# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv first when it is missing (scripts/install.sh).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench clean

$(STAMP): scripts/install.sh constraints.txt setup.py
	bash scripts/install.sh
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	bash recipes/quickstart.sh

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) tests/benchmarks/bench_throughput.py --dims tiny --tokens-per-sample 512
	$(PY) tests/benchmarks/bench_throughput.py --dims base --tokens-per-sample 128 --updates-per-round 3
	$(PY) tests/benchmarks/bench_preprocess.py
	$(PY) tests/benchmarks/bench_wikitext.py --step --synthetic 2000

clean:
	rm -rf runs

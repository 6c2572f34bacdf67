# The two commands of the README. Both create or reuse .venv and install only what is missing.
.PHONY: run test quick
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
# Quick loop without the browser tests.
quick:
	bash scripts/test.sh -m "not e2e"

# The two commands of the README:
#   make run    start Lambda locally on embedded defaults
#   make test   build and run the test suite
# Both install what the build needs first (deploy/bootstrap.sh).

CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: run test test-slow lint bootstrap bench

bootstrap:
	@./deploy/bootstrap.sh

run: bootstrap
	$(CARGO) run --locked --bin lambda-db -- start

test: bootstrap
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --locked --workspace --no-fail-fast
else
	$(CARGO) test --locked --workspace --no-fail-fast
endif
	$(CARGO) test --locked --workspace --doc

# Long multi-process suites (chaos, soaks): marked #[ignore] so `make test`
# stays fast; this runs only them.
test-slow: bootstrap
	$(CARGO) test --locked --workspace -- --ignored --test-threads 1

lint: bootstrap
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

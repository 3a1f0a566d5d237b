# The two commands of README.md: `make run` and `make test`. Both install what they need into
# .venv (from the requirements files) the first time, and again when those files change.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint typecheck unit bench clean package deploy

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@$(BIN)/python -m localdev.run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Every core runs tests (pytest-xdist); a file's tests stay together on one worker, which keeps
# its module fixtures (the README's runner) whole. PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= auto

test: lint typecheck
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile

# The deployable stack for stage prod, offline: build/sam.json (Chalice's functions, one IAM role
# each, merged with infra/template.yaml and the API Gateway responses) and build/deployment.zip
# (with bytecode). Prints the zip's size. tests/unit/test_package.py builds and checks the same.
BUILD ?= build

package: $(STAMP)
	$(BIN)/python -m infra.package $(BUILD)
	$(BIN)/cfn-lint $(BUILD)/sam.json

# Never run in CI: needs AWS credentials, an S3 bucket for the code (DEPLOY_BUCKET) and the SSM
# parameters of README.md's "Deploying" section.
STACK ?= office-chat-prod
DEPLOY_BUCKET ?=

deploy: package
	@test -n "$(DEPLOY_BUCKET)" || { echo "make deploy DEPLOY_BUCKET=<an S3 bucket of yours for the code>"; exit 2; }
	$(BIN)/aws cloudformation package --template-file $(BUILD)/sam.json \
		--s3-bucket $(DEPLOY_BUCKET) --output-template-file $(BUILD)/packaged.yaml
	$(BIN)/aws cloudformation deploy --template-file $(BUILD)/packaged.yaml --stack-name $(STACK) \
		--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND

bench: $(STAMP)
	$(BIN)/python bench/requests.py
	$(BIN)/python bench/delete_bench.py
	$(BIN)/python bench/purge_bench.py
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(BUILD)

# Two commands matter: `make run` (a local skill on an offline demo catalog) and `make test`.
# Everything they need is installed from this repository's files; nothing by hand.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS := $(VENV)/.deps-installed
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_DEPS := $(SAM_VENV)/.deps-installed
NODE_DEPS := node_modules/.package-lock.json
PORT ?= 3000

ARCH ?= x86_64

.PHONY: run test unit lint format package deploy faults bench tools invoke init-db load-artists export-entity related clean

$(DEPS): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_DEPS): requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

$(NODE_DEPS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# Java for DynamoDB Local, and a MariaDB server where no MySQL is reachable (see the script).
tools:
	bash devtools/ensure-tools.sh

run: $(DEPS)
	$(PY) -m devtools.local_gateway --port $(PORT)

# Lint and package first: a template SAM rejects or a zip that cannot be built fails CI too.
test: lint package $(NODE_DEPS) tools
	$(PY) -m pytest

unit: $(DEPS)
	$(PY) -m pytest tests/unit

# The fault matrix as a table: fault(s) -> answers valid / within budget / max latency / store.
faults: $(DEPS) $(NODE_DEPS) tools
	$(PY) -m devtools.fault_matrix

# Latency and Spotify calls per answer against the real servers (see README "Performance"),
# and the cold start of the zip `make package` just built (bench/README.md).
bench: package $(DEPS) $(NODE_DEPS) tools
	$(PY) -m bench.run

# `sam local invoke -e` without Docker: prints the Kakao JSON answer to one event file.
EVENT ?= events/solo.json
invoke: $(DEPS)
	$(PY) -m devtools.invoke $(EVENT)

lint: $(DEPS) $(SAM_DEPS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m devtools.function_budget
	$(VENV)/bin/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml

# dist/lambda.zip for the Lambda console and `sam deploy`; ARCH=arm64 for Graviton. Node runs
# Pyodide's CPython 3.12 (package.json) to compile the dependencies for the runtime's Python.
package: $(DEPS) $(NODE_DEPS)
	$(PY) -m devtools.package --arch $(ARCH)

# The stack on AWS (README "Deploy"): the zip, then `sam deploy` with samconfig.toml's defaults.
# First time: `make deploy GUIDED=1` asks for every parameter and can save the answers; answer
# "-" to leave an optional one empty. No `sam build`: the template deploys dist/lambda.zip as it
# is (with ARCH=arm64, the stack's Architecture parameter must be arm64 too).
GUIDED ?=
deploy: package $(SAM_DEPS)
	$(SAM) deploy --template-file template.yaml $(if $(filter 1 yes true,$(GUIDED)),--guided)

format: $(DEPS)
	$(VENV)/bin/ruff format .

# Operator commands against the MySQL / DynamoDB named by MYSQL_* and DYNAMODB_TABLE.
init-db: $(DEPS)
	$(PY) -m devtools.admin init-db

load-artists: $(DEPS)
	$(PY) -m devtools.admin load-artists data/artists.csv

# Every artist name the bot knows, as an entity CSV for OpenBuilder (README "오픈빌더 연결").
ENTITY ?= artists-entity.csv
export-entity: $(DEPS)
	$(PY) -m devtools.admin export-entity $(ENTITY)

# The ranked related artists the store gives NAME, each source's share: make related NAME=아이유
NAME ?= 아이유
related: $(DEPS)
	$(PY) -m devtools.related "$(NAME)"

clean:
	rm -rf $(VENV) $(SAM_VENV) node_modules dist build .aws-sam .pytest_cache .ruff_cache .hypothesis

